// `tandem score --model M --tokens t0,t1,...,tn [--top 10]`: teacher-forced scoring. Prints one
// JSON array of n rows; row j lists the top tokens [{"id":..,"logprob":..}, ...] (best first,
// natural log) of the distribution of token j+1 given tokens 0..j.
#include "app/subcommands.h"
#include "app/token_list.h"
#include "engine/engine.h"
#include "engine/gguf.h"
#include "engine/model_config.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

namespace tandem::app {
namespace {

struct ScoreOptions {
  std::string model;
  std::string tokens;
  size_t top = 10;
  int threads = 1;
};

void run_score(const ScoreOptions& options) {
  try {
    auto ids = parse_token_list(options.tokens);
    if (ids.size() < 2) throw std::invalid_argument("--tokens: need at least 2 token ids");
    auto file = std::make_shared<const engine::GgufFile>(engine::GgufFile::open(options.model));
    engine::ModelLoadOptions load_options;
    load_options.threads = options.threads;
    auto model = engine::Model::load(file, engine::read_model_config(*file), load_options);
    engine::EngineConfig config;
    config.kv_tokens = static_cast<uint32_t>(ids.size());
    config.context_size = std::max<uint32_t>(model->config().context_length, static_cast<uint32_t>(ids.size()));
    engine::Engine engine(*model, nullptr, config);
    auto rows = engine.score(ids, options.top);
    std::string out = "[";
    char number[64];
    for (size_t j = 0; j < rows.size(); ++j) {
      out += j ? ",\n [" : "\n [";
      for (size_t i = 0; i < rows[j].top.size(); ++i) {
        std::snprintf(number, sizeof number, "%s{\"id\":%d,\"logprob\":%.6f}", i ? ", " : "", rows[j].top[i].id,
                      static_cast<double>(rows[j].top[i].logprob));
        out += number;
      }
      out += "]";
    }
    out += "\n]\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  } catch (const std::exception& e) {
    std::cerr << "tandem score: " << e.what() << '\n';
    throw CLI::RuntimeError(1);
  }
}

void setup_score(CLI::App& parent) {
  auto options = std::make_shared<ScoreOptions>();
  auto* cmd = parent.add_subcommand("score", "Teacher-forced top-N logprobs of a token sequence");
  cmd->add_option("--model,-m", options->model, "GGUF model file")->required();
  cmd->add_option("--tokens", options->tokens, "Token ids t0,t1,...,tn")->required();
  cmd->add_option("--top", options->top, "Alternatives per position")->check(CLI::Range(1, 1000));
  cmd->add_option("--threads,-t", options->threads, "OpenBLAS threads")->check(CLI::Range(1, 256));
  cmd->callback([options] { run_score(*options); });
}

TANDEM_SUBCOMMAND(setup_score)

}  // namespace
}  // namespace tandem::app
