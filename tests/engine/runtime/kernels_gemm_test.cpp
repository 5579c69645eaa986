// The GEMM panels for many rows (engine/runtime/kernels_gemm.h): on Q8_0, Q4_0, Q4_K, Q5_K and
// Q6_K weights they give the scalar reference's bits and the per-row tiles' bits, called directly
// and through the matmul dispatch, at every ISA level this CPU has (AVX-512 VNNI, AVX-VNNI and
// AVX2 panels; the levels that ran are printed), for any batch and thread count, also on blocks
// of random bytes (every level, scale and min the formats can hold).
#include "engine/quant.h"
#include "engine/runtime/kernels.h"
#include "engine/runtime/kernels_gemm.h"
#include "engine/runtime/kernels_quant.h"
#include "engine/runtime/thread_pool.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
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

// Where each block format keeps its fp16 scales (offsets in the block).
std::vector<size_t> fp16_fields(GgmlType type) {
  switch (type) {
    case GgmlType::Q8_0: case GgmlType::Q4_0: return {0};
    case GgmlType::Q4_K: case GgmlType::Q5_K: return {0, 2};
    case GgmlType::Q6_K: return {208};
    default: return {};
  }
}

// A matrix kept in its file format: quantized from random weights, or random block bytes with
// finite fp16 scales (levels, 6-bit scales and mins at their extremes).
struct QuantMatrix {
  std::vector<uint8_t> blocks;
  Matrix m;
  QuantMatrix(GgmlType type, uint32_t rows, uint32_t cols, uint32_t seed, bool random_bytes = false) {
    const size_t row_bytes = ggml_row_bytes(type, cols);
    blocks.resize(rows * row_bytes);
    if (random_bytes) {
      std::mt19937 rng(seed);
      for (auto& b : blocks) b = static_cast<uint8_t>(rng());
      const size_t block_bytes = ggml_type_size(type);
      std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
      for (size_t off = 0; off < blocks.size(); off += block_bytes)
        for (size_t field : fp16_fields(type)) {
          const uint16_t h = fp32_to_fp16(scale(rng));
          std::memcpy(blocks.data() + off + field, &h, 2);
        }
    } else {
      const auto w = random_floats(size_t(rows) * cols, seed, 0.05f);
      for (uint32_t r = 0; r < rows; ++r)
        quantize_row(type, w.data() + size_t(r) * cols, blocks.data() + r * row_bytes, cols);
    }
    m.rows = rows;
    m.cols = cols;
    m.source_type = type;
    if (type == GgmlType::Q8_0) m.q8_0 = blocks.data();
    else m.quant = blocks.data();
  }
};

struct ScopedThreads {
  explicit ScopedThreads(unsigned n) { set_compute_threads(n); }
  ~ScopedThreads() { set_compute_threads(1); }
};
// The ISA limit of the kernel family the type uses: 0 scalar, 1 avx2, 2 avxvnni, 3 avx512vnni.
struct ScopedIsa {
  GgmlType type;
  ScopedIsa(GgmlType t, int level) : type(t) { set_limit(level); }
  ~ScopedIsa() { reset_kernel_isa_limits(); }
  void set_limit(int level) const {
    if (type == GgmlType::Q8_0) set_q8_kernel_isa_limit(level);
    else set_quant_kernel_isa_limit(level);
  }
};
std::string isa_name(GgmlType type) { return type == GgmlType::Q8_0 ? q8_kernel_isa() : quant_kernel_isa(); }

// Whether the dispatch at the ISA level in force takes GEMM panels for m rows.
bool takes_gemm(GgmlType type, size_t m) {
  const std::string name = isa_name(type);
  if (name == "avx512vnni") return gemm_kernels_available() && m >= gemm_min_rows(type, GemmIsa::avx512vnni);
  if (name == "avxvnni") return gemm_ymm_kernels_available(true) && m >= gemm_min_rows(type, GemmIsa::avxvnni);
  if (name == "avx2") return gemm_ymm_kernels_available(false) && m >= gemm_min_rows(type, GemmIsa::avx2);
  return false;
}

const GgmlType kTypes[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

std::vector<float> reference(const std::vector<float>& x, size_t m, const Matrix& w) {
  std::vector<float> y(m * w.rows);
  if (w.q8_0) {
    Q8Rows q;
    quantize_rows_q8_0(x.data(), m, w.cols, q);
    matmul_q8_0_q8_reference(q, m, w, y.data());
  } else {
    matmul_quant_reference(x.data(), m, w, y.data());
  }
  return y;
}

std::vector<float> dispatched(const std::vector<float>& x, size_t m, const Matrix& w) {
  std::vector<float> y(m * w.rows);
  if (w.q8_0) {
    Q8Rows q;
    quantize_rows_q8_0(x.data(), m, w.cols, q);
    matmul_q8_0_q8(q, m, w, y.data());
  } else {
    matmul_quant(x.data(), m, w, y.data());
  }
  return y;
}

// Activations whose row 1 has an all-zero 256-block (scale 0), which no random row would have.
std::vector<float> activations(size_t m, uint32_t cols, uint32_t seed) {
  auto x = random_floats(m * cols, seed, 1.0f);
  if (m > 1) std::fill_n(x.begin() + cols, 256, 0.0f);
  return x;
}

void expect_same_bits(const std::vector<float>& expected, const std::vector<float>& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  size_t differing = 0, first = 0;
  for (size_t i = 0; i < expected.size(); ++i)
    if (std::memcmp(&expected[i], &actual[i], sizeof(float)) != 0 && differing++ == 0) first = i;
  EXPECT_EQ(differing, 0u) << "first at " << first << ": " << expected[first] << " vs " << actual[first];
}

// Each panel kind this CPU can run, called directly.
struct PanelKind {
  std::string name;
  uint32_t rows;
  bool (*run)(const GemmActivations&, size_t, const Matrix&, uint32_t, uint32_t, float*, size_t);
};
std::vector<PanelKind> panel_kinds() {
  std::vector<PanelKind> kinds;
  if (gemm_kernels_available()) kinds.push_back({"avx512vnni", kGemmPanelRows, gemm_panel_avx512});
  if (gemm_ymm_kernels_available(true))
    kinds.push_back({"avxvnni", kGemmPanelRowsYmm, [](const GemmActivations& x, size_t m, const Matrix& w, uint32_t c0,
                                                      uint32_t c1, float* y, size_t ldy) {
                       return gemm_panel_avx2(x, m, w, c0, c1, y, ldy, true);
                     }});
  if (gemm_ymm_kernels_available(false))
    kinds.push_back({"avx2", kGemmPanelRowsYmm, [](const GemmActivations& x, size_t m, const Matrix& w, uint32_t c0,
                                                   uint32_t c1, float* y, size_t ldy) {
                       return gemm_panel_avx2(x, m, w, c0, c1, y, ldy, false);
                     }});
  return kinds;
}

// The panels called directly: every row count (full tiles and the odd rows), every panel of the
// matrix, at every panel ISA this CPU has, compared with the scalar reference.
TEST(GemmKernel, PanelsGiveTheReferenceBitsAtEveryIsaLevel) {
  const auto kinds = panel_kinds();
  if (kinds.empty()) GTEST_SKIP() << "no AVX2 on this CPU: no GEMM panel can run here";
  std::string ran;
  for (const PanelKind& kind : kinds) {
    ran += (ran.empty() ? "" : ",") + kind.name;
    for (GgmlType type : kTypes)
      for (bool random_bytes : {false, true}) {
        SCOPED_TRACE(kind.name + " " + std::string(ggml_type_name(type)) +
                     (random_bytes ? " random bytes" : " quantized"));
        QuantMatrix w(type, 48, 768, 3, random_bytes);
        for (size_t m : {1, 2, 7, 20}) {
          const auto x = activations(m, w.m.cols, 7 + static_cast<uint32_t>(m));
          Q8Rows q8;
          Q8KRows q8k;
          GemmActivations prepared;
          if (type == GgmlType::Q8_0 || type == GgmlType::Q4_0) {
            quantize_rows_q8_0(x.data(), m, w.m.cols, q8);
            prepared.q8_0 = &q8;
          } else {
            quantize_rows_q8_k(x.data(), m, w.m.cols, q8k);
            prepared.q8_k = &q8k;
          }
          prepare_gemm_activations(type, prepared);
          std::vector<float> y(m * w.m.rows, -1.0f);
          for (uint32_t c0 = 0; c0 < w.m.rows; c0 += kind.rows)
            ASSERT_TRUE(kind.run(prepared, m, w.m, c0, c0 + kind.rows, y.data(), w.m.rows));
          expect_same_bits(reference(x, m, w.m), y);
        }
      }
  }
  RecordProperty("gemm_panel_isas", ran);
  std::printf("GEMM panels checked directly at: %s\n", ran.c_str());
}

// Through the dispatch: batches below and above each level's gemm_min_rows, weight rows that
// leave a partial panel to the per-row tiles, 1-3 threads, each ISA level.
TEST(GemmKernel, DispatchGivesTheReferenceBitsAtEveryIsaLevelBatchAndThreadCount) {
  std::set<std::string> ran;
  for (GgmlType type : kTypes) {
    SCOPED_TRACE(std::string(ggml_type_name(type)));
    QuantMatrix w(type, 53, 512, 5);  // 3 full panels of 16 or 6 of 8, + 5 rows for the per-row tiles
    std::set<size_t> batches = {33};
    for (GemmIsa isa : {GemmIsa::avx2, GemmIsa::avxvnni, GemmIsa::avx512vnni}) {
      const size_t threshold = gemm_min_rows(type, isa);
      if (threshold > 64) continue;  // panels off at that level
      batches.insert(threshold);
      if (threshold > 1) batches.insert(threshold - 1);
    }
    for (size_t m : batches) {
      const auto x = activations(m, w.m.cols, 11 + static_cast<uint32_t>(m));
      const auto expected = reference(x, m, w.m);
      for (int level : {0, 1, 2, 3}) {
        ScopedIsa isa(type, level);
        ran.insert(isa_name(type) + (takes_gemm(type, m) ? "+gemm" : ""));
        for (unsigned threads : {1u, 2u, 3u}) {
          ScopedThreads t(threads);
          SCOPED_TRACE("m=" + std::to_string(m) + " isa=" + isa_name(type) + " threads=" + std::to_string(threads));
          expect_same_bits(expected, dispatched(x, m, w.m));
        }
      }
    }
  }
  std::string levels;
  for (const auto& l : ran) levels += (levels.empty() ? "" : ",") + l;
  RecordProperty("isa_levels_ran", levels);
  std::printf("GEMM dispatch checked at ISA levels: %s\n", levels.c_str());
}

// TANDEM_ISA names the starting level of every kernel family; anything else means the best.
TEST(GemmKernel, TheIsaEnvironmentVariableNamesTheStartingLevel) {
  const char* saved = std::getenv("TANDEM_ISA");
  const std::string restore = saved ? saved : "";
  const std::pair<const char*, int> cases[] = {{"scalar", 0}, {"avx2", 1}, {"avxvnni", 2}, {"avx512vnni", 3},
                                               {"", 3}, {"sse2", 3}};
  for (const auto& [value, level] : cases) {
    setenv("TANDEM_ISA", value, 1);
    EXPECT_EQ(isa_level_from_env(), level) << value;
  }
  unsetenv("TANDEM_ISA");
  EXPECT_EQ(isa_level_from_env(), 3);
  if (saved) setenv("TANDEM_ISA", restore.c_str(), 1);
}

// A row's result does not depend on which other rows share its batch (the GEMM path for a big
// batch and the per-row tiles for that row alone give the same bits).
TEST(GemmKernel, ARowsResultIsTheSameInABigBatchAndAlone) {
  for (GgmlType type : kTypes) {
    SCOPED_TRACE(std::string(ggml_type_name(type)));
    QuantMatrix w(type, 32, 256, 9);
    const size_t m = 24;
    const auto x = activations(m, w.m.cols, 21);
    for (int level : {1, 2, 3}) {
      ScopedIsa isa(type, level);
      SCOPED_TRACE(isa_name(type));
      const auto batch = dispatched(x, m, w.m);
      for (size_t r : {size_t{0}, size_t{13}, m - 1}) {
        const std::vector<float> row(x.begin() + r * w.m.cols, x.begin() + (r + 1) * w.m.cols);
        const auto alone = dispatched(row, 1, w.m);
        expect_same_bits(std::vector<float>(batch.begin() + r * w.m.rows, batch.begin() + (r + 1) * w.m.rows), alone);
      }
    }
  }
}

}  // namespace
}  // namespace tandem::engine::detail
