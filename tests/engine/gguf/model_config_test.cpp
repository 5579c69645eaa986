// read_model_config on the reference models and on crafted files with missing, mistyped or
// inconsistent hyper-parameters.
#include "engine/model_config.h"

#include "engine/gguf_writer.h"
#include "tests/common/test_data.h"
#include "tests/engine/gguf/gguf_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

namespace tandem::engine {
namespace {

using testing::HasSubstr;
using namespace tandem::engine::test;

ModelConfig shared_config(const std::string& relative) {
  const std::string path = tandem::test::shared_file(relative);
  if (path.empty()) throw std::runtime_error("missing " + relative);
  return read_model_config(GgufFile::open(path));
}

TEST(ModelConfig, Stories260K) {
  ModelConfig c = shared_config("models/stories260K.gguf");
  EXPECT_EQ(c.arch, Architecture::llama);
  EXPECT_EQ(c.arch_name, "llama");
  EXPECT_EQ(c.name, "tinyllamas-stories-260k");
  EXPECT_EQ(c.n_vocab, 512u);
  EXPECT_EQ(c.n_embd, 64u);
  EXPECT_EQ(c.n_layer, 5u);
  EXPECT_EQ(c.n_head, 8u);
  EXPECT_EQ(c.n_head_kv, 4u);
  EXPECT_EQ(c.head_dim, 8u);
  EXPECT_EQ(c.n_ff, 172u);
  EXPECT_EQ(c.context_length, 512u);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.rope_base, 10000.0f);
  EXPECT_EQ(c.rope_dims, 8u);
  EXPECT_EQ(c.rope_style, RopeStyle::normal);
  EXPECT_EQ(c.rope_scaling.type, "none");
  EXPECT_TRUE(c.rope_scaling.freq_factors.empty());
  EXPECT_FALSE(c.tied_embeddings);  // has output.weight
  EXPECT_FALSE(c.has_qkv_bias);
  EXPECT_FALSE(c.has_qk_norm);
}

TEST(ModelConfig, SynthLlamaFilesAreTiedGqa) {
  for (const char* file : {"synth-llama-F32.gguf", "synth-llama-Q8_0.gguf", "synth-llama-Q4_0.gguf",
                           "synth-llama-Q4_K_M.gguf", "synth-llama-Q6_K.gguf"}) {
    ModelConfig c = shared_config(std::string("models/") + file);
    EXPECT_EQ(c.n_vocab, 32000u) << file;
    EXPECT_EQ(c.n_embd, 256u) << file;
    EXPECT_EQ(c.n_layer, 4u) << file;
    EXPECT_EQ(c.n_head, 8u) << file;
    EXPECT_EQ(c.n_head_kv, 4u) << file;
    EXPECT_EQ(c.head_dim, 32u) << file;
    EXPECT_EQ(c.n_ff, 768u) << file;
    EXPECT_TRUE(c.tied_embeddings) << file;
  }
}

TEST(ModelConfig, SynthQwen2) {
  ModelConfig c = shared_config("models/synth-qwen2-F16.gguf");
  EXPECT_EQ(c.arch, Architecture::qwen2);
  EXPECT_EQ(c.n_vocab, 50257u);
  EXPECT_EQ(c.n_embd, 256u);
  EXPECT_EQ(c.n_layer, 2u);
  EXPECT_EQ(c.n_head, 4u);
  EXPECT_EQ(c.n_head_kv, 2u);
  EXPECT_EQ(c.head_dim, 64u);
  EXPECT_EQ(c.n_ff, 512u);
  EXPECT_EQ(c.rope_base, 1e6f);
  EXPECT_EQ(c.rope_style, RopeStyle::neox);
  EXPECT_TRUE(c.has_qkv_bias);
  EXPECT_FALSE(c.has_qk_norm);
  EXPECT_TRUE(c.tied_embeddings);
}

TEST(ModelConfig, VocabularyOnlyFilesAreNotModels) {
  const std::string path = tandem::test::shared_file("vocab/ggml-vocab-gpt-2.gguf");
  ASSERT_FALSE(path.empty());
  EXPECT_THAT([&] { read_model_config(GgufFile::open(path)); },
              testing::ThrowsMessage<GgufError>(
                  HasSubstr("unsupported architecture 'gpt2' (supported: llama, qwen2, qwen3)")));
  const std::string spm = tandem::test::shared_file("vocab/ggml-vocab-llama-spm.gguf");
  EXPECT_THAT([&] { read_model_config(GgufFile::open(spm)); },
              testing::ThrowsMessage<GgufError>(HasSubstr("token_embd.weight")));
}

TEST(ModelConfig, SyntheticQwen3HasQkNormAndOwnHeadDim) {
  SynthModelSpec spec = tiny_spec();
  spec.arch = "qwen3";
  spec.head_dim = 16;  // 4 heads * 16 != dim 32: written as attention.key_length
  spec.tied = false;
  GgufFile f = GgufFile::from_bytes(synthetic_model_bytes(spec));
  ModelConfig c = read_model_config(f);
  EXPECT_EQ(c.arch, Architecture::qwen3);
  EXPECT_EQ(c.head_dim, 16u);
  EXPECT_EQ(c.rope_dims, 16u);
  EXPECT_TRUE(c.has_qk_norm);
  EXPECT_FALSE(c.has_qkv_bias);
  EXPECT_EQ(c.rope_style, RopeStyle::neox);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-6f);
}

// A minimal llama description; `edit` changes it before the file is built.
GgufFile crafted(const std::function<void(GgufWriter&)>& edit, bool with_defaults = true,
                 uint64_t vocab_rows = 4) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  if (with_defaults) {
    w.add_uint32("llama.embedding_length", 64);
    w.add_uint32("llama.block_count", 2);
    w.add_uint32("llama.attention.head_count", 8);
    w.add_uint32("llama.feed_forward_length", 128);
    w.add_uint32("llama.context_length", 256);
  }
  edit(w);
  std::vector<float> embd(64 * vocab_rows, 0.5f);
  w.add_tensor_f32("token_embd.weight", {64, vocab_rows}, GgmlType::F32, embd);
  return GgufFile::from_bytes(w.to_bytes());
}

std::string config_error(const GgufFile& f) {
  try {
    read_model_config(f);
  } catch (const GgufError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a GgufError";
  return "";
}

TEST(ModelConfig, DefaultsWhenOptionalKeysAreAbsent) {
  ModelConfig c = read_model_config(crafted([](GgufWriter&) {}));
  EXPECT_EQ(c.n_head_kv, 8u);  // no head_count_kv: multi-head attention
  EXPECT_EQ(c.head_dim, 8u);
  EXPECT_EQ(c.rope_dims, 8u);
  EXPECT_EQ(c.rope_base, 10000.0f);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.n_vocab, 4u);  // from token_embd rows when there is no tokenizer
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(c.name.empty());
}

TEST(ModelConfig, IntegerKeysOfAnyWidthAreAccepted) {
  ModelConfig c = read_model_config(crafted(
      [](GgufWriter& w) {
        w.add_uint64("llama.embedding_length", 64);
        w.add_int32("llama.block_count", 3);
        w.add_uint16("llama.attention.head_count", 4);
        w.add_uint8("llama.attention.head_count_kv", 2);
        w.add_int64("llama.feed_forward_length", 100);
        w.add_int16("llama.context_length", 512);
        w.add_float64("llama.rope.freq_base", 500000.0);
      },
      false));
  EXPECT_EQ(c.n_layer, 3u);
  EXPECT_EQ(c.n_head, 4u);
  EXPECT_EQ(c.n_head_kv, 2u);
  EXPECT_EQ(c.head_dim, 16u);
  EXPECT_EQ(c.rope_base, 500000.0f);
}

TEST(ModelConfig, ErrorsNameTheKey) {
  struct Case {
    std::function<void(GgufWriter&)> edit;
    bool defaults;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {[](GgufWriter& w) {
         w.add_string("llama.embedding_length", "64");
         w.add_uint32("llama.block_count", 2);
         w.add_uint32("llama.attention.head_count", 8);
       },
       false, {"llama.embedding_length", "STRING", "integer"}},
      {[](GgufWriter& w) { w.add_uint32("llama.embedding_length", 64); }, false,
       {"missing required key 'llama.block_count'"}},
      {[](GgufWriter& w) { w.add_uint32("llama.attention.head_count_kv", 3); }, true,
       {"llama.attention.head_count", "(8)", "head_count_kv", "(3)"}},
      {[](GgufWriter& w) { w.add_int32("llama.attention.head_count_kv", -1); }, true,
       {"llama.attention.head_count_kv", "-1"}},
      {[](GgufWriter& w) { w.add_uint32("llama.rope.dimension_count", 12); }, true,
       {"llama.rope.dimension_count", "(12)"}},
      {[](GgufWriter& w) { w.add_float32("llama.attention.layer_norm_rms_epsilon", -1.0f); }, true,
       {"llama.attention.layer_norm_rms_epsilon", "positive"}},
      {[](GgufWriter& w) { w.add_string("llama.rope.scaling.type", "yarn"); }, true,
       {"llama.rope.scaling.type", "'yarn'"}},
      {[](GgufWriter& w) { w.add_string_array("tokenizer.ggml.tokens", {"a", "b", "c"}); }, true,
       {"tokenizer.ggml.tokens", "3 tokens", "4 rows"}},
      {[](GgufWriter& w) { w.add_uint32("llama.attention.value_length", 4); }, true,
       {"llama.attention.value_length"}},
      {[](GgufWriter& w) {
         w.add_tensor_f32("rope_freqs.weight", {3}, GgmlType::F32, std::vector<float>{1, 2, 3});
       },
       true, {"rope_freqs.weight", "3 elements", "4"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string message = config_error(crafted(cases[i].edit, cases[i].defaults));
    for (const auto& part : cases[i].expected) {
      EXPECT_THAT(message, HasSubstr(part)) << "case " << i;
    }
  }
}

TEST(ModelConfig, UnsupportedArchitectureIsNamed) {
  GgufWriter w;
  w.add_string("general.architecture", "gpt-neox");
  EXPECT_THAT(config_error(GgufFile::from_bytes(w.to_bytes())),
              HasSubstr("unsupported architecture 'gpt-neox' (supported: llama, qwen2, qwen3)"));
  GgufWriter none;
  none.add_string("general.name", "x");
  EXPECT_THAT(config_error(GgufFile::from_bytes(none.to_bytes())), HasSubstr("general.architecture"));
}

TEST(ModelConfig, RopeFreqsAndScalingAreRead) {
  ModelConfig c = read_model_config(crafted([](GgufWriter& w) {
    w.add_string("llama.rope.scaling.type", "linear");
    w.add_float32("llama.rope.scaling.factor", 4.0f);
    w.add_uint32("llama.rope.scaling.original_context_length", 8192);
    w.add_tensor_f32("rope_freqs.weight", {4}, GgmlType::F32, std::vector<float>{1, 1, 2.5f, 8});
  }));
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.rope_scaling.factor, 4.0f);
  EXPECT_EQ(c.rope_scaling.original_context, 8192u);
  EXPECT_THAT(c.rope_scaling.freq_factors, testing::ElementsAre(1.0f, 1.0f, 2.5f, 8.0f));
}

TEST(ModelConfig, OutputWeightMeansUntied) {
  ModelConfig c = read_model_config(crafted([](GgufWriter& w) {
    w.add_tensor_f32("output.weight", {64, 4}, GgmlType::F32, std::vector<float>(256, 1.0f));
  }));
  EXPECT_FALSE(c.tied_embeddings);
}

}  // namespace
}  // namespace tandem::engine
