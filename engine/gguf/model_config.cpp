// read_model_config: the `<arch>.*` hyper-parameters, checked for consistency with each other and
// with the tensors the forward pass will look up by name.
#include "engine/model_config.h"

#include "engine/quant.h"

#include <cmath>
#include <limits>
#include <string>

namespace tandem::engine {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw GgufError("model config: " + message);
}

uint32_t to_u32(int64_t value, const std::string& key, bool allow_zero = false) {
  if (value < (allow_zero ? 0 : 1) || value > std::numeric_limits<uint32_t>::max()) {
    fail("'" + key + "' is " + std::to_string(value) + ", expected " +
         (allow_zero ? "0" : "1") + ".." + std::to_string(std::numeric_limits<uint32_t>::max()));
  }
  return static_cast<uint32_t>(value);
}

uint32_t required_u32(const GgufFile& file, const std::string& key) {
  auto value = file.get_int(key);
  if (!value) fail("missing required key '" + key + "'");
  return to_u32(*value, key);
}

std::optional<uint32_t> optional_u32(const GgufFile& file, const std::string& key,
                                     bool allow_zero = false) {
  auto value = file.get_int(key);
  if (!value) return std::nullopt;
  return to_u32(*value, key, allow_zero);
}

float positive_float(const GgufFile& file, const std::string& key, float fallback) {
  auto value = file.get_float(key);
  if (!value) return fallback;
  if (!std::isfinite(*value) || *value <= 0.0) {
    fail("'" + key + "' is " + std::to_string(*value) + ", expected a positive number");
  }
  return static_cast<float>(*value);
}

Architecture parse_architecture(const std::string& name) {
  if (name == "llama") return Architecture::llama;
  if (name == "qwen2") return Architecture::qwen2;
  if (name == "qwen3") return Architecture::qwen3;
  fail("unsupported architecture '" + name + "' (supported: llama, qwen2, qwen3)");
}

void read_rope_scaling(const GgufFile& file, const std::string& prefix, ModelConfig& config) {
  RopeScaling& scaling = config.rope_scaling;
  if (auto type = file.get_string(prefix + "rope.scaling.type")) {
    if (*type != "none" && *type != "linear" && *type != "llama3") {
      fail("'" + prefix + "rope.scaling.type' is '" + *type +
           "' (supported: none, linear, llama3)");
    }
    scaling.type = *type;
  }
  scaling.factor = positive_float(file, prefix + "rope.scaling.factor", 1.0f);
  // Older files have only rope.scale_linear (the same factor, linear scaling implied).
  if (file.find(prefix + "rope.scale_linear") != nullptr && !file.find(prefix + "rope.scaling.type")) {
    scaling.factor = positive_float(file, prefix + "rope.scale_linear", 1.0f);
    if (scaling.factor != 1.0f) scaling.type = "linear";
  }
  scaling.original_context =
      optional_u32(file, prefix + "rope.scaling.original_context_length", true).value_or(0);

  if (const TensorInfo* freqs = file.find_tensor("rope_freqs.weight")) {
    const uint64_t expected = config.rope_dims / 2;
    if (freqs->dims.size() != 1 || freqs->n_elements != expected) {
      fail("tensor 'rope_freqs.weight' has " + std::to_string(freqs->n_elements) +
           " elements, expected rope_dims/2 = " + std::to_string(expected));
    }
    scaling.freq_factors.resize(expected);
    dequantize_row(freqs->type, freqs->data, scaling.freq_factors.data(), expected);
    for (float f : scaling.freq_factors) {
      if (!std::isfinite(f) || f <= 0.0f) fail("tensor 'rope_freqs.weight' holds a non-positive factor");
    }
  }
}

// The vocabulary size, and a check that the embedding matrix has one row per token.
uint32_t read_vocab_size(const GgufFile& file, uint32_t n_embd) {
  const TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr) fail("missing tensor 'token_embd.weight'");
  if (embd->dims.size() != 2 || embd->dims[0] != n_embd) {
    std::string shape;
    for (auto d : embd->dims) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    fail("tensor 'token_embd.weight' has dims {" + shape + "}, expected {" +
         std::to_string(n_embd) + ", n_vocab}");
  }
  const uint64_t rows = embd->dims[1];
  if (rows > std::numeric_limits<uint32_t>::max()) fail("token_embd.weight has too many rows");
  if (const GgufValue* tokens = file.find("tokenizer.ggml.tokens")) {
    if (tokens->type != GgufValueType::ARRAY) {
      fail("'tokenizer.ggml.tokens' is not an array");
    }
    const size_t count = std::get<std::shared_ptr<GgufArray>>(tokens->data)->elements.size();
    if (count != rows) {
      fail("'tokenizer.ggml.tokens' has " + std::to_string(count) +
           " tokens but token_embd.weight has " + std::to_string(rows) + " rows");
    }
  }
  return static_cast<uint32_t>(rows);
}

}  // namespace

ModelConfig read_model_config(const GgufFile& file) {
  ModelConfig config;
  auto arch_name = file.get_string("general.architecture");
  if (!arch_name) fail("missing required key 'general.architecture'");
  config.arch = parse_architecture(*arch_name);
  config.arch_name = *arch_name;
  config.name = file.get_string("general.name").value_or("");
  const std::string p = config.arch_name + ".";

  config.n_embd = required_u32(file, p + "embedding_length");
  config.n_layer = required_u32(file, p + "block_count");
  config.n_head = required_u32(file, p + "attention.head_count");
  config.n_head_kv = optional_u32(file, p + "attention.head_count_kv").value_or(config.n_head);
  config.n_ff = required_u32(file, p + "feed_forward_length");
  config.context_length = required_u32(file, p + "context_length");

  if (config.n_head % config.n_head_kv != 0) {
    fail("'" + p + "attention.head_count' (" + std::to_string(config.n_head) +
         ") is not a multiple of '" + p + "attention.head_count_kv' (" +
         std::to_string(config.n_head_kv) + ")");
  }
  if (auto key_length = optional_u32(file, p + "attention.key_length")) {
    config.head_dim = *key_length;
  } else {
    if (config.n_embd % config.n_head != 0) {
      fail("'" + p + "embedding_length' (" + std::to_string(config.n_embd) +
           ") is not a multiple of '" + p + "attention.head_count' (" +
           std::to_string(config.n_head) + ") and there is no attention.key_length");
    }
    config.head_dim = config.n_embd / config.n_head;
  }
  if (auto value_length = optional_u32(file, p + "attention.value_length");
      value_length && *value_length != config.head_dim) {
    fail("'" + p + "attention.value_length' (" + std::to_string(*value_length) +
         ") differs from the key length (" + std::to_string(config.head_dim) +
         "), which is not supported");
  }
  if (config.head_dim % 2 != 0) fail("head dimension " + std::to_string(config.head_dim) + " is odd");

  // Defaults as llama.cpp's (real files carry both keys).
  config.norm_eps = positive_float(file, p + "attention.layer_norm_rms_epsilon", 1e-5f);
  config.rope_base = positive_float(file, p + "rope.freq_base", 10000.0f);
  config.rope_dims = optional_u32(file, p + "rope.dimension_count").value_or(config.head_dim);
  if (config.rope_dims > config.head_dim || config.rope_dims % 2 != 0) {
    fail("'" + p + "rope.dimension_count' (" + std::to_string(config.rope_dims) +
         ") must be even and at most the head dimension (" + std::to_string(config.head_dim) + ")");
  }
  config.rope_style = config.arch == Architecture::llama ? RopeStyle::normal : RopeStyle::neox;
  config.has_qkv_bias = config.arch == Architecture::qwen2;
  config.has_qk_norm = config.arch == Architecture::qwen3;
  read_rope_scaling(file, p, config);

  config.n_vocab = read_vocab_size(file, config.n_embd);
  config.tied_embeddings = file.find_tensor("output.weight") == nullptr;
  return config;
}

}  // namespace tandem::engine
