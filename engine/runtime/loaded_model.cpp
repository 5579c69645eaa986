#include "engine/loaded_model.h"

namespace tandem::engine {

std::unique_ptr<LoadedModel> LoadedModel::load(const std::string& path, const ModelLoadOptions& options,
                                               const Log& log) {
  std::unique_ptr<LoadedModel> m(new LoadedModel());
  m->file_ = std::make_shared<const GgufFile>(GgufFile::open(path));
  m->config_ = read_model_config(*m->file_);
  m->tokenizer_ = Tokenizer::from_gguf(*m->file_);
  if (m->tokenizer_->vocab_size() != m->config_.n_vocab)
    throw GgufError("model: the vocabulary has " + std::to_string(m->tokenizer_->vocab_size()) +
                    " tokens but token_embd.weight has " + std::to_string(m->config_.n_vocab) + " rows");
  m->model_ = Model::load(m->file_, m->config_, options);
  if (log) log(path + ": " + m->model_->load_report().summary());

  if (auto source = m->file_->get_string("tokenizer.chat_template"); source && !source->empty()) {
    try {
      m->template_ = std::make_unique<ChatTemplate>(*source);
    } catch (const TemplateError& e) {
      // A template our Jinja subset cannot parse should not make the model unusable.
      m->template_ = std::make_unique<ChatTemplate>(ChatTemplate::chatml_source());
      m->template_is_fallback_ = true;
      if (log) log(path + ": warning: tokenizer.chat_template does not parse (" + e.what() + "); using ChatML");
    }
  } else {
    m->template_ = std::make_unique<ChatTemplate>(ChatTemplate::chatml_source());
    m->template_is_fallback_ = true;
    if (log) log(path + ": no tokenizer.chat_template in the file; using ChatML");
  }
  const Tokenizer& tok = *m->tokenizer_;
  if (tok.bos_id() >= 0) m->bos_text_ = tok.token_text(tok.bos_id());
  if (tok.eos_id() >= 0) m->eos_text_ = tok.token_text(tok.eos_id());
  return m;
}

std::string LoadedModel::render_chat(const boost::json::value& messages, const boost::json::value& tools,
                                     bool add_generation_prompt, const boost::json::object& extra_context) const {
  ChatTemplateInput input;
  input.extra_context = extra_context;
  input.messages = messages;
  input.tools = tools;
  input.add_generation_prompt = add_generation_prompt;
  input.bos_token = bos_text_;
  input.eos_token = eos_text_;
  return template_->render(input);
}

std::vector<TokenId> LoadedModel::tokenize_chat_prompt(const std::string& rendered) const {
  // Templates that write {{ bos_token }} themselves would otherwise get a second BOS.
  const bool starts_with_bos = !bos_text_.empty() && rendered.rfind(bos_text_, 0) == 0;
  return tokenizer_->encode(rendered, tokenizer_->add_bos_default() && !starts_with_bos, true);
}

std::vector<TokenId> LoadedModel::tokenize_text(const std::string& text) const {
  return tokenizer_->encode(text, tokenizer_->add_bos_default(), false);
}

}  // namespace tandem::engine
