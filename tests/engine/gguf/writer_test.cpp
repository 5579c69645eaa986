// GgufWriter -> GgufFile round trips, and the synthetic models the tools and benchmarks use.
#include "engine/gguf_writer.h"

#include "engine/model_config.h"
#include "engine/quant.h"
#include "tests/common/test_data.h"
#include "tests/engine/gguf/gguf_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

namespace tandem::engine {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;
using namespace tandem::engine::test;

TEST(GgufWriter, EveryMetadataTypeRoundTrips) {
  GgufWriter w;
  w.add_uint8("u8", 255);
  w.add_int8("i8", -128);
  w.add_uint16("u16", 65535);
  w.add_int16("i16", -32768);
  w.add_uint32("u32", 4000000000u);
  w.add_int32("i32", std::numeric_limits<int32_t>::min());
  w.add_uint64("u64", std::numeric_limits<uint64_t>::max());
  w.add_int64("i64", std::numeric_limits<int64_t>::min());
  w.add_float32("f32", 0.1f);
  w.add_float64("f64", 0.1);
  w.add_bool("yes", true);
  w.add_bool("no", false);
  w.add_string("s", "h\xC3\xA9llo\n");
  w.add_string("empty", "");
  w.add_string_array("strings", {"a", "", "\xE2\x96\x81the"});
  w.add_int32_array("ints", {-1, 0, 7});
  w.add_float32_array("floats", {1.5f, -0.25f});
  w.add_string_array("no_strings", {});
  // A nested array: [[1, 2], [3]] of uint16.
  auto inner = [](std::vector<uint64_t> xs) {
    auto a = std::make_shared<GgufArray>();
    a->element_type = GgufValueType::UINT16;
    for (auto x : xs) a->elements.push_back(make_value(GgufValueType::UINT16, x));
    return make_value(GgufValueType::ARRAY, a);
  };
  auto outer = std::make_shared<GgufArray>();
  outer->element_type = GgufValueType::ARRAY;
  outer->elements = {inner({1, 2}), inner({3})};
  w.add_value("nested", make_value(GgufValueType::ARRAY, outer));

  GgufFile f = GgufFile::from_bytes(w.to_bytes());
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.metadata().size(), 19u);
  EXPECT_EQ(f.metadata()[0].first, "u8");
  EXPECT_EQ(f.find("u8")->type, GgufValueType::UINT8);
  EXPECT_EQ(f.get_int("u8"), 255);
  EXPECT_EQ(f.find("i8")->type, GgufValueType::INT8);
  EXPECT_EQ(f.get_int("i8"), -128);
  EXPECT_EQ(f.get_int("u16"), 65535);
  EXPECT_EQ(f.get_int("i16"), -32768);
  EXPECT_EQ(f.get_int("u32"), 4000000000LL);
  EXPECT_EQ(f.get_int("i32"), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(std::get<uint64_t>(f.find("u64")->data), std::numeric_limits<uint64_t>::max());
  EXPECT_THAT([&] { f.get_int("u64"); }, testing::ThrowsMessage<GgufError>(HasSubstr("u64")));
  EXPECT_EQ(f.get_int("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.find("f32")->type, GgufValueType::FLOAT32);
  EXPECT_EQ(static_cast<float>(*f.get_float("f32")), 0.1f);
  EXPECT_EQ(f.get_float("f64"), 0.1);
  EXPECT_EQ(f.get_bool("yes"), true);
  EXPECT_EQ(f.get_bool("no"), false);
  EXPECT_EQ(f.get_string("s"), "h\xC3\xA9llo\n");
  EXPECT_EQ(f.get_string("empty"), "");
  EXPECT_THAT(*f.get_string_array("strings"), ElementsAre("a", "", "\xE2\x96\x81the"));
  EXPECT_THAT(*f.get_int_array("ints"), ElementsAre(-1, 0, 7));
  EXPECT_THAT(*f.get_float_array("floats"), ElementsAre(1.5f, -0.25f));
  EXPECT_THAT(*f.get_float_array("ints"), ElementsAre(-1.0f, 0.0f, 7.0f));
  EXPECT_TRUE(f.get_string_array("no_strings")->empty());
  const auto& nested = *std::get<std::shared_ptr<GgufArray>>(f.find("nested")->data);
  ASSERT_EQ(nested.element_type, GgufValueType::ARRAY);
  ASSERT_EQ(nested.elements.size(), 2u);
  const auto& first = *std::get<std::shared_ptr<GgufArray>>(nested.elements[0].data);
  EXPECT_EQ(first.element_type, GgufValueType::UINT16);
  EXPECT_EQ(std::get<uint64_t>(first.elements[1].data), 2u);
  EXPECT_THROW(f.get_int_array("nested"), GgufError);
}

TEST(GgufWriter, EveryTensorTypeRoundTripsItsBytes) {
  GgufWriter w;
  std::vector<std::vector<uint8_t>> payloads;
  const GgmlType types[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                            GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                            GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
  for (GgmlType type : types) {
    const uint64_t row = 256, rows = 3;
    std::vector<uint8_t> bytes(ggml_row_bytes(type, row) * rows);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31 + 7);
    w.add_tensor(std::string("t.") + std::string(ggml_type_name(type)), {row, rows}, type, bytes);
    payloads.push_back(bytes);
  }
  GgufFile f = GgufFile::from_bytes(w.to_bytes());
  ASSERT_EQ(f.tensors().size(), std::size(types));
  for (size_t i = 0; i < std::size(types); ++i) {
    const TensorInfo& t = f.tensors()[i];
    EXPECT_EQ(t.type, types[i]);
    EXPECT_THAT(t.dims, ElementsAre(256u, 3u));
    EXPECT_EQ(t.n_elements, 768u);
    ASSERT_EQ(t.n_bytes, payloads[i].size());
    EXPECT_EQ(std::memcmp(t.data, payloads[i].data(), t.n_bytes), 0) << t.name;
    EXPECT_EQ(t.offset % 32, 0u);
  }
}

TEST(GgufWriter, F32DataIsQuantizedToTheRequestedType) {
  std::vector<float> values(2 * 64);
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.1f * i);
  GgufWriter w;
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0}) {
    w.add_tensor_f32(std::string(ggml_type_name(type)), {64, 2}, type, values);
  }
  GgufFile f = GgufFile::from_bytes(w.to_bytes());
  for (const auto& t : f.tensors()) {
    std::vector<float> back(128);
    dequantize_row(t.type, t.data, back.data(), 64);
    dequantize_row(t.type, t.data + ggml_row_bytes(t.type, 64), back.data() + 64, 64);
    const float tolerance = t.type == GgmlType::F32 ? 0.0f : t.type == GgmlType::Q4_0 ? 0.15f : 0.01f;
    for (size_t i = 0; i < values.size(); ++i) ASSERT_NEAR(back[i], values[i], tolerance) << t.name << i;
  }
}

TEST(GgufWriter, CustomAlignmentIsWrittenAndHonoured) {
  GgufWriter w(64);
  w.add_string("general.name", "aligned");
  w.add_tensor_f32("a", {3}, GgmlType::F32, std::vector<float>{1, 2, 3});
  w.add_tensor_f32("b", {5}, GgmlType::F32, std::vector<float>{4, 5, 6, 7, 8});
  const auto bytes = w.to_bytes();
  GgufFile f = GgufFile::from_bytes(bytes);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.get_int("general.alignment"), 64);
  EXPECT_EQ(f.find_tensor("b")->offset, 64u);
  EXPECT_EQ((f.find_tensor("a")->data - f.find_tensor("b")->data) % 64, 0);
  float b0;
  std::memcpy(&b0, f.find_tensor("b")->data, 4);
  EXPECT_EQ(b0, 4.0f);
  EXPECT_THROW(GgufWriter(48), GgufError);
}

TEST(GgufWriter, WritesFilesThatOpenReads) {
  const auto path = std::filesystem::temp_directory_path() / "tandem_writer_test.gguf";
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_tensor_f32("x", {32, 2}, GgmlType::Q8_0, std::vector<float>(64, 0.5f));
  w.write_file(path.string());
  {
    GgufFile f = GgufFile::open(path.string());
    EXPECT_EQ(f.path(), path.string());
    EXPECT_EQ(f.find_tensor("x")->type, GgmlType::Q8_0);
    const auto bytes = w.to_bytes();
    EXPECT_EQ(std::filesystem::file_size(path), bytes.size());
  }
  std::filesystem::remove(path);
  EXPECT_THAT([&] { w.write_file("/nonexistent/dir/x.gguf"); },
              testing::ThrowsMessage<GgufError>(HasSubstr("/nonexistent/dir/x.gguf")));
}

TEST(GgufWriter, CheckedTensorsRejectMismatchedSizes) {
  GgufWriter w;
  std::vector<uint8_t> bytes(10);
  EXPECT_THAT([&] { w.add_tensor("t", {32}, GgmlType::Q8_0, bytes); },
              testing::ThrowsMessage<GgufError>(AllOf(HasSubstr("'t'"), HasSubstr("34 bytes"))));
  EXPECT_THROW(w.add_tensor_f32("t", {32, 2}, GgmlType::F32, std::vector<float>(10)), GgufError);
  EXPECT_THROW(w.add_tensor_f32("t", {30}, GgmlType::Q8_0, std::vector<float>(30)), GgufError);
  EXPECT_THROW(w.add_tensor_f32("t", {}, GgmlType::F32, std::vector<float>()), GgufError);
}

TEST(GgufWriter, VersionTwoFilesAreRead) {
  GgufWriter w;
  w.set_version(2);
  w.add_uint32("k", 1);
  GgufFile f = GgufFile::from_bytes(w.to_bytes());
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.get_int("k"), 1);
}

TEST(SyntheticModel, ShapesFollowTheSpecForEveryArchitecture) {
  for (const char* arch : {"llama", "qwen2", "qwen3"}) {
    for (bool tied : {true, false}) {
      SynthModelSpec spec = tiny_spec();
      spec.arch = arch;
      spec.tied = tied;
      spec.layers = 2;
      spec.vocab = 300;
      spec.type = GgmlType::Q8_0;
      GgufFile f = GgufFile::from_bytes(synthetic_model_bytes(spec));
      ModelConfig c = read_model_config(f);
      EXPECT_EQ(c.arch_name, arch);
      EXPECT_EQ(c.n_embd, 32u);
      EXPECT_EQ(c.n_layer, 2u);
      EXPECT_EQ(c.n_head, 4u);
      EXPECT_EQ(c.n_head_kv, 2u);
      EXPECT_EQ(c.n_ff, 64u);
      EXPECT_EQ(c.n_vocab, 300u);
      EXPECT_EQ(c.context_length, 128u);
      EXPECT_EQ(c.tied_embeddings, tied);
      const size_t per_layer = 9 + (std::string(arch) == "qwen2" ? 3 : std::string(arch) == "qwen3" ? 2 : 0);
      EXPECT_EQ(f.tensors().size(), 2 + (tied ? 0 : 1) + 2 * per_layer) << arch;
      EXPECT_THAT(f.find_tensor("blk.1.attn_k.weight")->dims, ElementsAre(32u, 16u));
      EXPECT_THAT(f.find_tensor("blk.1.ffn_down.weight")->dims, ElementsAre(64u, 32u));
      EXPECT_EQ(f.find_tensor("blk.1.ffn_down.weight")->type, GgmlType::Q8_0);
      EXPECT_EQ(f.find_tensor("blk.1.ffn_norm.weight")->type, GgmlType::F32);
      EXPECT_EQ(f.find_tensor("blk.0.attn_q.bias") != nullptr, std::string(arch) == "qwen2");
      EXPECT_EQ(f.find_tensor("blk.0.attn_q_norm.weight") != nullptr, std::string(arch) == "qwen3");
      auto tokens = f.get_string_array("tokenizer.ggml.tokens");
      ASSERT_EQ(tokens->size(), 300u);
      EXPECT_EQ((*tokens)[1], "<s>");
      EXPECT_EQ((*tokens)[3 + 'A'], "<0x41>");
      EXPECT_EQ((*tokens)[259], "\xE2\x96\x81" "a");
      EXPECT_EQ((*tokens)[260], "a");
    }
  }
}

TEST(SyntheticModel, SameSeedSameBytesOtherSeedOtherWeights) {
  SynthModelSpec spec = tiny_spec();
  const auto a = synthetic_model_bytes(spec);
  EXPECT_EQ(a, synthetic_model_bytes(spec));
  spec.seed = 2;
  const auto b = synthetic_model_bytes(spec);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_NE(a, b);
  // Weights are sane: finite, roughly variance 1/in for matrices, norms near 1.
  GgufFile f = GgufFile::from_bytes(b);
  const TensorInfo* q = f.find_tensor("blk.0.attn_q.weight");
  std::vector<float> v(q->n_elements);
  std::memcpy(v.data(), q->data, q->n_bytes);
  double sum_sq = 0;
  for (float x : v) sum_sq += x * x;
  EXPECT_NEAR(sum_sq / v.size(), 1.0 / 32, 0.3 / 32);
}

TEST(SyntheticModel, CopiesTheVocabularyOfAnotherFile) {
  const std::string vocab = tandem::test::shared_file("vocab/ggml-vocab-gpt-2.gguf");
  ASSERT_FALSE(vocab.empty());
  SynthModelSpec spec = tiny_spec();
  spec.arch = "qwen2";
  spec.vocab = 0;
  spec.vocab_from = vocab;
  GgufFile f = GgufFile::from_bytes(synthetic_model_bytes(spec));
  EXPECT_EQ(read_model_config(f).n_vocab, 50257u);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "gpt-2");
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.merges")->size(), 50000u);
  EXPECT_FALSE(f.find("gpt2.block_count"));  // only tokenizer.* is copied
  spec.vocab = 32000;
  EXPECT_THAT([&] { synthetic_model_bytes(spec); },
              testing::ThrowsMessage<GgufError>(HasSubstr("50257")));
}

TEST(SyntheticModel, InvalidSpecsAreRejectedWithReasons) {
  auto error = [](SynthModelSpec spec) -> std::string {
    try {
      synthetic_model_bytes(spec);
    } catch (const GgufError& e) {
      return e.what();
    }
    return "";
  };
  SynthModelSpec s = tiny_spec();
  s.arch = "gpt-neox";
  EXPECT_THAT(error(s), HasSubstr("unsupported architecture 'gpt-neox'"));
  s = tiny_spec();
  s.kv_heads = 3;
  EXPECT_THAT(error(s), HasSubstr("kv-heads"));
  s = tiny_spec();
  s.dim = 48;
  s.heads = 4;
  s.type = GgmlType::Q8_0;
  EXPECT_THAT(error(s), HasSubstr("block size 32"));
  s = tiny_spec();
  s.vocab = 100;
  EXPECT_THAT(error(s), HasSubstr("259"));
  s = tiny_spec();
  s.type = GgmlType::Q4_K;
  EXPECT_THAT(error(s), HasSubstr("Q4_K"));
}

}  // namespace
}  // namespace tandem::engine
