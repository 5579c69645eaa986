// The model description read from GGUF metadata: what the forward pass needs to build itself.
#pragma once

#include "engine/gguf.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tandem::engine {

enum class Architecture { llama, qwen2, qwen3 };
enum class RopeStyle { normal, neox };  // normal: adjacent pairs (llama); neox: halves (qwen)

struct RopeScaling {
  // Llama-3 style frequency scaling, when the file has `rope_freqs` or llama3 scaling metadata.
  std::string type = "none";   // "none", "linear", "llama3"
  float factor = 1.0f;         // linear: positions are divided by factor
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  uint32_t original_context = 0;
  // From the `rope_freqs.weight` tensor when present (rope_dims/2 values, all > 0). When non-empty
  // they apply whatever `type` says, as llama.cpp's rope_ext does: pair i rotates with
  // theta_i = pos * rope_base^(-2i/rope_dims) / freq_factors[i].
  std::vector<float> freq_factors;
};

struct ModelConfig {
  Architecture arch = Architecture::llama;
  std::string arch_name;         // "llama", "qwen2", "qwen3"
  std::string name;              // general.name, may be empty
  uint32_t n_vocab = 0;
  uint32_t n_embd = 0;           // dim
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t head_dim = 0;         // key_length if present, else n_embd / n_head
  uint32_t n_ff = 0;
  uint32_t context_length = 0;   // trained context
  float norm_eps = 1e-5f;        // RMSNorm epsilon
  float rope_base = 10000.0f;
  uint32_t rope_dims = 0;        // rope.dimension_count, else head_dim
  RopeStyle rope_style = RopeStyle::normal;
  RopeScaling rope_scaling;
  bool tied_embeddings = false;  // no output.weight: the output projection is token_embd
  bool has_qkv_bias = false;     // qwen2
  bool has_qk_norm = false;      // qwen3
};

// Reads and checks the description. Throws GgufError naming the missing/invalid key, or an
// unsupported architecture by name.
ModelConfig read_model_config(const GgufFile& file);

}  // namespace tandem::engine
