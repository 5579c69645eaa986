// A GGUF model loaded for local serving: the file, its description, the weights, the tokenizer
// and the chat template, kept together so one shared pointer keeps them all alive (the scheduler
// runs the weights; HTTP sessions use the tokenizer and template to build prompts).
#pragma once

#include "engine/chat_template.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/model_config.h"
#include "engine/tokenizer.h"

#include <memory>
#include <string>

namespace tandem::actors {

struct LocalModel {
  std::string path;
  std::shared_ptr<const engine::GgufFile> file;
  engine::ModelConfig config;
  std::unique_ptr<engine::Model> weights;
  std::unique_ptr<engine::Tokenizer> tokenizer;
  std::unique_ptr<engine::ChatTemplate> chat_template;
  bool chat_template_is_fallback = false;  // the GGUF had none: ChatML
  std::string bos_token;                   // texts the template may print
  std::string eos_token;
};

}  // namespace tandem::actors
