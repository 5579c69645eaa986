// Q8_0 weights kept quantized: activations are quantized per 32-block the way llama.cpp does for
// Q8_0 weights, and each weight row is streamed once per call for a whole tile of batch rows.
// Decode at small batch is memory-bound, and this reads ~1.06 bytes per weight instead of 4.
#include "engine/quant.h"
#include "engine/runtime/kernels.h"
#include "engine/runtime/thread_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

namespace tandem::engine::detail {

namespace {

inline const uint8_t* q8_row(const Matrix& w, uint32_t row) {
  return w.q8_0 + static_cast<size_t>(row) * (w.cols / kQ8Block) * kQ8BlockBytes;
}

inline uint16_t read_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

int best_isa() {
  static const int level = [] {
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))) return 0;
    if (__builtin_cpu_supports("avxvnni")) return 2;
    return 1;
  }();
  return level;
}
std::atomic<int> g_isa_limit{3};
int isa() { return std::min(best_isa(), g_isa_limit.load(std::memory_order_relaxed)); }

// The int32 lanes of one block pair: lane i = sum of the products of bytes 4i..4i+3 (maddubs
// then madd and dpbusd group them alike, and the sums are exact, so both give the same lanes).
// |w| goes to the unsigned operand and the sign moves to x, ggml's trick for maddubs.
#define TANDEM_Q8_TILE(NAME, TARGET, LANES)                                                              \
  template <int R, int C>                                                                                \
  __attribute__((target(TARGET))) void NAME(const Q8Rows& x, size_t r0, const Matrix& w, uint32_t c0,    \
                                            float* y, size_t ldy) {                                      \
    const size_t nb = w.cols / kQ8Block;                                                                 \
    [[maybe_unused]] const __m256i ones = _mm256_set1_epi16(1);                                          \
    __m256 acc[R][C];                                                                                    \
    for (int r = 0; r < R; ++r)                                                                          \
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();                                       \
    const uint8_t* wrow[C];                                                                              \
    for (int c = 0; c < C; ++c) wrow[c] = q8_row(w, c0 + c);                                             \
    const int8_t* xrow[R];                                                                               \
    const float* xd[R];                                                                                  \
    for (int r = 0; r < R; ++r) {                                                                        \
      xrow[r] = x.q.data() + (r0 + r) * x.cols;                                                          \
      xd[r] = x.d.data() + (r0 + r) * nb;                                                                \
    }                                                                                                    \
    for (size_t b = 0; b < nb; ++b) {                                                                    \
      __m256i wq[C], wabs[C];                                                                            \
      float dw[C];                                                                                       \
      for (int c = 0; c < C; ++c) {                                                                      \
        const uint8_t* blk = wrow[c] + b * kQ8BlockBytes;                                                \
        _mm_prefetch(reinterpret_cast<const char*>(blk) + 512, _MM_HINT_T0);                             \
        dw[c] = _cvtsh_ss(read_u16(blk));                                                                \
        wq[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));                           \
        wabs[c] = _mm256_sign_epi8(wq[c], wq[c]);                                                        \
      }                                                                                                  \
      for (int r = 0; r < R; ++r) {                                                                      \
        const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xrow[r] + b * kQ8Block)); \
        const float dx = xd[r][b];                                                                       \
        for (int c = 0; c < C; ++c) {                                                                    \
          const __m256i xs = _mm256_sign_epi8(xq, wq[c]);                                                \
          const __m256i lanes = LANES;                                                                   \
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw[c] * dx), _mm256_cvtepi32_ps(lanes), acc[r][c]); \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
    for (int r = 0; r < R; ++r)                                                                          \
      for (int c = 0; c < C; ++c) {                                                                      \
        __m128 v = _mm_add_ps(_mm256_castps256_ps128(acc[r][c]), _mm256_extractf128_ps(acc[r][c], 1));   \
        v = _mm_add_ps(v, _mm_movehl_ps(v, v));                                                          \
        v = _mm_add_ss(v, _mm_movehdup_ps(v));                                                           \
        y[(r0 + r) * ldy + c0 + c] = _mm_cvtss_f32(v);                                                   \
      }                                                                                                  \
  }

TANDEM_Q8_TILE(tile_avx2, "avx2,fma,f16c", _mm256_madd_epi16(_mm256_maddubs_epi16(wabs[c], xs), ones))
TANDEM_Q8_TILE(tile_avxvnni, "avx2,fma,f16c,avxvnni", _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), wabs[c], xs))
#undef TANDEM_Q8_TILE

using TileFn = void (*)(const Q8Rows&, size_t, const Matrix&, uint32_t, float*, size_t);
struct TileSet {
  TileFn r4c2, r1c4, r4c1, r1c1;
};

const TileSet kAvx2{tile_avx2<4, 2>, tile_avx2<1, 4>, tile_avx2<4, 1>, tile_avx2<1, 1>};
const TileSet kAvxVnni{tile_avxvnni<4, 2>, tile_avxvnni<1, 4>, tile_avxvnni<4, 1>, tile_avxvnni<1, 1>};

// Weight rows [c0, c1) against every batch row: tiles of 4 batch rows x 2 weight rows (the
// weights stay in L1 while the 4 activation rows pass), then the leftovers.
void panel(const TileSet& t, const Q8Rows& x, size_t m, const Matrix& w, uint32_t c0, uint32_t c1, float* y) {
  size_t r = 0;
  for (; r + 4 <= m; r += 4) {
    uint32_t c = c0;
    for (; c + 2 <= c1; c += 2) t.r4c2(x, r, w, c, y, w.rows);
    for (; c < c1; ++c) t.r4c1(x, r, w, c, y, w.rows);
  }
  for (; r < m; ++r) {
    uint32_t c = c0;
    for (; c + 4 <= c1; c += 4) t.r1c4(x, r, w, c, y, w.rows);
    for (; c < c1; ++c) t.r1c1(x, r, w, c, y, w.rows);
  }
}

}  // namespace

void quantize_rows_q8_0(const float* x, size_t m, size_t cols, Q8Rows& out) {
  const size_t nb = cols / kQ8Block;
  out.cols = cols;
  out.q.resize(m * cols);
  out.d.resize(m * nb);
  for (size_t r = 0; r < m; ++r) {
    for (size_t b = 0; b < nb; ++b) {
      const float* xb = x + r * cols + b * kQ8Block;
      int8_t* qb = out.q.data() + r * cols + b * kQ8Block;
      float amax = 0.0f;
      for (size_t i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(xb[i]));
      const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
      for (size_t i = 0; i < kQ8Block; ++i) qb[i] = static_cast<int8_t>(std::nearbyint(xb[i] * id));
      out.d[r * nb + b] = fp16_to_fp32(fp32_to_fp16(amax / 127.0f));
    }
  }
}

void matmul_q8_0_q8_reference(const Q8Rows& x, size_t m, const Matrix& w, float* y) {
  const size_t nb = w.cols / kQ8Block;
  for (size_t r = 0; r < m; ++r)
    for (uint32_t o = 0; o < w.rows; ++o) {
      const uint8_t* row = q8_row(w, o);
      // 8 lanes of 4 consecutive products each, scaled and accumulated per block with a fused
      // multiply-add, then summed pairwise (lane i + lane i+4, ...): the fast path's order.
      float lanes[8] = {};
      for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = row + b * kQ8BlockBytes;
        const int8_t* xq = x.q.data() + r * x.cols + b * kQ8Block;
        const float scale = fp16_to_fp32(read_u16(blk)) * x.d[r * nb + b];
        for (size_t lane = 0; lane < 8; ++lane) {
          int32_t isum = 0;
          for (size_t i = 4 * lane; i < 4 * lane + 4; ++i) isum += int32_t(static_cast<int8_t>(blk[2 + i])) * xq[i];
          lanes[lane] = std::fma(scale, static_cast<float>(isum), lanes[lane]);
        }
      }
      float quad[4];
      for (size_t i = 0; i < 4; ++i) quad[i] = lanes[i] + lanes[i + 4];
      y[r * w.rows + o] = (quad[0] + quad[2]) + (quad[1] + quad[3]);
    }
}

void matmul_q8_0_q8(const Q8Rows& x, size_t m, const Matrix& w, float* y) {
  const int level = isa();
  if (level == 0) return matmul_q8_0_q8_reference(x, m, w, y);
  const TileSet& tiles = level >= 2 ? kAvxVnni : kAvx2;
  auto pool = compute_pool();
  // Panels small enough to stay in L2 while the batch passes, and enough of them to balance the
  // threads; the split never changes what an element computes.
  const size_t row_bytes = w.cols / kQ8Block * kQ8BlockBytes;
  const size_t l2_rows = std::max<size_t>(4, 512 * 1024 / row_bytes);
  const size_t balanced = (w.rows + 8 * pool->threads() - 1) / (8 * pool->threads());
  const uint32_t step = static_cast<uint32_t>(std::max<size_t>(4, (std::min(l2_rows, balanced) + 3) / 4 * 4));
  const size_t n_tasks = (w.rows + step - 1) / step;
  pool->parallel_for(n_tasks, [&](size_t t) {
    const uint32_t c0 = static_cast<uint32_t>(t) * step;
    panel(tiles, x, m, w, c0, std::min(w.rows, c0 + step), y);
  });
}

const char* q8_kernel_isa() {
  switch (isa()) {
    case 2: return "avxvnni";
    case 1: return "avx2";
    default: return "scalar";
  }
}

void set_q8_kernel_isa_limit(int level) { g_isa_limit.store(level); }

void weight_row(const Matrix& w, uint32_t row, float* out) {
  if (w.data) {
    std::copy_n(w.data + static_cast<size_t>(row) * w.cols, w.cols, out);
    return;
  }
  dequantize_row(GgmlType::Q8_0, q8_row(w, row), out, w.cols);
}

}  // namespace tandem::engine::detail
