#include "app/api/model_loading.h"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace tandem::api {

std::string model_id_from_path(const std::string& path) {
  std::filesystem::path file(path);
  std::string name = file.filename().string();
  if (name.size() > 5 && name.ends_with(".gguf")) name.resize(name.size() - 5);
  return name;
}

uint32_t effective_context(int ctx_size, uint32_t trained_context) {
  if (trained_context == 0) return ctx_size > 0 ? static_cast<uint32_t>(ctx_size) : 4096;
  if (ctx_size <= 0) return trained_context;
  return std::min(static_cast<uint32_t>(ctx_size), trained_context);
}

std::shared_ptr<engine::LoadedModel> load_local_model(const std::string& path, int threads) {
  try {
    if (!std::filesystem::exists(path)) throw std::runtime_error("no such file");
    engine::ModelLoadOptions options;
    options.threads = threads;
    return engine::LoadedModel::load(path, options, [](const std::string& line) { spdlog::info("{}", line); });
  } catch (const std::exception& e) {
    throw ModelLoadError("cannot load model '" + path + "': " + e.what());
  }
}

}  // namespace tandem::api
