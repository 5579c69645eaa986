// The kept-quantized Q4_0 / Q4_K / Q5_K / Q6_K matmuls: the SIMD path gives the scalar
// reference's bits at every ISA level, for any batch size and thread count; the reference itself
// computes sum(dequantized weight x llama.cpp-rounded activation); Q8_K activations are ggml's.
#include "engine/quant.h"
#include "engine/runtime/kernels_quant.h"
#include "engine/runtime/thread_pool.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

namespace tandem::engine::detail {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A matrix quantized with `tandem quantize`'s quantizers and kept in that format.
struct QuantMatrix {
  std::vector<uint8_t> blocks;
  std::vector<float> dequantized;
  Matrix m;
  QuantMatrix(GgmlType type, uint32_t rows, uint32_t cols, uint32_t seed) {
    auto w = random_floats(size_t(rows) * cols, seed, 0.05f);
    const size_t row_bytes = ggml_row_bytes(type, cols);
    blocks.resize(rows * row_bytes);
    dequantized.resize(w.size());
    for (uint32_t r = 0; r < rows; ++r) {
      quantize_row(type, w.data() + size_t(r) * cols, blocks.data() + r * row_bytes, cols);
      dequantize_row_reference(type, blocks.data() + r * row_bytes, dequantized.data() + size_t(r) * cols, cols);
    }
    m.rows = rows;
    m.cols = cols;
    m.source_type = type;
    m.quant = blocks.data();
  }
};

struct ScopedThreads {
  explicit ScopedThreads(unsigned n) { set_compute_threads(n); }
  ~ScopedThreads() { set_compute_threads(1); }
};
struct ScopedIsa {
  explicit ScopedIsa(int level) { set_quant_kernel_isa_limit(level); }
  ~ScopedIsa() { reset_kernel_isa_limits(); }
};

const GgmlType kTypes[] = {GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

std::vector<float> run(const std::vector<float>& x, size_t m, const Matrix& w, bool reference) {
  std::vector<float> y(m * w.rows);
  if (reference) matmul_quant_reference(x.data(), m, w, y.data());
  else matmul_quant(x.data(), m, w, y.data());
  return y;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(QuantKernel, FastPathGivesTheReferenceBitsAtEveryIsaLevelBatchAndThreadCount) {
  for (GgmlType type : kTypes) {
    SCOPED_TRACE(std::string(ggml_type_name(type)));
    QuantMatrix w(type, 37, 768, 5);  // an odd row count: every tile shape and remainder runs
    for (size_t m : {1, 3, 4, 9, 13}) {  // tiles of 8, 4 and 1 rows
      auto x = random_floats(m * w.m.cols, 11 + static_cast<uint32_t>(m), 1.0f);
      x[5] = 0.0f;  // an all-zero block would not occur by chance; cover it in one row
      const auto reference = run(x, m, w.m, true);
      for (int level : {0, 1, 2, 3}) {
        ScopedIsa isa(level);
        for (unsigned threads : {1u, 2u, 3u}) {
          ScopedThreads t(threads);
          EXPECT_TRUE(same_bits(run(x, m, w.m, false), reference))
              << "m " << m << " isa " << quant_kernel_isa() << " threads " << threads;
        }
      }
    }
  }
}

TEST(QuantKernel, ARowsResultDoesNotDependOnTheRestOfTheBatch) {
  for (GgmlType type : kTypes) {
    QuantMatrix w(type, 16, 512, 7);
    auto x = random_floats(6 * w.m.cols, 13, 1.0f);
    const auto batch = run(x, 6, w.m, false);
    for (size_t r = 0; r < 6; ++r) {
      std::vector<float> alone_x(x.begin() + r * w.m.cols, x.begin() + (r + 1) * w.m.cols);
      const auto alone = run(alone_x, 1, w.m, false);
      EXPECT_EQ(std::memcmp(alone.data(), batch.data() + r * w.m.rows, w.m.rows * sizeof(float)), 0)
          << ggml_type_name(type) << " row " << r;
    }
  }
}

// The integer arithmetic is the dequantized weights times the rounded activations, up to float
// summation order (a wrong level, scale, min or lane would be off by far more).
TEST(QuantKernel, ReferenceEqualsDequantizedWeightsTimesRoundedActivations) {
  for (GgmlType type : kTypes) {
    QuantMatrix w(type, 24, 512, 3);
    const size_t m = 3;
    auto x = random_floats(m * w.m.cols, 17, 1.0f);
    const auto y = run(x, m, w.m, true);
    std::vector<float> rounded(w.m.cols);
    for (size_t r = 0; r < m; ++r) {
      round_activations_like_llamacpp(type, x.data() + r * w.m.cols, w.m.cols, rounded.data());
      for (uint32_t o = 0; o < w.m.rows; ++o) {
        double want = 0, magnitude = 0;
        for (uint32_t i = 0; i < w.m.cols; ++i) {
          const double p = double(w.dequantized[size_t(o) * w.m.cols + i]) * rounded[i];
          want += p;
          magnitude += std::fabs(p);
        }
        EXPECT_NEAR(y[r * w.m.rows + o], want, 1e-5 * magnitude + 1e-6)
            << ggml_type_name(type) << " row " << r << " output " << o;
      }
    }
  }
}

TEST(QuantKernel, Q8KActivationsAreGgmlsRoundingWithBlockSums) {
  auto x = random_floats(512, 23, 2.0f);
  std::fill_n(x.begin() + 256, 256, 0.0f);  // an all-zero block gets d = 0
  Q8KRows q;
  quantize_rows_q8_k(x.data(), 1, 512, q);
  std::vector<float> rounded(512);
  round_activations_like_llamacpp(GgmlType::Q4_K, x.data(), 512, rounded.data());
  for (size_t i = 0; i < 512; ++i) EXPECT_EQ(q.q[i] * q.d[i / 256], rounded[i]) << i;
  EXPECT_EQ(q.d[1], 0.0f);
  for (size_t j = 0; j < 32; ++j) {
    int sum = 0;
    for (size_t i = 0; i < 16; ++i) sum += q.q[16 * j + i];
    EXPECT_EQ(q.bsums[j], sum) << j;
  }
  for (size_t j = 0; j < 16; ++j) EXPECT_EQ(q.sums32[j], q.bsums[2 * j] + q.bsums[2 * j + 1]) << j;
}

// The vector quantization (AVX-512) against the plain loops: magnitudes from 1e-6 to 1e6, an
// all-zero block, a block whose largest magnitude occurs first as a negative then as a positive
// value (the first one is the signed max), and halfway products.
TEST(QuantKernel, Q8KVectorQuantizationGivesTheReferenceBits) {
  auto x = random_floats(8 * 768, 29, 1.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] *= std::pow(10.0f, float(int(i / 256) % 13 - 6));
  std::fill_n(x.begin() + 256, 256, 0.0f);
  x[512 + 7] = -50.0f;
  x[512 + 200] = 50.0f;
  x[1024] = -127.0f;  // scale -1: x + 0.5 are ties
  for (int i = 1; i < 256; ++i) x[1024 + i] = float(i % 200 - 100) + 0.5f;
  Q8KRows reference;
  quantize_rows_q8_k_reference(x.data(), 8, 768, reference);
  for (int level : {1, 3}) {  // the AVX2 and the AVX-512 quantizer
    ScopedIsa isa(level);
    SCOPED_TRACE(quant_kernel_isa());
    Q8KRows fast;
    quantize_rows_q8_k(x.data(), 8, 768, fast);
    EXPECT_EQ(fast.q, reference.q);
    EXPECT_EQ(fast.bsums, reference.bsums);
    EXPECT_EQ(fast.sums32, reference.sums32);
    ASSERT_EQ(fast.d.size(), reference.d.size());
    EXPECT_EQ(std::memcmp(fast.d.data(), reference.d.data(), fast.d.size() * sizeof(float)), 0);
  }
  RecordProperty("quant_isa", quant_kernel_isa());
}

TEST(QuantKernel, SupportsExactlyTheTypesItKeeps) {
  for (GgmlType type : kTypes) EXPECT_TRUE(quant_kernel_supports(type));
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_1, GgmlType::Q5_0})
    EXPECT_FALSE(quant_kernel_supports(type));
}

}  // namespace
}  // namespace tandem::engine::detail
