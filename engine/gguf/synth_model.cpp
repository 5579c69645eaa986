// Random-weight models of any shape in llama.cpp's layout, for tests and benchmarks. Each tensor's
// values come from its own generator seeded by (seed, tensor name), so changing one shape does
// not change the other tensors' weights.
#include "engine/gguf_writer.h"

#include "engine/quant.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace tandem::engine {
namespace {

[[noreturn]] void fail(const std::string& message) { throw GgufError("synth model: " + message); }

// splitmix64: tiny, fast, and the same on every platform (unlike std:: distributions).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) {  // in [lo, hi)
    return lo + (hi - lo) * static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
  }

 private:
  uint64_t state_;
};

uint64_t name_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ULL ^ seed;  // FNV-1a over the name, mixed with the seed
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// Values uniform in center ± spread.
std::vector<float> random_values(uint64_t seed, const std::string& name, uint64_t n, float center,
                                 float spread) {
  Random rng(name_seed(seed, name));
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(center - spread, center + spread);
  return v;
}

uint32_t file_type_of(GgmlType type) {  // llama.cpp's LLAMA_FTYPE numbers
  switch (type) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q4_0: return 2;
    case GgmlType::Q8_0: return 7;
    case GgmlType::BF16: return 32;
    default: return 0;
  }
}

// <unk> <s> </s>, the 256 byte tokens, then "▁a".."▁z", "a".."z", "▁aa", "aa", ... until `size`.
void add_generated_vocab(GgufWriter& w, uint32_t size) {
  if (size < 259) fail("a generated vocabulary needs at least 259 tokens, got " + std::to_string(size));
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char text[8];
    std::snprintf(text, sizeof text, "<0x%02X>", b);
    tokens.emplace_back(text);
    types.push_back(6);
  }
  const std::string space = "\xE2\x96\x81";  // U+2581, SentencePiece's word-start marker
  for (size_t length = 1; tokens.size() < size; ++length) {
    size_t combinations = 1;
    for (size_t i = 0; i < length; ++i) combinations *= 26;
    for (size_t c = 0; c < combinations && tokens.size() < size; ++c) {
      std::string word(length, 'a');
      for (size_t i = 0, x = c; i < length; ++i, x /= 26) word[length - 1 - i] = char('a' + x % 26);
      tokens.push_back(space + word);
      types.push_back(1);
      if (tokens.size() < size) {
        tokens.push_back(word);
        types.push_back(1);
      }
    }
  }
  std::vector<float> scores(tokens.size(), 0.0f);
  for (size_t i = 259; i < tokens.size(); ++i) scores[i] = -static_cast<float>(i - 259);
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string("tokenizer.ggml.pre", "default");
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_float32_array("tokenizer.ggml.scores", scores);
  w.add_int32_array("tokenizer.ggml.token_type", types);
  w.add_uint32("tokenizer.ggml.bos_token_id", 1);
  w.add_uint32("tokenizer.ggml.eos_token_id", 2);
  w.add_uint32("tokenizer.ggml.unknown_token_id", 0);
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_bool("tokenizer.ggml.add_eos_token", false);
}

// Copies tokenizer.* from another GGUF; returns its vocabulary size.
uint32_t copy_vocab(GgufWriter& w, const std::string& path, bool skip_chat_template) {
  GgufFile vocab = GgufFile::open(path);
  auto tokens = vocab.find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->type != GgufValueType::ARRAY) {
    fail("'" + path + "' has no tokenizer.ggml.tokens array");
  }
  for (const auto& [key, value] : vocab.metadata()) {
    if (skip_chat_template && key == "tokenizer.chat_template") continue;
    if (key.rfind("tokenizer.", 0) == 0) w.add_value(key, value);
  }
  return static_cast<uint32_t>(std::get<std::shared_ptr<GgufArray>>(tokens->data)->elements.size());
}

void check_spec(const SynthModelSpec& s, uint32_t head_dim) {
  if (s.arch != "llama" && s.arch != "qwen2" && s.arch != "qwen3") {
    fail("unsupported architecture '" + s.arch + "' (supported: llama, qwen2, qwen3)");
  }
  if (s.dim == 0 || s.layers == 0 || s.heads == 0 || s.kv_heads == 0 || s.ff == 0 || s.context == 0) {
    fail("dim, layers, heads, kv-heads, ff and context must all be positive");
  }
  if (s.heads % s.kv_heads != 0) {
    fail("heads (" + std::to_string(s.heads) + ") must be a multiple of kv-heads (" +
         std::to_string(s.kv_heads) + ")");
  }
  if (s.head_dim == 0 && s.dim % s.heads != 0) {
    fail("dim (" + std::to_string(s.dim) + ") must be a multiple of heads (" +
         std::to_string(s.heads) + ")");
  }
  if (head_dim % 2 != 0) fail("head dimension " + std::to_string(head_dim) + " must be even");
  if (!ggml_type_quantizable(s.type)) {
    fail("type " + std::string(ggml_type_name(s.type)) + " is not supported (F32 F16 BF16 Q8_0 Q4_0)");
  }
  const size_t block = ggml_block_size(s.type);
  for (auto [what, n] : {std::pair{"dim", s.dim}, {"ff", s.ff}, {"heads*head_dim", s.heads * head_dim}}) {
    if (n % block != 0) {
      fail(std::string(what) + " (" + std::to_string(n) + ") must be a multiple of the " +
           std::string(ggml_type_name(s.type)) + " block size " + std::to_string(block));
    }
  }
}

void check_script(const std::vector<int32_t>& script, uint32_t dim, uint32_t vocab) {
  if (script.size() >= dim) {
    fail("a script of " + std::to_string(script.size()) + " tokens needs dim above it (dim " + std::to_string(dim) + ")");
  }
  for (size_t i = 0; i < script.size(); ++i) {
    if (script[i] < 0 || static_cast<uint32_t>(script[i]) >= vocab) {
      fail("script token " + std::to_string(script[i]) + " is outside the vocabulary");
    }
    for (size_t j = 0; j < i; ++j) {
      if (script[j] == script[i]) fail("script token " + std::to_string(script[i]) + " appears twice");
    }
  }
}

GgufWriter build(const SynthModelSpec& spec) {
  const uint32_t head_dim = spec.head_dim != 0 ? spec.head_dim : (spec.heads ? spec.dim / spec.heads : 0);
  check_spec(spec, head_dim);
  const bool qwen = spec.arch != "llama";
  const std::string p = spec.arch + ".";

  GgufWriter w;
  w.add_string("general.architecture", spec.arch);
  w.add_string("general.name", spec.name.empty() ? "synth-" + spec.arch : spec.name);
  w.add_uint32("general.file_type", file_type_of(spec.type));
  w.add_uint32(p + "context_length", spec.context);
  w.add_uint32(p + "embedding_length", spec.dim);
  w.add_uint32(p + "block_count", spec.layers);
  w.add_uint32(p + "feed_forward_length", spec.ff);
  w.add_uint32(p + "attention.head_count", spec.heads);
  w.add_uint32(p + "attention.head_count_kv", spec.kv_heads);
  if (head_dim * spec.heads != spec.dim) {
    w.add_uint32(p + "attention.key_length", head_dim);
    w.add_uint32(p + "attention.value_length", head_dim);
  }
  w.add_uint32(p + "rope.dimension_count", head_dim);
  w.add_float32(p + "rope.freq_base", spec.rope_base > 0 ? spec.rope_base : (qwen ? 1e6f : 1e4f));
  w.add_float32(p + "attention.layer_norm_rms_epsilon",
                spec.norm_eps > 0 ? spec.norm_eps : (qwen ? 1e-6f : 1e-5f));

  uint32_t vocab = spec.vocab;
  if (!spec.vocab_from.empty()) {
    const uint32_t file_vocab = copy_vocab(w, spec.vocab_from, !spec.chat_template.empty());
    if (vocab != 0 && vocab != file_vocab) {
      fail("vocab " + std::to_string(vocab) + " differs from the " + std::to_string(file_vocab) +
           " tokens of '" + spec.vocab_from + "'");
    }
    vocab = file_vocab;
  } else {
    add_generated_vocab(w, vocab != 0 ? vocab : 32000);
    if (vocab == 0) vocab = 32000;
  }
  if (!spec.chat_template.empty()) w.add_string("tokenizer.chat_template", spec.chat_template);

  const uint64_t seed = spec.seed;
  auto matrix = [&](const std::string& name, uint64_t in, uint64_t out) {
    // Variance 1/in keeps activations at a sane scale through the layers.
    const float spread = std::sqrt(3.0f / static_cast<float>(in));
    w.add_tensor_f32(name, {in, out}, spec.type, random_values(seed, name, in * out, 0.0f, spread));
  };
  auto small_vector = [&](const std::string& name, uint64_t n, float center, float spread) {
    w.add_tensor_f32(name, {n}, GgmlType::F32, random_values(seed, name, n, center, spread));
  };
  const uint64_t q_dim = uint64_t{spec.heads} * head_dim, kv_dim = uint64_t{spec.kv_heads} * head_dim;
  const bool scripted = !spec.script.empty();
  if (scripted) check_script(spec.script, spec.dim, vocab);
  // Zero output projections of the blocks leave the residual stream = the token's embedding.
  auto block_output = [&](const std::string& name, uint64_t in, uint64_t out) {
    if (!scripted) return matrix(name, in, out);
    w.add_tensor_f32(name, {in, out}, spec.type, std::vector<float>(in * out, 0.0f));
  };

  if (scripted) {
    // Token script[i] is the unit vector i; every other token the unit vector n (the script's
    // length). Row script[i+1] of the output reads unit i, row script[0] reads unit n.
    const uint64_t n = spec.script.size();
    std::vector<float> embedding(uint64_t{spec.dim} * vocab, 0.0f), output(uint64_t{spec.dim} * vocab, 0.0f);
    for (uint64_t token = 0; token < vocab; ++token) embedding[token * spec.dim + n] = 1.0f;
    constexpr float margin = 64.0f;
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t token = static_cast<uint64_t>(spec.script[i]);
      embedding[token * spec.dim + n] = 0.0f;
      embedding[token * spec.dim + i] = 1.0f;
      output[token * spec.dim + (i == 0 ? n : i - 1)] = margin;
    }
    w.add_tensor_f32("token_embd.weight", {spec.dim, vocab}, spec.type, std::move(embedding));
    small_vector("output_norm.weight", spec.dim, 1.0f, 0.1f);
    w.add_tensor_f32("output.weight", {spec.dim, vocab}, spec.type, std::move(output));
  } else {
    w.add_tensor_f32("token_embd.weight", {spec.dim, vocab}, spec.type,
                     random_values(seed, "token_embd.weight", uint64_t{spec.dim} * vocab, 0.0f, 1.0f));
    small_vector("output_norm.weight", spec.dim, 1.0f, 0.1f);
    if (!spec.tied) matrix("output.weight", spec.dim, vocab);
  }
  for (uint32_t l = 0; l < spec.layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    small_vector(b + "attn_norm.weight", spec.dim, 1.0f, 0.1f);
    matrix(b + "attn_q.weight", spec.dim, q_dim);
    matrix(b + "attn_k.weight", spec.dim, kv_dim);
    matrix(b + "attn_v.weight", spec.dim, kv_dim);
    if (spec.arch == "qwen2") {
      small_vector(b + "attn_q.bias", q_dim, 0.0f, 0.1f);
      small_vector(b + "attn_k.bias", kv_dim, 0.0f, 0.1f);
      small_vector(b + "attn_v.bias", kv_dim, 0.0f, 0.1f);
    }
    if (spec.arch == "qwen3") {
      small_vector(b + "attn_q_norm.weight", head_dim, 1.0f, 0.1f);
      small_vector(b + "attn_k_norm.weight", head_dim, 1.0f, 0.1f);
    }
    block_output(b + "attn_output.weight", q_dim, spec.dim);
    small_vector(b + "ffn_norm.weight", spec.dim, 1.0f, 0.1f);
    matrix(b + "ffn_gate.weight", spec.dim, spec.ff);
    matrix(b + "ffn_up.weight", spec.dim, spec.ff);
    block_output(b + "ffn_down.weight", spec.ff, spec.dim);
  }
  return w;
}

}  // namespace

void write_synthetic_model(const SynthModelSpec& spec, const std::string& path) {
  build(spec).write_file(path);
}

std::vector<uint8_t> synthetic_model_bytes(const SynthModelSpec& spec) { return build(spec).to_bytes(); }

}  // namespace tandem::engine
