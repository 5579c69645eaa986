#include "app/api/model_loading.h"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace tandem::api {

namespace {

std::string token_text(const engine::Tokenizer& tokenizer, engine::TokenId id) {
  if (id < 0 || static_cast<size_t>(id) >= tokenizer.vocab_size()) return {};
  return tokenizer.token_text(id);
}

}  // namespace

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

std::shared_ptr<actors::LocalModel> load_local_model(const std::string& path, int threads) {
  auto model = std::make_shared<actors::LocalModel>();
  model->path = path;
  try {
    if (!std::filesystem::exists(path)) throw std::runtime_error("no such file");
    model->file = std::make_shared<const engine::GgufFile>(engine::GgufFile::open(path));
    model->config = engine::read_model_config(*model->file);
    engine::ModelLoadOptions options;
    options.threads = threads;
    model->weights = engine::Model::load(model->file, model->config, options);
    model->tokenizer = engine::Tokenizer::from_gguf(*model->file);
  } catch (const std::exception& e) {
    throw ModelLoadError("cannot load model '" + path + "': " + e.what());
  }
  model->bos_token = token_text(*model->tokenizer, model->tokenizer->bos_id());
  model->eos_token = token_text(*model->tokenizer, model->tokenizer->eos_id());

  auto embedded = model->file->get_string("tokenizer.chat_template");
  if (embedded) {
    try {
      model->chat_template = std::make_unique<engine::ChatTemplate>(*embedded);
    } catch (const engine::TemplateError& e) {
      spdlog::warn("model {}: its chat template does not parse ({}); using ChatML", path, e.what());
    }
  } else {
    spdlog::info("model {} has no chat template; chat requests use ChatML", path);
  }
  if (!model->chat_template) {
    model->chat_template = std::make_unique<engine::ChatTemplate>(engine::ChatTemplate::chatml_source());
    model->chat_template_is_fallback = true;
  }
  return model;
}

}  // namespace tandem::api
