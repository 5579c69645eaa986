// `tandem quantize`'s engine part: the per-tensor type rules and the quantizers reproduce
// llama-quantize's output for ../shared/models/synth-llama-F32.gguf tensor for tensor, byte for
// byte (the reference files were written by llama.cpp from that F32 file).
#include "engine/quant.h"
#include "engine/quantize_model.h"
#include "gguf_test_util.h"
#include "tests/common/test_data.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <unistd.h>
#include <string>
#include <vector>

namespace tandem::engine {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("tandem_quantize_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// Every tensor of `expected` exists in `actual` with the same type, dims and bytes.
void expect_same_tensors(const GgufFile& actual, const GgufFile& expected) {
  ASSERT_EQ(actual.tensors().size(), expected.tensors().size());
  for (const TensorInfo& want : expected.tensors()) {
    const TensorInfo* got = actual.find_tensor(want.name);
    ASSERT_NE(got, nullptr) << want.name;
    EXPECT_EQ(ggml_type_name(got->type), ggml_type_name(want.type)) << want.name;
    EXPECT_EQ(got->dims, want.dims) << want.name;
    ASSERT_EQ(got->n_bytes, want.n_bytes) << want.name;
    size_t first_diff = 0;
    while (first_diff < want.n_bytes && got->data[first_diff] == want.data[first_diff]) ++first_diff;
    EXPECT_EQ(first_diff, want.n_bytes) << want.name << " differs first at byte " << first_diff;
  }
}

class QuantizeReference : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantizeReference, ReproducesLlamaCppTensorDataBitForBit) {
  const std::string target_name = GetParam();
  const std::string in = ::tandem::test::shared_file("models/synth-llama-F32.gguf");
  const std::string reference = ::tandem::test::shared_file("models/synth-llama-" + target_name + ".gguf");
  ASSERT_FALSE(in.empty());
  ASSERT_FALSE(reference.empty());
  const auto target = parse_quantize_target(target_name);
  ASSERT_TRUE(target.has_value());
  const std::string out = temp_path(target_name + ".gguf");
  const QuantizeResult result = quantize_model(in, out, *target, 2);
  const GgufFile written = GgufFile::open(out);
  expect_same_tensors(written, GgufFile::open(reference));
  EXPECT_EQ(written.get_int("general.file_type"), GgufFile::open(reference).get_int("general.file_type"));
  EXPECT_EQ(written.get_int("general.quantization_version"), 2);
  EXPECT_EQ(written.get_int("llama.block_count"), 4);  // metadata carried over
  EXPECT_LT(result.bytes_out, result.bytes_in);
  std::filesystem::remove(out);
}

INSTANTIATE_TEST_SUITE_P(SharedModels, QuantizeReference, ::testing::Values("Q4_K_M", "Q4_0", "Q8_0"));

// The plan alone on a 16-layer untied shape: output.weight gets Q6_K, token_embd keeps the base
// type, and attn_v / ffn_down get Q6_K in layers 0, 1, 4, 7, 10, 13, 14, 15 (llama.cpp's
// use_more_bits for 16 layers); a row length that is no multiple of 256 falls back.
TEST(QuantizePlan, FollowsLlamaCppRulesForAnUntiedSixteenLayerModel) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  auto matrix = [&](const std::string& name, uint64_t in, uint64_t out) {
    w.add_tensor_f32(name, {in, out}, GgmlType::F32, std::vector<float>(in * out, 0.5f));
  };
  matrix("token_embd.weight", 256, 8);
  matrix("output.weight", 256, 8);
  w.add_tensor_f32("output_norm.weight", {256}, GgmlType::F32, std::vector<float>(256, 1.0f));
  for (int l = 0; l < 16; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    matrix(p + "attn_v.weight", 256, 4);
    matrix(p + "attn_q.weight", 256, 4);
    matrix(p + "ffn_down.weight", 288, 4);  // 288 = 9 x 32: K-quants fall back
  }
  const GgufFile file = GgufFile::from_bytes(w.to_bytes());
  std::map<std::string, GgmlType> types;
  std::vector<std::string> order;
  for (const auto& p : plan_quantization(file, QuantizeTarget::Q4_K_M)) {
    types[p.name] = p.to;
    order.push_back(p.name);
  }
  EXPECT_EQ(order.front(), "output.weight");  // outside the blocks first, by name
  EXPECT_EQ(order[3], "blk.0.attn_q.weight");
  EXPECT_EQ(order.back(), "blk.15.ffn_down.weight");  // blocks by number, not by text
  EXPECT_EQ(types["output.weight"], GgmlType::Q6_K);
  EXPECT_EQ(types["token_embd.weight"], GgmlType::Q4_K);
  EXPECT_EQ(types["output_norm.weight"], GgmlType::F32);
  const std::vector<int> more_bits = {0, 1, 4, 7, 10, 13, 14, 15};
  for (int l = 0; l < 16; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const bool more = std::find(more_bits.begin(), more_bits.end(), l) != more_bits.end();
    EXPECT_EQ(types[p + "attn_v.weight"], more ? GgmlType::Q6_K : GgmlType::Q4_K) << l;
    EXPECT_EQ(types[p + "attn_q.weight"], GgmlType::Q4_K) << l;
    EXPECT_EQ(types[p + "ffn_down.weight"], more ? GgmlType::Q8_0 : GgmlType::Q5_0) << l;
  }
  auto type_in = [&](QuantizeTarget target, const std::string& name) {
    for (const auto& p : plan_quantization(file, target))
      if (p.name == name) return p.to;
    return GgmlType::I8;
  };
  EXPECT_EQ(type_in(QuantizeTarget::Q5_K_M, "blk.2.attn_v.weight"), GgmlType::Q5_K);
  EXPECT_EQ(type_in(QuantizeTarget::Q5_K_M, "blk.1.attn_v.weight"), GgmlType::Q6_K);
  EXPECT_EQ(type_in(QuantizeTarget::Q6_K, "output.weight"), GgmlType::Q6_K);
  EXPECT_EQ(type_in(QuantizeTarget::Q4_K, "output.weight"), GgmlType::Q4_K);  // pure: no mix rules
  EXPECT_EQ(type_in(QuantizeTarget::Q6_K, "blk.3.ffn_down.weight"), GgmlType::Q8_0);
  EXPECT_EQ(type_in(QuantizeTarget::Q8_0, "output.weight"), GgmlType::Q8_0);
}

// 1-D tensors and matrices already in the target's place (F16 norms, say) are copied byte for
// byte; matrices get the target type.
TEST(QuantizeModel, CopiesWhatItDoesNotQuantize) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  std::vector<float> matrix(256 * 4);
  for (size_t i = 0; i < matrix.size(); ++i) matrix[i] = std::cos(0.1f * static_cast<float>(i));
  w.add_tensor_f32("blk.0.attn_q.weight", {256, 4}, GgmlType::F32, matrix);
  std::vector<float> norm(256);
  for (size_t i = 0; i < norm.size(); ++i) norm[i] = 1.0f + 0.001f * static_cast<float>(i);
  w.add_tensor_f32("blk.0.attn_norm.weight", {256}, GgmlType::F16, norm);
  const std::string in = temp_path("copy_in.gguf"), out = temp_path("copy_out.gguf");
  w.write_file(in);
  quantize_model(in, out, QuantizeTarget::Q4_K, 1);
  const GgufFile written = GgufFile::open(out);
  const TensorInfo* copied = written.find_tensor("blk.0.attn_norm.weight");
  const GgufFile source = GgufFile::open(in);
  const TensorInfo* original = source.find_tensor("blk.0.attn_norm.weight");
  ASSERT_NE(copied, nullptr);
  EXPECT_EQ(copied->type, GgmlType::F16);
  EXPECT_EQ(std::memcmp(copied->data, original->data, original->n_bytes), 0);
  EXPECT_EQ(written.find_tensor("blk.0.attn_q.weight")->type, GgmlType::Q4_K);
  EXPECT_EQ(written.get_int("general.file_type"), 14);
  std::filesystem::remove(in);
  std::filesystem::remove(out);
}

TEST(QuantizeTargets, ParseByName) {
  EXPECT_EQ(parse_quantize_target("Q5_K_M"), QuantizeTarget::Q5_K_M);
  EXPECT_EQ(parse_quantize_target("q4_k_m"), std::nullopt);
  EXPECT_EQ(quantize_target_names(), "Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M");
}

// The new quantizers round-trip within each format's resolution, including all-zero and
// constant blocks (the edge cases of their scale searches).
TEST(KQuantQuantizers, RoundTripWithinTheFormatsResolution) {
  std::vector<float> x(512);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * 0.8f;
  const std::pair<GgmlType, float> cases[] = {{GgmlType::Q4_K, 0.12f}, {GgmlType::Q5_K, 0.06f},
                                              {GgmlType::Q6_K, 0.03f}, {GgmlType::Q5_0, 0.06f},
                                              {GgmlType::Q5_1, 0.06f}};
  for (const auto& [type, tolerance] : cases) {
    std::vector<uint8_t> q(ggml_row_bytes(type, x.size()));
    quantize_row(type, x.data(), q.data(), x.size());
    std::vector<float> back(x.size());
    dequantize_row_reference(type, q.data(), back.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(back[i], x[i], tolerance) << ggml_type_name(type) << " " << i;
    for (float fill : {0.0f, 0.25f}) {
      std::vector<float> flat(256, fill);
      std::vector<uint8_t> fq(ggml_row_bytes(type, flat.size()));
      quantize_row(type, flat.data(), fq.data(), flat.size());
      std::vector<float> fb(flat.size());
      dequantize_row_reference(type, fq.data(), fb.data(), flat.size());
      for (float v : fb) ASSERT_NEAR(v, fill, tolerance) << ggml_type_name(type) << " fill " << fill;
    }
  }
}

TEST(KQuantQuantizers, RejectNonFiniteValuesNamingTheElement) {
  std::vector<float> x(256, 1.0f);
  x[7] = NAN;
  std::vector<uint8_t> q(ggml_row_bytes(GgmlType::Q4_K, x.size()));
  try {
    quantize_row(GgmlType::Q4_K, x.data(), q.data(), x.size());
    FAIL() << "no error";
  } catch (const GgufError& e) {
    EXPECT_NE(std::string(e.what()).find("element 7"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tandem::engine
