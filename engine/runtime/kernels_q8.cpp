// Q8_0 weights kept quantized: activations are quantized per 32-block the way llama.cpp does for
// Q8_0 weights, and each weight row is streamed once per call for a whole tile of batch rows.
// Decode at small batch is memory-bound, and this reads ~1.06 bytes per weight instead of 4.
#include "engine/quant.h"
#include "engine/runtime/kernels.h"
#include "engine/runtime/kernels_gemm.h"
#include "engine/runtime/thread_pool.h"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and trip -Wuninitialized once
// inlined (GCC PR 105593, fixed in 13); the values are fully overwritten.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

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

// A tile's weight rows are adjacent, so tile after tile reads one stream; but each row is short
// (816 bytes at dim 768), too short for the hardware prefetchers to ramp up per row. So each block
// step prefetches its share of the next tile plus a margin: the stream stays about one tile + 1 KB
// ahead of the loads, which doubled decode bandwidth (kernel_bench Stream*: a 1 KB lead was too
// short, 4-8 KB best).
size_t prefetch_offset(const Matrix& w, int tile_rows) {
  return static_cast<size_t>(tile_rows) * (w.cols / kQ8Block) * kQ8BlockBytes + 1024;
}

std::atomic<int> g_isa_limit{isa_level_from_env()};
int isa() { return usable_isa_level(g_isa_limit.load(std::memory_order_relaxed)); }

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
    _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r)                                                                          \
      _Pragma("GCC unroll 8") for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();                                       \
    const uint8_t* wrow[C];                                                                              \
    _Pragma("GCC unroll 8") for (int c = 0; c < C; ++c) wrow[c] = q8_row(w, c0 + c);                                             \
    const int8_t* xrow[R];                                                                               \
    const float* xd[R];                                                                                  \
    _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {                                                                        \
      xrow[r] = x.q.data() + (r0 + r) * x.cols;                                                          \
      xd[r] = x.d.data() + (r0 + r) * nb;                                                                \
    }                                                                                                    \
    const char* ahead = reinterpret_cast<const char*>(wrow[0]) + prefetch_offset(w, C);                  \
    for (size_t b = 0; b < nb; ++b) {                                                                    \
      /* The tile's rows are adjacent in memory: prefetch that one stream linearly, far ahead. */       \
      _Pragma("GCC unroll 8") for (int p = 0; p < (C * int(kQ8BlockBytes) + 63) / 64; ++p)              \
        _mm_prefetch(ahead + b * C * kQ8BlockBytes + 64 * p, _MM_HINT_T0);                               \
      __m256i wq[C], wabs[C];                                                                            \
      float dw[C];                                                                                       \
      _Pragma("GCC unroll 8") for (int c = 0; c < C; ++c) {                                                                      \
        const uint8_t* blk = wrow[c] + b * kQ8BlockBytes;                                                \
        dw[c] = _cvtsh_ss(read_u16(blk));                                                                \
        wq[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));                           \
        wabs[c] = _mm256_sign_epi8(wq[c], wq[c]);                                                        \
      }                                                                                                  \
      _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {                                                                      \
        const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xrow[r] + b * kQ8Block)); \
        const float dx = xd[r][b];                                                                       \
        _Pragma("GCC unroll 8") for (int c = 0; c < C; ++c) {                                                                    \
          const __m256i xs = _mm256_sign_epi8(xq, wq[c]);                                                \
          const __m256i lanes = LANES;                                                                   \
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw[c] * dx), _mm256_cvtepi32_ps(lanes), acc[r][c]); \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
    _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r)                                                                          \
      _Pragma("GCC unroll 8") for (int c = 0; c < C; ++c) {                                                                      \
        __m128 v = _mm_add_ps(_mm256_castps256_ps128(acc[r][c]), _mm256_extractf128_ps(acc[r][c], 1));   \
        v = _mm_add_ps(v, _mm_movehl_ps(v, v));                                                          \
        v = _mm_add_ss(v, _mm_movehdup_ps(v));                                                           \
        y[(r0 + r) * ldy + c0 + c] = _mm_cvtss_f32(v);                                                   \
      }                                                                                                  \
  }

TANDEM_Q8_TILE(tile_avx2, "avx2,fma,f16c", _mm256_madd_epi16(_mm256_maddubs_epi16(wabs[c], xs), ones))
TANDEM_Q8_TILE(tile_avxvnni, "avx2,fma,f16c,avxvnni", _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), wabs[c], xs))
// The odd weight rows left over by the AVX-512 tiles (EVEX-encoded dpbusd: no AVX-VNNI needed).
TANDEM_Q8_TILE(tile_avx512vl, "avx2,fma,f16c,avx512f,avx512vl,avx512vnni",
               _mm256_dpbusd_epi32(_mm256_setzero_si256(), wabs[c], xs))
#undef TANDEM_Q8_TILE

// AVX-512 VNNI: one zmm holds the same block of two adjacent weight rows, so every lane still runs
// its own chain of one FMA per block (the 256-bit order) while each instruction does two rows.
// Instead of moving signs around, x is biased to unsigned (x + 128) and the bias's contribution,
// -128 * (sum of each 4 weights), seeds dpbusd's accumulator: the int32 lanes are the same exact
// sums, with one dpbusd per (batch row, row pair) and the correction shared by the batch rows.
template <int R, int P>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c"))) void tile_avx512(
    const Q8Rows& x, size_t r0, const Matrix& w, uint32_t c0, float* y, size_t ldy) {
  const size_t nb = w.cols / kQ8Block;
  constexpr int C = 2 * P;
  const uint8_t* wrow[C];
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) wrow[c] = q8_row(w, c0 + c);
  const int8_t* xrow[R];
  const float* xd[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    xrow[r] = x.q.data() + (r0 + r) * x.cols;
    xd[r] = x.d.data() + (r0 + r) * nb;
  }
  __m512 acc[R][P];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const char* ahead = reinterpret_cast<const char*>(wrow[0]) + prefetch_offset(w, C);
  for (size_t b = 0; b < nb; ++b) {
#pragma GCC unroll 8
    for (int i = 0; i < (C * int(kQ8BlockBytes) + 63) / 64; ++i)
      _mm_prefetch(ahead + b * C * kQ8BlockBytes + 64 * i, _MM_HINT_T0);
    __m512i wq[P], seed[P];
    __m512 dw[P];
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) {
      const uint8_t* lo = wrow[2 * p] + b * kQ8BlockBytes;
      const uint8_t* hi = wrow[2 * p + 1] + b * kQ8BlockBytes;
      wq[p] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + 2))),
                                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi + 2)), 1);
      seed[p] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, wq[p]));
      dw[p] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(_cvtsh_ss(read_u16(lo)))),
                                 _mm256_set1_ps(_cvtsh_ss(read_u16(hi))), 1);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i xu = _mm512_xor_si512(
          _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xrow[r] + b * kQ8Block))), bias);
      const __m512 dx = _mm512_set1_ps(xd[r][b]);
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) {
        const __m512i lanes = _mm512_dpbusd_epi32(seed[p], xu, wq[p]);
        acc[r][p] = _mm512_fmadd_ps(_mm512_mul_ps(dw[p], dx), _mm512_cvtepi32_ps(lanes), acc[r][p]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        const __m256 a = half ? _mm512_extractf32x8_ps(acc[r][p], 1) : _mm512_castps512_ps256(acc[r][p]);
        __m128 v = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        v = _mm_add_ps(v, _mm_movehl_ps(v, v));
        v = _mm_add_ss(v, _mm_movehdup_ps(v));
        y[(r0 + r) * ldy + c0 + 2 * p + half] = _mm_cvtss_f32(v);
      }
}

using TileFn = void (*)(const Q8Rows&, size_t, const Matrix&, uint32_t, float*, size_t);
struct TileSet {
  TileFn r4, r1;        // 4 batch rows x r4_cols weight rows; 1 batch row x r1_cols weight rows
  uint32_t r4_cols, r1_cols;
  TileFn r4c1, r1c1;    // the leftover weight rows
};

const TileSet kAvx2{tile_avx2<4, 2>, tile_avx2<1, 4>, 2, 4, tile_avx2<4, 1>, tile_avx2<1, 1>};
const TileSet kAvxVnni{tile_avxvnni<4, 2>, tile_avxvnni<1, 4>, 2, 4, tile_avxvnni<4, 1>, tile_avxvnni<1, 1>};
const TileSet kAvx512{tile_avx512<4, 2>, tile_avx512<1, 4>, 4, 8, tile_avx512vl<4, 1>, tile_avx512vl<1, 1>};

// Weight rows [c0, c1) against every batch row: tiles of 4 batch rows x a few weight rows (the
// weights stay in L1 while the 4 activation rows pass), then the leftovers.
void panel(const TileSet& t, const Q8Rows& x, size_t m, const Matrix& w, uint32_t c0, uint32_t c1, float* y) {
  size_t r = 0;
  for (; r + 4 <= m; r += 4) {
    uint32_t c = c0;
    for (; c + t.r4_cols <= c1; c += t.r4_cols) t.r4(x, r, w, c, y, w.rows);
    for (; c < c1; ++c) t.r4c1(x, r, w, c, y, w.rows);
  }
  for (; r < m; ++r) {
    uint32_t c = c0;
    for (; c + t.r1_cols <= c1; c += t.r1_cols) t.r1(x, r, w, c, y, w.rows);
    for (; c < c1; ++c) t.r1c1(x, r, w, c, y, w.rows);
  }
}

}  // namespace

namespace {

// The scalar rounding 16 lanes at a time: max |x| is exact in any order, and each lane's product
// and round-to-nearest-even conversion are the scalar ones (a prefill quantizes every
// activation of every matmul, and the scalar loop called nearbyintf per element).
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))) void quantize_rows_q8_0_avx512(const float* x,
                                                                                                size_t m, size_t cols,
                                                                                                Q8Rows& out) {
  const size_t nb = cols / kQ8Block;
  for (size_t r = 0; r < m; ++r)
    for (size_t b = 0; b < nb; ++b) {
      const float* xb = x + r * cols + b * kQ8Block;
      int8_t* qb = out.q.data() + r * cols + b * kQ8Block;
      const __m512 lo = _mm512_loadu_ps(xb), hi = _mm512_loadu_ps(xb + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
      const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qb), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(lo, id))));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qb + 16),
                       _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(hi, id))));
      out.d[r * nb + b] = fp16_to_fp32(fp32_to_fp16(amax / 127.0f));
    }
}

// The same 8 lanes at a time for AVX2 CPUs; the int32 -> int8 packing order is ggml's, each value
// keeps its low byte as the AVX-512 narrowing does (a denormal block's infinite scale too).
__attribute__((target("avx2,fma,f16c"))) void quantize_rows_q8_0_avx2(const float* x, size_t m, size_t cols,
                                                                    Q8Rows& out) {
  const size_t nb = cols / kQ8Block;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i low_byte = _mm256_set1_epi32(0xFF);
  for (size_t r = 0; r < m; ++r)
    for (size_t b = 0; b < nb; ++b) {
      const float* xb = x + r * cols + b * kQ8Block;
      int8_t* qb = out.q.data() + r * cols + b * kQ8Block;
      __m256 v[4];
      for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(xb + 8 * i);
      const __m256 m01 = _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1]));
      const __m256 m23 = _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3]));
      const __m256 m8 = _mm256_max_ps(m01, m23);
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
      const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
      __m256i q[4];
      for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));
      for (int i = 0; i < 4; ++i) q[i] = _mm256_and_si256(q[i], low_byte);
      const __m256i packed = _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb), _mm256_permutevar8x32_epi32(packed, order));
      out.d[r * nb + b] = fp16_to_fp32(fp32_to_fp16(amax / 127.0f));
    }
}

}  // namespace

void quantize_rows_q8_0(const float* x, size_t m, size_t cols, Q8Rows& out) {
  static const bool avx2 =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  static const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                             __builtin_cpu_supports("avx512vl");
  const int limit = g_isa_limit.load(std::memory_order_relaxed);
  if (!avx2 || limit < 1) return quantize_rows_q8_0_reference(x, m, cols, out);
  out.cols = cols;
  out.q.resize(m * cols);
  out.d.resize(m * cols / kQ8Block);
  if (avx512 && limit >= 3) quantize_rows_q8_0_avx512(x, m, cols, out);
  else quantize_rows_q8_0_avx2(x, m, cols, out);
}

void quantize_rows_q8_0_reference(const float* x, size_t m, size_t cols, Q8Rows& out) {
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
  const TileSet& tiles = level >= 3 ? kAvx512 : level == 2 ? kAvxVnni : kAvx2;
  auto pool = compute_pool();
  const bool zmm_panels = level >= 3 && gemm_kernels_available();
  if ((zmm_panels || gemm_ymm_kernels_available(level == 2)) &&
      m >= gemm_min_rows(GgmlType::Q8_0, static_cast<GemmIsa>(level))) {
    // Many rows: GEMM panels of 16 (AVX-512) or 8 (AVX2, AVX-VNNI) weight rows (kernels_gemm.h);
    // the rows past the last full panel take the tiles above. Same bits either way.
    // (A reference: inside the lambda the thread_local's name would be each worker's own copy.)
    static thread_local GemmActivations caller_activations;
    GemmActivations& prepared = caller_activations;
    prepared.q8_0 = &x;
    prepare_gemm_activations(GgmlType::Q8_0, prepared);
    const uint32_t panel_rows = zmm_panels ? kGemmPanelRows : kGemmPanelRowsYmm;
    const uint32_t panels = w.rows / panel_rows, full = panels * panel_rows;
    pool->parallel_for(panels + (full < w.rows ? 1 : 0), [&](size_t t) {
      const uint32_t c0 = static_cast<uint32_t>(t) * panel_rows;
      if (t >= panels) panel(tiles, x, m, w, full, w.rows, y);
      else if (zmm_panels) gemm_panel_avx512(prepared, m, w, c0, c0 + panel_rows, y, w.rows);
      else gemm_panel_avx2(prepared, m, w, c0, c0 + panel_rows, y, w.rows, level == 2);
    });
    return;
  }
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
    case 3: return "avx512vnni";
    case 2: return "avxvnni";
    case 1: return "avx2";
    default: return "scalar";
  }
}

void set_q8_kernel_isa_limit(int level) { g_isa_limit.store(level); }

bool cpu_has_isa_level(int level) {
  static const bool avx2 =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  static const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                             __builtin_cpu_supports("avx512vnni");
  static const bool avxvnni = avx2 && __builtin_cpu_supports("avxvnni");
  switch (level) {
    case 3: return avx512;
    case 2: return avxvnni;
    case 1: return avx2;
    default: return true;
  }
}

int usable_isa_level(int limit) {
  int level = std::clamp(limit, 0, 3);
  while (!cpu_has_isa_level(level)) --level;
  return level;
}

int isa_level_from_env() {
  const char* value = std::getenv("TANDEM_ISA");
  const std::string name = value ? value : "";
  if (name == "scalar") return 0;
  if (name == "avx2") return 1;
  if (name == "avxvnni") return 2;
  return 3;
}

void weight_row(const Matrix& w, uint32_t row, float* out) {
  if (w.data) {
    std::copy_n(w.data + static_cast<size_t>(row) * w.cols, w.cols, out);
    return;
  }
  if (w.q8_0) return dequantize_row(GgmlType::Q8_0, q8_row(w, row), out, w.cols);
  dequantize_row(w.source_type, w.quant + static_cast<size_t>(row) * ggml_row_bytes(w.source_type, w.cols), out,
                 w.cols);
}

}  // namespace tandem::engine::detail
