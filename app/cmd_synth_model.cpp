// `tandem synth-model`: writes a random-weight llama/qwen2/qwen3 GGUF of any shape, for
// benchmarks and tests (random weights produce gibberish on purpose).
#include "app/subcommands.h"
#include "engine/gguf_writer.h"
#include "engine/loaded_model.h"
#include "engine/quant.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

namespace tandem::app {
namespace {

struct SynthModelOptions {
  std::string out;
  std::string chat_template_file;
  std::string script;
  std::string type = "F32";
  bool untied = false;
  engine::SynthModelSpec spec;
};

engine::GgmlType parse_type(const std::string& name) {
  using engine::GgmlType;
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0}) {
    if (engine::ggml_type_name(t) == name) return t;
  }
  throw engine::GgufError("unknown type '" + name + "' (F32, F16, BF16, Q8_0, Q4_0)");
}

void run(const SynthModelOptions& options) {
  engine::SynthModelSpec spec = options.spec;
  if (!options.chat_template_file.empty()) {
    std::ifstream in(options.chat_template_file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) throw engine::GgufError("cannot read --chat-template '" + options.chat_template_file + "'");
    spec.chat_template = text.str();
  }
  spec.type = parse_type(options.type);
  spec.tied = !options.untied;
  if (!options.script.empty()) {
    // The script's tokens are those of the model's own vocabulary: write the model once, load its
    // tokenizer, then write it again with the script (and the end-of-text token after it).
    engine::write_synthetic_model(spec, options.out);
    auto loaded = engine::LoadedModel::load(options.out);
    const auto& tokenizer = loaded->tokenizer();
    auto tokens = tokenizer.encode(options.script, false, true);
    if (tokenizer.eos_id() >= 0) tokens.push_back(tokenizer.eos_id());
    spec.script.assign(tokens.begin(), tokens.end());
  }
  engine::write_synthetic_model(spec, options.out);
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(options.out, ec);
  std::cout << "wrote " << options.out << " (" << spec.arch << ", dim " << spec.dim << ", "
            << spec.layers << " layers, " << spec.heads << "/" << spec.kv_heads << " heads, ff "
            << spec.ff << ", " << options.type << (ec ? "" : ", " + std::to_string(bytes) + " bytes")
            << ")\n";
}

void setup_synth_model(CLI::App& parent) {
  auto options = std::make_shared<SynthModelOptions>();
  engine::SynthModelSpec& s = options->spec;
  CLI::App* cmd = parent.add_subcommand(
      "synth-model", "Write a random-weight llama/qwen2/qwen3 GGUF model of any shape");
  cmd->add_option("--out", options->out, "Output .gguf file")->required();
  cmd->add_option("--arch", s.arch, "Architecture")
      ->check(CLI::IsMember({"llama", "qwen2", "qwen3"}))
      ->capture_default_str();
  cmd->add_option("--name", s.name, "general.name (default synth-<arch>)");
  cmd->add_option("--dim", s.dim, "Embedding width")->capture_default_str();
  cmd->add_option("--layers", s.layers, "Transformer blocks")->capture_default_str();
  cmd->add_option("--heads", s.heads, "Attention heads")->capture_default_str();
  cmd->add_option("--kv-heads", s.kv_heads, "Key/value heads (GQA)")->capture_default_str();
  cmd->add_option("--head-dim", s.head_dim, "Head dimension (default dim/heads)");
  cmd->add_option("--ff", s.ff, "Feed-forward width")->capture_default_str();
  cmd->add_option("--vocab", s.vocab,
                  "Vocabulary size (default 32000, or the size of --vocab-from's vocabulary)");
  cmd->add_option("--ctx", s.context, "Trained context length")->capture_default_str();
  cmd->add_option("--type", options->type, "Weight type of the matrices")
      ->check(CLI::IsMember({"F32", "F16", "BF16", "Q8_0", "Q4_0"}))
      ->capture_default_str();
  cmd->add_option("--seed", s.seed, "Random seed")->capture_default_str();
  cmd->add_flag("--untied", options->untied, "Write a separate output.weight instead of tying it");
  cmd->add_option("--rope-base", s.rope_base, "RoPE base (default 10000 llama, 1e6 qwen)");
  cmd->add_option("--vocab-from", s.vocab_from, "Copy tokenizer.* metadata from this GGUF")
      ->check(CLI::ExistingFile);
  cmd->add_option("--chat-template", options->chat_template_file,
                  "Write this file's text as tokenizer.chat_template")
      ->check(CLI::ExistingFile);
  cmd->add_option("--script", options->script,
                  "Make a scripted model: whatever the prompt, it writes this text (special tokens parsed) "
                  "and then ends; its tokens must be distinct (for tests of output parsing)");
  cmd->callback([options] {
    try {
      run(*options);
    } catch (const std::exception& e) {
      std::cerr << "synth-model: " << e.what() << "\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace

TANDEM_SUBCOMMAND(setup_synth_model)

}  // namespace tandem::app
