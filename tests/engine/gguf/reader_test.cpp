// Reading the reference files in ../shared: metadata, tensor tables, and tensor data checked
// against what llama.cpp wrote.
#include "engine/gguf.h"
#include "engine/quant.h"
#include "tests/common/test_data.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace tandem::engine {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

GgufFile open_shared(const std::string& relative) {
  const std::string path = tandem::test::shared_file(relative);
  if (path.empty()) throw std::runtime_error("missing " + relative);
  return GgufFile::open(path);
}

std::vector<float> tensor_floats(const TensorInfo& t) {
  std::vector<float> out(t.n_elements);
  const size_t row = t.dims[0];
  const size_t row_bytes = ggml_row_bytes(t.type, row);
  for (size_t r = 0; r < t.n_elements / row; ++r) {
    dequantize_row(t.type, t.data + r * row_bytes, out.data() + r * row, row);
  }
  return out;
}

TEST(ReadShared, Stories260K) {
  GgufFile f = open_shared("models/stories260K.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_THAT(f.path(), HasSubstr("stories260K.gguf"));
  EXPECT_EQ(f.metadata().size(), 18u);
  EXPECT_EQ(f.metadata().front().first, "general.architecture");
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("general.name"), "tinyllamas-stories-260k");
  EXPECT_EQ(f.get_int("llama.embedding_length"), 64);
  EXPECT_EQ(f.get_int("llama.block_count"), 5);
  EXPECT_EQ(f.get_int("llama.attention.head_count"), 8);
  EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(f.get_int("llama.context_length"), 512);
  EXPECT_NEAR(*f.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens);
  ASSERT_EQ(tokens->size(), 512u);
  EXPECT_EQ((*tokens)[0], "<unk>");
  EXPECT_EQ((*tokens)[1], "<s>");
  EXPECT_EQ((*tokens)[3], "<0x00>");
  EXPECT_EQ(f.get_float_array("tokenizer.ggml.scores")->size(), 512u);
  auto types = f.get_int_array("tokenizer.ggml.token_type");
  ASSERT_TRUE(types);
  EXPECT_EQ((*types)[3], 6);  // byte token
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_FALSE(f.get_int("no.such.key"));
  EXPECT_EQ(f.find("no.such.key"), nullptr);

  ASSERT_EQ(f.tensors().size(), 48u);  // embeddings, output norm + output, 9 per layer
  const TensorInfo* embd = f.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, GgmlType::F32);
  EXPECT_THAT(embd->dims, ElementsAre(64u, 512u));
  EXPECT_EQ(embd->n_elements, 64u * 512u);
  EXPECT_EQ(embd->n_bytes, 64u * 512u * 4u);
  EXPECT_THAT(f.find_tensor("blk.4.ffn_down.weight")->dims, ElementsAre(172u, 64u));
  EXPECT_THAT(f.find_tensor("blk.0.attn_k.weight")->dims, ElementsAre(64u, 32u));
  EXPECT_THAT(f.find_tensor("blk.0.attn_norm.weight")->dims, ElementsAre(64u));
  EXPECT_NE(f.find_tensor("output.weight"), nullptr);
  EXPECT_EQ(f.find_tensor("blk.5.attn_q.weight"), nullptr);
  for (const auto& t : f.tensors()) {
    EXPECT_EQ(t.type, GgmlType::F32) << t.name;
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    auto values = tensor_floats(t);
    for (float v : values) ASSERT_TRUE(std::isfinite(v)) << t.name;
  }
  // A trained RMSNorm weight is not all ones; a trained embedding is not all zeros.
  auto norm = tensor_floats(*f.find_tensor("blk.0.attn_norm.weight"));
  EXPECT_TRUE(std::any_of(norm.begin(), norm.end(), [](float v) { return std::fabs(v - 1.0f) > 0.05f; }));
}

TEST(ReadShared, TypedGettersRejectWrongTypesByName) {
  GgufFile f = open_shared("models/stories260K.gguf");
  EXPECT_THAT([&] { f.get_int("general.name"); },
              testing::ThrowsMessage<GgufError>(AllOf(HasSubstr("general.name"), HasSubstr("STRING"))));
  EXPECT_THAT([&] { f.get_string("llama.block_count"); },
              testing::ThrowsMessage<GgufError>(HasSubstr("llama.block_count")));
  EXPECT_THROW(f.get_bool("llama.block_count"), GgufError);
  EXPECT_THROW(f.get_string_array("tokenizer.ggml.scores"), GgufError);
  EXPECT_THROW(f.get_int_array("tokenizer.ggml.tokens"), GgufError);
  EXPECT_THROW(f.get_float("tokenizer.ggml.model"), GgufError);
  EXPECT_EQ(f.get_float("llama.block_count"), 5.0);  // integers are numbers too
}

struct SynthCase {
  const char* file;
  GgmlType matrix_type;
  GgmlType embd_type;
};

class ReadSynthLlama : public testing::TestWithParam<SynthCase> {};

TEST_P(ReadSynthLlama, ShapesAndTypesAreLlamaCpps) {
  const auto c = GetParam();
  GgufFile f = open_shared(std::string("models/") + c.file);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.embedding_length"), 256);
  EXPECT_EQ(f.get_int("llama.block_count"), 4);
  EXPECT_EQ(f.get_int("llama.feed_forward_length"), 768);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens")->size(), 32000u);
  EXPECT_EQ(f.get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(f.tensors().size(), 38u);  // no output.weight: tied
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);
  EXPECT_EQ(f.find_tensor("token_embd.weight")->type, c.embd_type);
  EXPECT_THAT(f.find_tensor("token_embd.weight")->dims, ElementsAre(256u, 32000u));
  EXPECT_THAT(f.find_tensor("blk.3.ffn_down.weight")->dims, ElementsAre(768u, 256u));
  EXPECT_EQ(f.find_tensor("blk.3.attn_q.weight")->type, c.matrix_type);
  EXPECT_EQ(f.find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);
}

// The quantized files hold llama.cpp's quantization of the F32 file's weights: dequantizing
// them must land close to the originals (a wrong block layout lands nowhere near).
TEST_P(ReadSynthLlama, DequantizedWeightsMatchTheF32Original) {
  const auto c = GetParam();
  GgufFile f = open_shared(std::string("models/") + c.file);
  GgufFile original = open_shared("models/synth-llama-F32.gguf");
  const double tolerance = c.matrix_type == GgmlType::F32    ? 0.0
                           : c.matrix_type == GgmlType::Q8_0 ? 0.01
                           : c.matrix_type == GgmlType::Q6_K ? 0.03
                                                             : 0.15;
  for (const char* name : {"blk.0.attn_q.weight", "blk.2.ffn_down.weight", "token_embd.weight"}) {
    auto got = tensor_floats(*f.find_tensor(name));
    auto want = tensor_floats(*original.find_tensor(name));
    ASSERT_EQ(got.size(), want.size());
    double err = 0, norm = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      err += (got[i] - want[i]) * double(got[i] - want[i]);
      norm += want[i] * double(want[i]);
    }
    const double relative_rms = std::sqrt(err / norm);
    const double embd_tolerance = c.embd_type == GgmlType::Q6_K ? 0.03 : tolerance;
    EXPECT_LE(relative_rms, std::string(name) == "token_embd.weight" ? embd_tolerance : tolerance)
        << c.file << " " << name;
    if (c.matrix_type != GgmlType::F32) {
      EXPECT_GT(relative_rms, 0.0) << name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Files, ReadSynthLlama,
    testing::Values(SynthCase{"synth-llama-F32.gguf", GgmlType::F32, GgmlType::F32},
                    SynthCase{"synth-llama-Q8_0.gguf", GgmlType::Q8_0, GgmlType::Q8_0},
                    SynthCase{"synth-llama-Q4_0.gguf", GgmlType::Q4_0, GgmlType::Q6_K},
                    SynthCase{"synth-llama-Q4_K_M.gguf", GgmlType::Q4_K, GgmlType::Q6_K},
                    SynthCase{"synth-llama-Q6_K.gguf", GgmlType::Q6_K, GgmlType::Q6_K}),
    [](const auto& info) {
      std::string name = info.param.file;
      name = name.substr(0, name.find('.'));
      for (auto& ch : name) if (ch == '-') ch = '_';
      return name;
    });

// llama.cpp's Q8_0 and Q4_0 quantizers are deterministic; ours must give the same bytes.
TEST(ReadShared, OurQuantizerReproducesLlamaCppsBytes) {
  GgufFile original = open_shared("models/synth-llama-F32.gguf");
  for (auto [file, type] : {std::pair{"models/synth-llama-Q8_0.gguf", GgmlType::Q8_0},
                            {"models/synth-llama-Q4_0.gguf", GgmlType::Q4_0}}) {
    GgufFile f = open_shared(file);
    int checked = 0;
    for (const auto& t : f.tensors()) {
      if (t.type != type) continue;
      const TensorInfo* src = original.find_tensor(t.name);
      ASSERT_NE(src, nullptr);
      const size_t row = t.dims[0], row_bytes = ggml_row_bytes(t.type, row);
      std::vector<uint8_t> ours(t.n_bytes);
      std::vector<float> values(src->n_elements);
      std::memcpy(values.data(), src->data, src->n_bytes);
      for (size_t r = 0; r < t.n_elements / row; ++r) {
        quantize_row(t.type, values.data() + r * row, ours.data() + r * row_bytes, row);
      }
      ASSERT_EQ(std::memcmp(ours.data(), t.data, t.n_bytes), 0) << file << " " << t.name;
      ++checked;
    }
    EXPECT_GE(checked, 28) << file;
  }
}

TEST(ReadShared, Q4_K_M_MixesQ4_KAndQ6_K) {
  GgufFile f = open_shared("models/synth-llama-Q4_K_M.gguf");
  int q4k = 0, q6k = 0;
  for (const auto& t : f.tensors()) {
    q4k += t.type == GgmlType::Q4_K;
    q6k += t.type == GgmlType::Q6_K;
  }
  EXPECT_GT(q4k, 0);
  EXPECT_GT(q6k, 1);  // token_embd plus some ffn_down/attn_v
}

TEST(ReadShared, Qwen2F16) {
  GgufFile f = open_shared("models/synth-qwen2-F16.gguf");
  EXPECT_EQ(f.get_string("general.architecture"), "qwen2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens")->size(), 50257u);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.merges")->size(), 50000u);
  EXPECT_EQ(f.get_float("qwen2.rope.freq_base"), 1e6);
  EXPECT_EQ(f.tensors().size(), 26u);
  EXPECT_EQ(f.find_tensor("token_embd.weight")->type, GgmlType::F16);
  EXPECT_THAT(f.find_tensor("blk.1.attn_k.bias")->dims, ElementsAre(128u));
  EXPECT_EQ(f.find_tensor("blk.1.attn_k.bias")->type, GgmlType::F32);
  auto embd = tensor_floats(*f.find_tensor("token_embd.weight"));
  for (float v : embd) ASSERT_TRUE(std::isfinite(v));
}

TEST(ReadShared, VocabularyOnlyFiles) {
  struct Vocab { const char* file; const char* model; size_t tokens; };
  for (auto v : {Vocab{"ggml-vocab-llama-spm.gguf", "llama", 32000},
                 Vocab{"ggml-vocab-phi-3.gguf", "llama", 32064},
                 Vocab{"ggml-vocab-gpt-2.gguf", "gpt2", 50257},
                 Vocab{"ggml-vocab-llama-bpe.gguf", "gpt2", 128256},
                 Vocab{"ggml-vocab-deepseek-llm.gguf", "gpt2", 102400},
                 Vocab{"ggml-vocab-falcon.gguf", "gpt2", 65024}}) {
    GgufFile f = open_shared(std::string("vocab/") + v.file);
    EXPECT_EQ(f.tensors().size(), 0u) << v.file;
    EXPECT_EQ(f.get_string("tokenizer.ggml.model"), v.model) << v.file;
    EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens")->size(), v.tokens) << v.file;
  }
  GgufFile bpe = open_shared("vocab/ggml-vocab-llama-bpe.gguf");
  EXPECT_EQ(bpe.get_string("tokenizer.ggml.pre"), "llama-bpe");
  EXPECT_EQ(bpe.get_string_array("tokenizer.ggml.merges")->size(), 280147u);
  GgufFile phi3 = open_shared("vocab/ggml-vocab-phi-3.gguf");
  EXPECT_THAT(*phi3.get_string("tokenizer.chat_template"), HasSubstr("message"));
}

TEST(ReadShared, OpenReportsMissingFilesByPath) {
  EXPECT_THAT([] { GgufFile::open("/nonexistent/model.gguf"); },
              testing::ThrowsMessage<GgufError>(HasSubstr("/nonexistent/model.gguf")));
  EXPECT_THAT([] { GgufFile::open("/tmp"); },
              testing::ThrowsMessage<GgufError>(HasSubstr("not a regular file")));
}

TEST(ReadShared, FromBytesEqualsOpen) {
  const std::string path = tandem::test::shared_file("models/stories260K.gguf");
  ASSERT_FALSE(path.empty());
  const std::string raw = tandem::test::read_file(path);
  GgufFile a = GgufFile::open(path);
  GgufFile b = GgufFile::from_bytes(std::span(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
  EXPECT_TRUE(b.path().empty());
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    EXPECT_EQ(a.tensors()[i].name, b.tensors()[i].name);
    EXPECT_EQ(std::memcmp(a.tensors()[i].data, b.tensors()[i].data, a.tensors()[i].n_bytes), 0);
  }
  GgufFile moved = std::move(b);  // data pointers survive a move
  EXPECT_EQ(std::memcmp(moved.tensors()[0].data, a.tensors()[0].data, 64), 0);
}

}  // namespace
}  // namespace tandem::engine
