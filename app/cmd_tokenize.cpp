// `tandem tokenize --model FILE.gguf --text TEXT [--no-bos] [--special]`: prints the token ids
// of TEXT, space-separated on one line, as the model's tokenizer produces them.
#include "app/subcommands.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"

#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

namespace tandem::app {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  bool no_bos = false;
  bool special = false;
};

void run_tokenize(const TokenizeOptions& options) {
  try {
    const auto file = engine::GgufFile::open(options.model);
    const auto tokenizer = engine::Tokenizer::from_gguf(file);
    const bool add_bos = tokenizer->add_bos_default() && !options.no_bos;
    const auto ids = tokenizer->encode(options.text, add_bos, options.special);
    std::string line;
    for (auto id : ids) {
      if (!line.empty()) line += ' ';
      line += std::to_string(id);
    }
    std::cout << line << '\n';
  } catch (const std::exception& e) {
    std::cerr << "tandem tokenize: " << e.what() << '\n';
    throw CLI::RuntimeError(1);
  }
}

void setup_tokenize(CLI::App& parent) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* cmd = parent.add_subcommand("tokenize", "Print the token ids of a text for a GGUF model");
  cmd->add_option("--model,-m", options->model, "GGUF model or vocabulary file")->required();
  cmd->add_option("--text,-t", options->text, "Text to tokenize")->required();
  cmd->add_flag("--no-bos", options->no_bos, "Do not add BOS even if the model asks for it");
  cmd->add_flag("--special", options->special,
                "Parse special-token text such as <|im_end|> into control tokens");
  cmd->callback([options] { run_tokenize(*options); });
}

TANDEM_SUBCOMMAND(setup_tokenize)

}  // namespace
}  // namespace tandem::app
