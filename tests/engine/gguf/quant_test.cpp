// Dequantization: hand-packed blocks with known values (packed the way ggml's quantizers pack
// them), half-precision conversions against the hardware, and the AVX2 path against the scalar
// reference bit for bit.
#include "engine/quant.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace tandem::engine {
namespace {

void put_u16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v & 0xFF));
  out.push_back(static_cast<uint8_t>(v >> 8));
}

std::vector<float> dequantize(GgmlType type, const std::vector<uint8_t>& bytes, size_t n) {
  EXPECT_EQ(bytes.size(), ggml_row_bytes(type, n));
  std::vector<float> out(n);
  dequantize_row_reference(type, bytes.data(), out.data(), n);
  std::vector<float> fast(n);
  dequantize_row(type, bytes.data(), fast.data(), n);
  EXPECT_EQ(std::memcmp(out.data(), fast.data(), n * sizeof(float)), 0) << ggml_type_name(type);
  return out;
}

TEST(QuantSizes, BlockAndTypeSizesMatchGgml) {
  struct Case { GgmlType type; size_t block, bytes; };
  for (auto c : {Case{GgmlType::F32, 1, 4}, {GgmlType::F16, 1, 2}, {GgmlType::BF16, 1, 2},
                 {GgmlType::Q4_0, 32, 18}, {GgmlType::Q4_1, 32, 20}, {GgmlType::Q5_0, 32, 22},
                 {GgmlType::Q5_1, 32, 24}, {GgmlType::Q8_0, 32, 34}, {GgmlType::Q4_K, 256, 144},
                 {GgmlType::Q5_K, 256, 176}, {GgmlType::Q6_K, 256, 210}}) {
    EXPECT_TRUE(ggml_type_supported(c.type));
    EXPECT_EQ(ggml_block_size(c.type), c.block) << ggml_type_name(c.type);
    EXPECT_EQ(ggml_type_size(c.type), c.bytes) << ggml_type_name(c.type);
  }
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_K, 4096), 16u * 144u);
}

TEST(QuantSizes, UnsupportedTypesAndBadRowsAreNamed) {
  EXPECT_FALSE(ggml_type_supported(GgmlType::Q2_K));
  EXPECT_THAT([] { ggml_block_size(GgmlType::Q3_K); },
              testing::ThrowsMessage<GgufError>(testing::HasSubstr("Q3_K")));
  EXPECT_THAT([] { ggml_row_bytes(GgmlType::Q8_0, 33); },
              testing::ThrowsMessage<GgufError>(testing::HasSubstr("33")));
  float out[32];
  uint8_t in[64] = {};
  EXPECT_THROW(dequantize_row(GgmlType::I32, in, out, 4), GgufError);
  EXPECT_THROW(dequantize_row(static_cast<GgmlType>(99), in, out, 4), GgufError);
}

TEST(HalfPrecision, KnownValues) {
  EXPECT_EQ(fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xC000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_TRUE(std::isinf(fp16_to_fp32(0xFC00)) && fp16_to_fp32(0xFC00) < 0);
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);  // rounds up to infinity
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie to even: zero
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie to even
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(3.0f, -11)), 0x3C02);
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(1.00390625f), 0x3F80);  // halfway: to even
  EXPECT_EQ(fp32_to_bf16(1.01171875f), 0x3F82);  // halfway: to even (up)
}

TEST(HalfPrecision, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), h) << std::hex << h;
  }
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) float hw_half_to_float(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) uint16_t hw_float_to_half(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

TEST(HalfPrecision, MatchesTheF16cInstructionsBitForBit) {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || (ecx & bit_F16C) == 0) {
    GTEST_SKIP() << "CPU has no F16C";
  }
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float ours = fp16_to_fp32(static_cast<uint16_t>(h));
    const float hw = hw_half_to_float(static_cast<uint16_t>(h));
    uint32_t a, b;
    std::memcpy(&a, &ours, 4);
    std::memcpy(&b, &hw, 4);
    ASSERT_EQ(a, b) << "half 0x" << std::hex << h;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2'000'000; ++i) {
    uint32_t bits = rng();
    if (i % 2 == 0) bits = (bits & 0x807FFFFF) | ((100 + (bits >> 23) % 50) << 23);  // near half range
    float f;
    std::memcpy(&f, &bits, 4);
    ASSERT_EQ(fp32_to_fp16(f), hw_float_to_half(f)) << "float bits 0x" << std::hex << bits;
  }
}
#endif

TEST(Dequantize, F32F16Bf16) {
  std::vector<uint8_t> f32(3 * 4);
  const float values[3] = {1.5f, -0.0f, 3e38f};
  std::memcpy(f32.data(), values, sizeof values);
  EXPECT_THAT(dequantize(GgmlType::F32, f32, 3), testing::ElementsAre(1.5f, -0.0f, 3e38f));
  std::vector<uint8_t> f16, bf16;
  for (uint16_t h : {0x3C00, 0xC100, 0x3555}) put_u16(f16, h);
  for (uint16_t h : {0x3F80, 0xC0A0, 0x4049}) put_u16(bf16, h);
  EXPECT_THAT(dequantize(GgmlType::F16, f16, 3), testing::ElementsAre(1.0f, -2.5f, 0.333251953125f));
  EXPECT_THAT(dequantize(GgmlType::BF16, bf16, 3), testing::ElementsAre(1.0f, -5.0f, 3.140625f));
}

TEST(Dequantize, Q8_0) {
  std::vector<uint8_t> block;
  put_u16(block, 0x3800);  // d = 0.5
  for (int j = 0; j < 32; ++j) block.push_back(static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 128)));
  auto y = dequantize(GgmlType::Q8_0, block, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j * 8 - 128) * 0.5f) << j;
}

TEST(Dequantize, Q4_0AndQ4_1) {
  // Element j < 16 is the low nibble of qs[j], element j + 16 its high nibble.
  std::vector<uint8_t> q4_0, q4_1;
  put_u16(q4_0, 0x4000);  // d = 2
  put_u16(q4_1, 0x3C00);  // d = 1
  put_u16(q4_1, 0xBC00);  // m = -1
  for (int j = 0; j < 16; ++j) {
    q4_0.push_back(static_cast<uint8_t>(j | ((15 - j) << 4)));
    q4_1.push_back(static_cast<uint8_t>(j | ((15 - j) << 4)));
  }
  auto a = dequantize(GgmlType::Q4_0, q4_0, 32);
  auto b = dequantize(GgmlType::Q4_1, q4_1, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(a[j], (j - 8) * 2.0f);
    EXPECT_EQ(a[j + 16], (15 - j - 8) * 2.0f);
    EXPECT_EQ(b[j], j - 1.0f);
    EXPECT_EQ(b[j + 16], (15 - j) - 1.0f);
  }
}

// 5-bit values packed as ggml's quantize_row_q5_*_ref: low nibbles like Q4, bit 4 of element k
// in bit k of qh.
std::vector<uint8_t> pack_q5(const int (&v)[32], bool with_min) {
  std::vector<uint8_t> block;
  put_u16(block, 0x3800);                // d = 0.5
  if (with_min) put_u16(block, 0x4200);  // m = 3
  uint32_t qh = 0;
  for (int k = 0; k < 32; ++k) qh |= static_cast<uint32_t>(v[k] >> 4) << k;
  for (int i = 0; i < 4; ++i) block.push_back(static_cast<uint8_t>(qh >> (8 * i)));
  for (int j = 0; j < 16; ++j) block.push_back(static_cast<uint8_t>((v[j] & 15) | ((v[j + 16] & 15) << 4)));
  return block;
}

TEST(Dequantize, Q5_0AndQ5_1) {
  int v[32];
  for (int k = 0; k < 32; ++k) v[k] = (k * 7 + 3) % 32;
  auto a = dequantize(GgmlType::Q5_0, pack_q5(v, false), 32);
  auto b = dequantize(GgmlType::Q5_1, pack_q5(v, true), 32);
  for (int k = 0; k < 32; ++k) {
    EXPECT_EQ(a[k], (v[k] - 16) * 0.5f) << k;
    EXPECT_EQ(b[k], v[k] * 0.5f + 3.0f) << k;
  }
}

// K-quant scales/mins packed as quantize_row_q4_K_ref does.
void pack_k_scales(const int (&sc)[8], const int (&mn)[8], uint8_t* scales) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = static_cast<uint8_t>(sc[j]);
      scales[j + 4] = static_cast<uint8_t>(mn[j]);
    } else {
      scales[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      scales[j - 0] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
}

TEST(Dequantize, Q4_KAndQ5_K) {
  const int sc[8] = {1, 63, 17, 40, 5, 33, 62, 48};
  const int mn[8] = {0, 2, 63, 31, 50, 16, 7, 58};
  int q4[256], q5[256];
  for (int e = 0; e < 256; ++e) {
    q4[e] = (e * 5 + 1) % 16;
    q5[e] = (e * 11 + 7) % 32;
  }
  // Q4_K: d, dmin, scales, then 4 chunks of 32 bytes: element 64c+l low nibble, 64c+32+l high.
  std::vector<uint8_t> b4, b5;
  put_u16(b4, 0x3800);  // d = 0.5
  put_u16(b4, 0x3400);  // dmin = 0.25
  put_u16(b5, 0x3800);
  put_u16(b5, 0x3400);
  uint8_t scales[12];
  pack_k_scales(sc, mn, scales);
  b4.insert(b4.end(), scales, scales + 12);
  b5.insert(b5.end(), scales, scales + 12);
  uint8_t qh[32] = {};
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      b4.push_back(static_cast<uint8_t>(q4[64 * c + l] | (q4[64 * c + 32 + l] << 4)));
      if (q5[64 * c + l] > 15) qh[l] |= static_cast<uint8_t>(1 << (2 * c));
      if (q5[64 * c + 32 + l] > 15) qh[l] |= static_cast<uint8_t>(2 << (2 * c));
    }
  }
  b5.insert(b5.end(), qh, qh + 32);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      b5.push_back(static_cast<uint8_t>((q5[64 * c + l] & 15) | ((q5[64 * c + 32 + l] & 15) << 4)));
    }
  }
  auto y4 = dequantize(GgmlType::Q4_K, b4, 256);
  auto y5 = dequantize(GgmlType::Q5_K, b5, 256);
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32;
    EXPECT_EQ(y4[e], 0.5 * sc[s] * q4[e] - 0.25 * mn[s]) << e;
    EXPECT_EQ(y5[e], 0.5 * sc[s] * q5[e] - 0.25 * mn[s]) << e;
  }
}

TEST(Dequantize, Q6_K) {
  int L[256];  // 6-bit values; the quant is L - 32
  for (int e = 0; e < 256; ++e) L[e] = (e * 13 + 5) % 64;
  int8_t scales[16];
  for (int s = 0; s < 16; ++s) scales[s] = static_cast<int8_t>(s * 17 - 128);
  // Packed as quantize_row_q6_K_ref: ql (128), qh (64), scales (16), d.
  uint8_t ql[128], qh[64];
  for (int half = 0; half < 2; ++half) {
    const int* l = L + 128 * half;
    for (int i = 0; i < 32; ++i) {
      ql[64 * half + i] = static_cast<uint8_t>((l[i] & 0xF) | ((l[i + 64] & 0xF) << 4));
      ql[64 * half + i + 32] = static_cast<uint8_t>((l[i + 32] & 0xF) | ((l[i + 96] & 0xF) << 4));
      qh[32 * half + i] = static_cast<uint8_t>((l[i] >> 4) | ((l[i + 32] >> 4) << 2) |
                                               ((l[i + 64] >> 4) << 4) | ((l[i + 96] >> 4) << 6));
    }
  }
  std::vector<uint8_t> block(ql, ql + 128);
  block.insert(block.end(), qh, qh + 64);
  for (int8_t s : scales) block.push_back(static_cast<uint8_t>(s));
  put_u16(block, 0x3400);  // d = 0.25
  auto y = dequantize(GgmlType::Q6_K, block, 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], 0.25 * scales[e / 16] * (L[e] - 32)) << e;
}

TEST(Dequantize, MultipleBlocksAreIndependent) {
  std::vector<uint8_t> two;
  for (uint16_t d : {0x3C00, 0x4400}) {  // 1 and 4
    put_u16(two, d);
    for (int j = 0; j < 32; ++j) two.push_back(static_cast<uint8_t>(j));
  }
  auto y = dequantize(GgmlType::Q8_0, two, 64);
  EXPECT_EQ(y[5], 5.0f);
  EXPECT_EQ(y[32 + 5], 20.0f);
}

bool same_bits_or_both_nan(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof a) == 0;
}

class FastPath : public testing::TestWithParam<GgmlType> {};

TEST_P(FastPath, EqualsReferenceBitForBitOnRandomBlocks) {
  const GgmlType type = GetParam();
  if (!dequantize_has_fast_path(type)) GTEST_SKIP() << "no AVX2 path on this CPU";
  std::mt19937_64 rng(static_cast<uint64_t>(type) * 977 + 1);
  const size_t block = ggml_block_size(type);
  for (int trial = 0; trial < 200; ++trial) {
    size_t n = block * (1 + rng() % 40);
    if (block == 1) n += rng() % 8;  // F16/BF16: tails that are not a multiple of 8
    std::vector<uint8_t> bytes(ggml_row_bytes(type, n));
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    std::vector<float> ref(n), fast(n);
    dequantize_row_reference(type, bytes.data(), ref.data(), n);
    dequantize_row(type, bytes.data(), fast.data(), n);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(same_bits_or_both_nan(ref[i], fast[i]))
          << ggml_type_name(type) << " trial " << trial << " element " << i << ": " << ref[i]
          << " vs " << fast[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, FastPath,
                         testing::Values(GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                                         GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
                                         GgmlType::Q5_1, GgmlType::Q4_K, GgmlType::Q5_K,
                                         GgmlType::Q6_K),
                         [](const auto& info) { return std::string(ggml_type_name(info.param)); });

// Q8_0 is symmetric (error <= half a step); Q4_0 maps the extreme value to -8 steps, so the
// opposite extreme can only reach 7 steps (error <= one step there).
TEST(Quantize, Q8_0AndQ4_0ErrorsAreBoundedByTheStep) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> x(256);
  for (auto& v : x) v = dist(rng);
  for (auto [type, step_fraction] : {std::pair{GgmlType::Q8_0, 0.5f / 127}, {GgmlType::Q4_0, 1.0f / 8}}) {
    std::vector<uint8_t> q(ggml_row_bytes(type, x.size()));
    quantize_row(type, x.data(), q.data(), x.size());
    std::vector<float> y(x.size());
    dequantize_row(type, q.data(), y.data(), x.size());
    for (size_t b = 0; b < x.size(); b += 32) {
      float amax = 0;
      for (size_t j = b; j < b + 32; ++j) amax = std::max(amax, std::fabs(x[j]));
      for (size_t j = b; j < b + 32; ++j) {
        // Plus the fp16 rounding of the scale.
        EXPECT_NEAR(y[j], x[j], amax * step_fraction + amax * 2e-3f) << ggml_type_name(type) << j;
      }
    }
  }
}

TEST(Quantize, F16AndBf16RoundToNearest) {
  const float x[4] = {1.0f, 0.1f, -3.3f, 1e-8f};
  std::vector<uint8_t> f16(8), bf16(8);
  quantize_row(GgmlType::F16, x, f16.data(), 4);
  quantize_row(GgmlType::BF16, x, bf16.data(), 4);
  for (int i = 0; i < 4; ++i) {
    uint16_t h, b;
    std::memcpy(&h, f16.data() + 2 * i, 2);
    std::memcpy(&b, bf16.data() + 2 * i, 2);
    EXPECT_EQ(h, fp32_to_fp16(x[i]));
    EXPECT_EQ(b, fp32_to_bf16(x[i]));
    EXPECT_NEAR(fp16_to_fp32(h), x[i], std::fabs(x[i]) * 1e-3 + 6e-8);
    EXPECT_NEAR(bf16_to_fp32(b), x[i], std::fabs(x[i]) * 4e-3);
  }
}

TEST(Quantize, RejectsNonFiniteAndUnsupportedTypes) {
  std::vector<float> x(32, 1.0f);
  x[7] = NAN;
  std::vector<uint8_t> out(64);
  EXPECT_THAT([&] { quantize_row(GgmlType::Q8_0, x.data(), out.data(), 32); },
              testing::ThrowsMessage<GgufError>(testing::HasSubstr("element 7")));
  EXPECT_THAT([&] { quantize_row(GgmlType::Q4_K, x.data(), out.data(), 32); },
              testing::ThrowsMessage<GgufError>(testing::HasSubstr("Q4_K")));
}

}  // namespace
}  // namespace tandem::engine
