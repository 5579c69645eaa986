// `tandem generate --model M --prompt P -n N [--temp T --seed S] [--raw | --tokens 1,2,3]`:
// runs the engine on one prompt, streaming the generated text to stdout; speed goes to stderr.
// The prompt goes through the model's chat template unless --raw (plain text, BOS per the
// model's add_bos flag) or --tokens (ids as given).
#include "app/subcommands.h"
#include "app/token_list.h"
#include "engine/engine.h"
#include "engine/loaded_model.h"

#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

namespace tandem::app {
namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  std::string tokens;
  bool raw = false;
  uint32_t n = 128;
  float temperature = 0.0f;
  float top_p = 1.0f;
  int32_t top_k = 0;
  float min_p = 0.0f;
  int64_t seed = -1;
  int threads = 1;
};

void run_generate(const GenerateOptions& options) {
  try {
    engine::ModelLoadOptions load_options;
    load_options.threads = options.threads;
    auto loaded = engine::LoadedModel::load(options.model, load_options,
                                            [](const std::string& line) { std::cerr << line << '\n'; });
    std::vector<engine::TokenId> prompt;
    if (!options.tokens.empty()) {
      prompt = parse_token_list(options.tokens);
    } else if (options.raw) {
      prompt = loaded->tokenize_text(options.prompt);
    } else {
      boost::json::array messages{boost::json::object{{"role", "user"}, {"content", options.prompt}}};
      prompt = loaded->tokenize_chat_prompt(loaded->render_chat(messages, nullptr, true));
    }

    engine::SequenceRequest request;
    request.prompt = prompt;
    request.max_tokens = options.n;
    request.sampling.temperature = options.temperature;
    request.sampling.top_p = options.top_p;
    request.sampling.top_k = options.top_k;
    request.sampling.min_p = options.min_p;
    if (options.seed >= 0) request.sampling.seed = static_cast<uint64_t>(options.seed);

    engine::EngineConfig config;
    config.kv_tokens = static_cast<uint32_t>(prompt.size()) + options.n;
    engine::Engine engine(loaded->model(), &loaded->tokenizer(), config);
    auto added = engine.add(request);
    if (!added.ok()) throw std::runtime_error(added.error);

    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto first_token = start;
    uint32_t generated = 0;
    std::string reason;
    while (engine.has_work()) {
      for (const auto& event : engine.step(512)) {
        if (generated == 0 && !event.tokens.empty()) first_token = clock::now();
        generated = event.completion_tokens;
        std::fwrite(event.text.data(), 1, event.text.size(), stdout);
        std::fflush(stdout);
        if (event.finished) reason = std::string(engine::finish_reason_name(event.reason));
      }
    }
    const auto end = clock::now();
    std::printf("\n");
    const double prefill_s = std::chrono::duration<double>(first_token - start).count();
    const double decode_s = std::chrono::duration<double>(end - first_token).count();
    std::fprintf(stderr, "prompt: %zu tokens, %.1f tok/s; generated: %u tokens, %.1f tok/s; finish: %s\n",
                 prompt.size(), prefill_s > 0 ? prompt.size() / prefill_s : 0.0, generated,
                 decode_s > 0 && generated > 1 ? (generated - 1) / decode_s : 0.0, reason.c_str());
  } catch (const std::exception& e) {
    std::cerr << "tandem generate: " << e.what() << '\n';
    throw CLI::RuntimeError(1);
  }
}

void setup_generate(CLI::App& parent) {
  auto options = std::make_shared<GenerateOptions>();
  auto* cmd = parent.add_subcommand("generate", "Generate text from a prompt with a GGUF model");
  cmd->add_option("--model,-m", options->model, "GGUF model file")->required();
  auto* prompt = cmd->add_option("--prompt,-p", options->prompt, "Prompt (a user message unless --raw)");
  auto* tokens = cmd->add_option("--tokens", options->tokens, "Prompt as token ids: 1,2,3");
  prompt->excludes(tokens);
  cmd->add_flag("--raw", options->raw, "Feed the prompt as plain text, not through the chat template");
  cmd->add_option("-n,--max-tokens", options->n, "Tokens to generate")->check(CLI::Range(1u, 1u << 20));
  cmd->add_option("--temp,--temperature", options->temperature, "Temperature (0 = greedy)")->check(CLI::Range(0.0f, 100.0f));
  cmd->add_option("--top-p", options->top_p, "Top-p")->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--top-k", options->top_k, "Top-k (0 = off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-p", options->min_p, "Min-p")->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--seed", options->seed, "Sampling seed (default random)");
  cmd->add_option("--threads,-t", options->threads, "OpenBLAS threads")->check(CLI::Range(1, 256));
  cmd->callback([options, prompt, tokens] {
    if (prompt->count() == 0 && tokens->count() == 0) {
      std::cerr << "tandem generate: give --prompt or --tokens\n";
      throw CLI::RuntimeError(2);
    }
    run_generate(*options);
  });
}

TANDEM_SUBCOMMAND(setup_generate)

}  // namespace
}  // namespace tandem::app
