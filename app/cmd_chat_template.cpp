// `tandem chat-template (--model FILE.gguf | --template FILE.jinja) --messages FILE.json
//   [--bos-token S] [--eos-token S] [--no-generation-prompt] [--tools FILE.json]
//   [--context FILE.json] [--date YYYY-MM-DD]`
// prints the prompt the chat template renders, exactly (no newline added). With --model the
// template is the GGUF's tokenizer.chat_template (ChatML when it has none) and the BOS/EOS texts
// come from its vocabulary. A template error prints the template's message and exits 1.
// --date pins the day strftime_now() sees (templates such as Llama 3's print "Today Date"), so a
// rendering can be reproduced on any day and in any time zone; without it, today's date.
#include "app/subcommands.h"
#include "engine/chat_template.h"
#include "engine/gguf.h"

#include <boost/json.hpp>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

namespace tandem::app {
namespace {

struct ChatTemplateOptions {
  std::string model;
  std::string template_file;
  std::string messages_file;
  std::string tools_file;
  std::string context_file;
  std::string date;
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  bool no_generation_prompt = false;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

boost::json::value read_json(const std::string& path) {
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(read_text(path), error);
  if (error) throw std::runtime_error(path + ": invalid JSON: " + error.message());
  return value;
}

// The text of the special token whose id is stored under `id_key`, if the vocabulary has it.
std::optional<std::string> special_token(const engine::GgufFile& file,
                                         const std::optional<std::vector<std::string>>& tokens,
                                         const char* id_key) {
  auto id = file.get_int(id_key);
  if (!id || !tokens || *id < 0 || static_cast<size_t>(*id) >= tokens->size()) return std::nullopt;
  return (*tokens)[static_cast<size_t>(*id)];
}

void run_chat_template(const ChatTemplateOptions& options) {
  engine::ChatTemplateInput input;
  std::string source;
  try {
    if (!options.model.empty()) {
      const auto file = engine::GgufFile::open(options.model);
      if (auto embedded = file.get_string("tokenizer.chat_template")) {
        source = *embedded;
      } else {
        std::cerr << "tandem chat-template: " << options.model
                  << " has no tokenizer.chat_template; using ChatML\n";
        source = engine::ChatTemplate::chatml_source();
      }
      auto tokens = file.get_string_array("tokenizer.ggml.tokens");
      input.bos_token = special_token(file, tokens, "tokenizer.ggml.bos_token_id").value_or("");
      input.eos_token = special_token(file, tokens, "tokenizer.ggml.eos_token_id").value_or("");
    } else {
      source = read_text(options.template_file);
    }
    if (options.bos_token) input.bos_token = *options.bos_token;
    if (options.eos_token) input.eos_token = *options.eos_token;

    // Either a bare message array or a request-like object {"messages": [...], "tools": [...]}.
    boost::json::value messages = read_json(options.messages_file);
    if (messages.is_object()) {
      const auto& request = messages.as_object();
      if (const auto* tools = request.if_contains("tools")) input.tools = *tools;
      if (!request.contains("messages")) throw std::runtime_error(options.messages_file + ": no \"messages\" array");
      messages = request.at("messages");
    }
    if (!messages.is_array()) throw std::runtime_error(options.messages_file + ": messages must be a JSON array");
    input.messages = messages;
    if (!options.tools_file.empty()) input.tools = read_json(options.tools_file);
    if (!options.context_file.empty()) {
      boost::json::value context = read_json(options.context_file);
      if (!context.is_object()) throw std::runtime_error(options.context_file + ": context must be a JSON object");
      input.extra_context = context.as_object();
    }
    input.add_generation_prompt = !options.no_generation_prompt;
    if (!options.date.empty()) {
      try {
        input.now = engine::parse_template_date(options.date);
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error(std::string("--date: ") + e.what());
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "tandem chat-template: " << e.what() << '\n';
    throw CLI::RuntimeError(1);
  }

  try {
    engine::ChatTemplate chat_template(source);
    std::cout << chat_template.render(input) << std::flush;
  } catch (const engine::TemplateError& e) {
    std::cerr << e.what() << '\n';
    throw CLI::RuntimeError(1);
  }
}

void setup_chat_template(CLI::App& parent) {
  auto options = std::make_shared<ChatTemplateOptions>();
  auto* cmd = parent.add_subcommand("chat-template", "Render a chat template for a message list");
  auto* model = cmd->add_option("--model,-m", options->model, "GGUF model: use its tokenizer.chat_template");
  auto* tmpl = cmd->add_option("--template", options->template_file, "Jinja chat template file");
  model->excludes(tmpl);
  tmpl->excludes(model);
  cmd->add_option("--messages", options->messages_file,
                  "JSON file: a message array, or an object with \"messages\" (and \"tools\")")
      ->required();
  cmd->add_option("--tools", options->tools_file, "JSON file: the tools array");
  cmd->add_option("--context", options->context_file,
                  "JSON file: extra template variables, e.g. {\"enable_thinking\": false}");
  cmd->add_option("--date", options->date,
                  "Day strftime_now() sees, YYYY-MM-DD (default: today, local time)");
  cmd->add_option("--bos-token", options->bos_token, "BOS token text (default: the model's)");
  cmd->add_option("--eos-token", options->eos_token, "EOS token text (default: the model's)");
  cmd->add_flag("--no-generation-prompt", options->no_generation_prompt,
                "Render without the assistant generation prompt");
  cmd->callback([options] {
    if (options->model.empty() && options->template_file.empty()) {
      throw CLI::RequiredError("--model or --template");
    }
    run_chat_template(*options);
  });
}

TANDEM_SUBCOMMAND(setup_chat_template)

}  // namespace
}  // namespace tandem::app
