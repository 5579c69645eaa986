// Everything the server loads for one model: the mapped GGUF, its config, weights, tokenizer and
// chat template, plus prompt rendering/tokenization the way llama.cpp's server does it.
#pragma once

#include "engine/chat_template.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/model_config.h"
#include "engine/tokenizer.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tandem::engine {

class LoadedModel {
 public:
  using Log = std::function<void(const std::string&)>;

  // Throws GgufError (file, config, tensors, vocabulary). A missing or unparsable chat template
  // falls back to ChatML. `log` receives one-line notes: memory cost of the weights, chat
  // template fallback (with the parse error).
  static std::unique_ptr<LoadedModel> load(const std::string& path, const ModelLoadOptions& options = {},
                                           const Log& log = {});

  const GgufFile& file() const { return *file_; }
  const ModelConfig& config() const { return config_; }
  Model& model() { return *model_; }
  const Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ChatTemplate& chat_template() const { return *template_; }
  bool chat_template_is_fallback() const { return template_is_fallback_; }
  const std::string& bos_text() const { return bos_text_; }
  const std::string& eos_text() const { return eos_text_; }

  // Renders the conversation with the model's template (TemplateError carries the template's
  // own message for raise_exception). `extra_context`: more template variables (enable_thinking).
  std::string render_chat(const boost::json::value& messages, const boost::json::value& tools,
                          bool add_generation_prompt, const boost::json::object& extra_context = {}) const;
  // Tokens of a rendered chat prompt: special-token text parsed; BOS added when the model's
  // add_bos flag says so and the text does not already start with the BOS text.
  std::vector<TokenId> tokenize_chat_prompt(const std::string& rendered) const;
  // Tokens of plain user text (completions API, --raw): no special-token parsing; BOS per the
  // model's add_bos flag.
  std::vector<TokenId> tokenize_text(const std::string& text) const;

 private:
  LoadedModel() = default;
  std::shared_ptr<const GgufFile> file_;
  ModelConfig config_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ChatTemplate> template_;
  bool template_is_fallback_ = false;
  std::string bos_text_, eos_text_;
};

}  // namespace tandem::engine
