// Loading the --model files and starting what serves them (internal to app/api).
#pragma once

#include "engine/loaded_model.h"
#include "app/api/api.h"

#include <memory>
#include <string>

namespace tandem::api {

// Maps and validates the GGUF, builds the weights, tokenizer and chat template (ChatML, logged,
// when the file has none). Throws ModelLoadError naming the file.
std::shared_ptr<engine::LoadedModel> load_local_model(const std::string& path, int threads);

// The name clients use for a model file: its file name without directory and .gguf.
std::string model_id_from_path(const std::string& path);

// The per-sequence context: --ctx-size, capped at (and 0 meaning) the model's trained context.
uint32_t effective_context(int ctx_size, uint32_t trained_context);

}  // namespace tandem::api
