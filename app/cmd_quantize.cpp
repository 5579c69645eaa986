// `tandem quantize IN.gguf OUT.gguf TYPE [--threads N]`: rewrites a model with its matrices
// quantized the way llama-quantize does (same per-tensor types, same bytes), so benchmarks and
// users can make any shape in any of Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M.
#include "app/subcommands.h"
#include "engine/quantize_model.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>

namespace tandem::app {
namespace {

struct QuantizeOptions {
  std::string in, out, type;
  int threads = 0;
  bool verbose = false;
};

void run(const QuantizeOptions& options) {
  const auto target = engine::parse_quantize_target(options.type);
  if (!target)
    throw engine::GgufError("unknown type '" + options.type + "' (" + engine::quantize_target_names() + ")");
  const auto start = std::chrono::steady_clock::now();
  const engine::QuantizeResult result = engine::quantize_model(options.in, options.out, *target, options.threads);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::map<std::string, int> counts;
  for (const auto& t : result.tensors) {
    ++counts[std::string(engine::ggml_type_name(t.to))];
    if (options.verbose)
      std::cout << t.name << ": " << engine::ggml_type_name(t.from) << " -> " << engine::ggml_type_name(t.to) << "\n";
  }
  std::string mix;
  for (const auto& [type, n] : counts) mix += (mix.empty() ? "" : ", ") + std::to_string(n) + " " + type;
  char line[160];
  std::snprintf(line, sizeof line, "%.1f MiB -> %.1f MiB in %.1f s", static_cast<double>(result.bytes_in) / 1048576.0,
                static_cast<double>(result.bytes_out) / 1048576.0, seconds);
  std::cout << "wrote " << options.out << " (" << options.type << ": " << mix << " tensors; " << line << ")\n";
}

void setup_quantize(CLI::App& parent) {
  auto options = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "quantize", "Quantize a GGUF model with llama-quantize's per-tensor rules (" +
                      engine::quantize_target_names() + ")");
  cmd->add_option("in", options->in, "Input .gguf (F32, F16, BF16 or quantized)")->required()->check(CLI::ExistingFile);
  cmd->add_option("out", options->out, "Output .gguf")->required();
  cmd->add_option("type", options->type, "Target type or mix")->required();
  cmd->add_option("-t,--threads", options->threads, "Threads (default: all cores)");
  cmd->add_flag("-v,--verbose", options->verbose, "List every tensor's type");
  cmd->callback([options] {
    try {
      run(*options);
    } catch (const std::exception& e) {
      std::cerr << "quantize: " << e.what() << "\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace

TANDEM_SUBCOMMAND(setup_quantize)

}  // namespace tandem::app
