// The F32 GEMM with llama.cpp's summation orders (its AVX-512 build, which made the golden files),
// emulated with pairs of ymm registers. ggml picks the order by the matmul's batch shape:
//  - prompt order (tinyBLAS, >= 2 rows): per output one 16-lane FMA chain over k, then
//    _mm512_reduce_add_ps; k % 16 != 0 falls back to the decode order;
//  - decode order (ggml_vec_dot_f32, 1 row): four 16-lane accumulators over 64-element steps,
//    reduced (a0 + a2) + (a1 + a3), the same 16 -> 1 reduction, then a scalar tail whose products
//    are rounded before the add.
// We choose per sequence (F32Order per row), never by the whole batch, so a row's bits depend only
// on its own sequence's shape in the step: batch invariance holds and one-sequence steps (the
// golden server's situation) reproduce llama.cpp. On an AVX-512 CPU the same chains run in zmm.
#include "engine/runtime/kernels.h"
#include "engine/runtime/kernels_quant.h"
#include "engine/runtime/thread_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

namespace tandem::engine::detail {

namespace {

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

// _mm512_reduce_add_ps's tree (GCC's): halves added, then quarters, then (u0 + u2) + (u1 + u3).
float reduce16_reference(const float* a) {
  float t[8], u[4];
  for (int l = 0; l < 8; ++l) t[l] = a[l + 8] + a[l];
  for (int l = 0; l < 4; ++l) u[l] = t[l + 4] + t[l];
  return (u[0] + u[2]) + (u[1] + u[3]);
}

float dot_prompt_order_reference(const float* a, const float* b, size_t k) {
  float acc[16] = {};
  for (size_t i = 0; i < k; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] = std::fma(a[i + l], b[i + l], acc[l]);
  return reduce16_reference(acc);
}

// The tail's product and sum rounded separately. This file is compiled for baseline x86-64 and
// this function is never inlined into the AVX2 code, so the compiler cannot contract it.
__attribute__((noinline)) float add_tail_products(float sum, const float* a, const float* b, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    const float p = a[i] * b[i];
    sum += p;
  }
  return sum;
}

float dot_decode_order_reference(const float* a, const float* b, size_t k) {
  const size_t np = k & ~size_t(63);
  float acc[4][16] = {};
  for (size_t i = 0; i < np; i += 64)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 16; ++l) acc[j][l] = std::fma(a[i + 16 * j + l], b[i + 16 * j + l], acc[j][l]);
  float r[16];
  for (int l = 0; l < 16; ++l) r[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
  return add_tail_products(reduce16_reference(r), a, b, np, k);
}

bool prompt_order_applies(F32Order order, size_t k) { return order == F32Order::prompt && k % 16 == 0; }

// ---- AVX2: a 16-lane vector is a (lo, hi) pair of ymm ----

__attribute__((target("avx2,fma"))) inline float reduce16(__m256 lo, __m256 hi) {
  const __m256 t = _mm256_add_ps(hi, lo);
  const __m128 u = _mm_add_ps(_mm256_extractf128_ps(t, 1), _mm256_castps256_ps128(t));
  const __m128 v = _mm_add_ps(u, _mm_movehl_ps(u, u));  // (u0 + u2, u1 + u3)
  return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
}

// R activation rows x C weight rows of 16-lane FMA chains over elements begin, begin + stride, ...
// (16 at a time) below end, into acc[r][c][0..1]. Fully unrolled so the 2*R*C accumulators stay in
// registers (<= 12 ymm). `ahead` (when not null) is streamed into L1 along the way: the next
// tile's weight rows, which are adjacent in memory, `lines_per_step` cache lines per step.
template <int R, int C>
__attribute__((target("avx2,fma"))) inline void chains16(const float* x, size_t ldx, const float* w, size_t ldw,
                                                         size_t begin, size_t end, size_t stride, const char* ahead,
                                                         int lines_per_step, __m256 (&out)[R][C][2]) {
  __m256 acc[R][C][2];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) acc[r][c][0] = acc[r][c][1] = _mm256_setzero_ps();
  size_t step = 0;
  for (size_t i = begin; i < end; i += stride, ++step) {
    if (ahead)
      for (int p = 0; p < lines_per_step; ++p) _mm_prefetch(ahead + (step * lines_per_step + p) * 64, _MM_HINT_T0);
    // Half by half: R activation vectors + 1 weight vector + the accumulators fit the 16 ymm, so
    // each load feeds R (or C) FMAs.
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256 xv[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) xv[r] = _mm256_loadu_ps(x + r * ldx + i + 8 * h);
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        const __m256 wv = _mm256_loadu_ps(w + c * ldw + i + 8 * h);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[r][c][h] = _mm256_fmadd_ps(xv[r], wv, acc[r][c][h]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) out[r][c][0] = acc[r][c][0], out[r][c][1] = acc[r][c][1];
}

template <int R, int C>
__attribute__((target("avx2,fma"))) void tile_prompt(const float* x, size_t ldx, const float* w, size_t k, float* y,
                                                     size_t ldy, const char* ahead) {
  __m256 acc[R][C][2];
  chains16<R, C>(x, ldx, w, k, 0, k, 16, ahead, C, acc);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) y[r * ldy + c] = reduce16(acc[r][c][0], acc[r][c][1]);
}

// The four accumulators of ggml_vec_dot_f32 are independent chains: one pass over the tile per
// accumulator keeps 2 ymm per output (the tile's weight rows stay in L1 between the passes).
template <int R, int C>
__attribute__((target("avx2,fma"))) void tile_decode(const float* x, size_t ldx, const float* w, size_t k, float* y,
                                                     size_t ldy, const char* ahead) {
  const size_t np = k & ~size_t(63);
  __m256 a[4][R][C][2];
  // Each pass prefetches a quarter of the next tile: a burst of 4*C lines per step would fill the
  // miss buffers.
  const size_t quarter = ahead ? np / 64 * C * 64 : 0;
  chains16<R, C>(x, ldx, w, k, 0, np, 64, ahead, C, a[0]);
  chains16<R, C>(x, ldx, w, k, 16, np, 64, ahead ? ahead + quarter : nullptr, C, a[1]);
  chains16<R, C>(x, ldx, w, k, 32, np, 64, ahead ? ahead + 2 * quarter : nullptr, C, a[2]);
  chains16<R, C>(x, ldx, w, k, 48, np, 64, ahead ? ahead + 3 * quarter : nullptr, C, a[3]);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      __m256 s[2];
      for (int h = 0; h < 2; ++h)
        s[h] = _mm256_add_ps(_mm256_add_ps(a[0][r][c][h], a[2][r][c][h]), _mm256_add_ps(a[1][r][c][h], a[3][r][c][h]));
      const float sum = reduce16(s[0], s[1]);
      y[r * ldy + c] = np == k ? sum : add_tail_products(sum, x + r * ldx, w + c * k, np, k);
    }
}

// Weight rows c0..c1 against R activation rows of one order; C weight rows per tile (2*R*C ymm).
template <int R>
__attribute__((target("avx2,fma"))) void row_tile(const float* x, size_t k, bool prompt, bool prefetch,
                                                  const Matrix& w, float* y, uint32_t c0, uint32_t c1) {
  constexpr int C = R == 1 ? 4 : R == 2 ? 3 : 2;
  const float* base = w.data;
  uint32_t c = c0;
  for (; c + C <= c1; c += C) {
    const float* wt = base + static_cast<size_t>(c) * k;
    // Prefetch the next tile from 1 KB ahead (the hardware prefetchers alone left F32 decode well
    // under the memory bandwidth); the panel's first row tile pulls it, the others find it in L2.
    const char* ahead = prefetch ? reinterpret_cast<const char*>(wt + C * k) + 1024 : nullptr;
    if (prompt)
      tile_prompt<R, C>(x, k, wt, k, y + c, w.rows, ahead);
    else
      tile_decode<R, C>(x, k, wt, k, y + c, w.rows, ahead);
  }
  for (; c < c1; ++c) {
    const float* wt = base + static_cast<size_t>(c) * k;
    if (prompt)
      tile_prompt<R, 1>(x, k, wt, k, y + c, w.rows, nullptr);
    else
      tile_decode<R, 1>(x, k, wt, k, y + c, w.rows, nullptr);
  }
}

// ---- AVX-512 (when the CPU has it): the same chains with llama.cpp's own registers; the 32
// registers let a tile reuse each load across more FMAs ----

// _mm512_reduce_add_ps's tree (GCC 12's intrinsic itself warns about its own uninitialized operand).
__attribute__((target("avx512f"))) inline float reduce512(__m512 v) {
  __m256 half[2];
  std::memcpy(half, &v, sizeof v);
  const __m256 t = _mm256_add_ps(half[1], half[0]);
  const __m128 u = _mm_add_ps(_mm256_extractf128_ps(t, 1), _mm256_castps256_ps128(t));
  const __m128 p = _mm_add_ps(u, _mm_movehl_ps(u, u));
  return _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)));
}

template <int R, int C>
__attribute__((target("avx512f"))) inline void chains16_512(const float* x, size_t ldx, const float* w, size_t ldw,
                                                            size_t begin, size_t end, size_t stride,
                                                            const char* ahead, int lines_per_step,
                                                            __m512 (&out)[R][C]) {
  __m512 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  size_t step = 0;
  for (size_t i = begin; i < end; i += stride, ++step) {
    if (ahead)
      for (int p = 0; p < lines_per_step; ++p) _mm_prefetch(ahead + (step * lines_per_step + p) * 64, _MM_HINT_T0);
    __m512 xv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) xv[r] = _mm512_loadu_ps(x + r * ldx + i);
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const __m512 wv = _mm512_loadu_ps(w + c * ldw + i);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][c] = _mm512_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) out[r][c] = acc[r][c];
}

template <int R, int C>
__attribute__((target("avx512f"))) void tile_prompt_512(const float* x, size_t ldx, const float* w, size_t k, float* y,
                                                        size_t ldy, const char* ahead) {
  __m512 acc[R][C];
  chains16_512<R, C>(x, ldx, w, k, 0, k, 16, ahead, C, acc);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) y[r * ldy + c] = reduce512(acc[r][c]);
}

template <int R, int C>
__attribute__((target("avx512f"))) void tile_decode_512(const float* x, size_t ldx, const float* w, size_t k, float* y,
                                                        size_t ldy, const char* ahead) {
  const size_t np = k & ~size_t(63);
  const size_t quarter = ahead ? np / 64 * C * 64 : 0;  // bytes of the next tile each pass prefetches
  __m512 a[4][R][C];
  chains16_512<R, C>(x, ldx, w, k, 0, np, 64, ahead, C, a[0]);
  chains16_512<R, C>(x, ldx, w, k, 16, np, 64, ahead ? ahead + quarter : nullptr, C, a[1]);
  chains16_512<R, C>(x, ldx, w, k, 32, np, 64, ahead ? ahead + 2 * quarter : nullptr, C, a[2]);
  chains16_512<R, C>(x, ldx, w, k, 48, np, 64, ahead ? ahead + 3 * quarter : nullptr, C, a[3]);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      const __m512 s = _mm512_add_ps(_mm512_add_ps(a[0][r][c], a[2][r][c]), _mm512_add_ps(a[1][r][c], a[3][r][c]));
      const float sum = reduce512(s);
      y[r * ldy + c] = np == k ? sum : add_tail_products(sum, x + r * ldx, w + c * k, np, k);
    }
}

template <int R, int C, bool kPrompt>
__attribute__((target("avx512f"))) void tiles_512(const float* x, size_t k, bool prefetch, const Matrix& w, float* y,
                                                  uint32_t c0, uint32_t c1) {
  uint32_t c = c0;
  for (; c + C <= c1; c += C) {
    const float* wt = w.data + static_cast<size_t>(c) * k;
    const char* ahead = prefetch ? reinterpret_cast<const char*>(wt + C * k) + 1024 : nullptr;
    if constexpr (kPrompt)
      tile_prompt_512<R, C>(x, k, wt, k, y + c, w.rows, ahead);
    else
      tile_decode_512<R, C>(x, k, wt, k, y + c, w.rows, ahead);
  }
  for (; c < c1; ++c) {
    const float* wt = w.data + static_cast<size_t>(c) * k;
    if constexpr (kPrompt)
      tile_prompt_512<R, 1>(x, k, wt, k, y + c, w.rows, nullptr);
    else
      tile_decode_512<R, 1>(x, k, wt, k, y + c, w.rows, nullptr);
  }
}

// R*C accumulators + R activations + 1 weight <= 32 zmm (the decode tiles' four passes keep one
// accumulator per output live at a time, like the prompt tiles).
template <int R>
__attribute__((target("avx512f"))) void row_tile_512(const float* x, size_t k, bool prompt, bool prefetch,
                                                     const Matrix& w, float* y, uint32_t c0, uint32_t c1) {
  if (prompt)
    tiles_512<R, R == 4 ? 6 : 8, true>(x, k, prefetch, w, y, c0, c1);
  else
    tiles_512<R, R == 4 ? 6 : 8, false>(x, k, prefetch, w, y, c0, c1);
}

bool cpu_has_avx512f() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

// TANDEM_ISA's levels (kernels.h) mapped onto this family's: AVX-VNNI adds nothing to F32, so
// avx2 and avxvnni both mean the AVX2 path.
int f32_level_from_env() {
  const int level = isa_level_from_env();
  return level >= 3 ? 2 : level >= 1 ? 1 : 0;
}
std::atomic<int> isa_limit{f32_level_from_env()};

int f32_isa_level() {
  const int limit = isa_limit.load(std::memory_order_relaxed);
  if (limit >= 2 && cpu_has_avx512f()) return 2;
  if (limit >= 1 && cpu_has_avx2_fma()) return 1;
  return 0;
}

// Rows of the same order go through the kernel together, up to 3 (AVX2) or 4 (AVX-512) at a time.
void panel(int isa, bool decode_zmm, const float* x, size_t m, const F32Order* orders, const Matrix& w, float* y,
           uint32_t c0, uint32_t c1) {
  const size_t k = w.cols;
  size_t r = 0;
  while (r < m) {
    const bool prompt = prompt_order_applies(orders[r], k);
    const bool zmm = isa == 2 && (prompt || decode_zmm);
    const size_t max_run = zmm ? 4 : 3;
    size_t run = 1;
    while (run < max_run && r + run < m && prompt_order_applies(orders[r + run], k) == prompt) ++run;
    const float* xr = x + r * k;
    float* yr = y + r * w.rows;
    const bool prefetch = r == 0;
    if (zmm) {
      switch (run) {
        case 4: row_tile_512<4>(xr, k, prompt, prefetch, w, yr, c0, c1); break;
        case 3: row_tile_512<3>(xr, k, prompt, prefetch, w, yr, c0, c1); break;
        case 2: row_tile_512<2>(xr, k, prompt, prefetch, w, yr, c0, c1); break;
        default: row_tile_512<1>(xr, k, prompt, prefetch, w, yr, c0, c1);
      }
    } else {
      switch (run) {
        case 3: row_tile<3>(xr, k, prompt, prefetch, w, yr, c0, c1); break;
        case 2: row_tile<2>(xr, k, prompt, prefetch, w, yr, c0, c1); break;
        default: row_tile<1>(xr, k, prompt, prefetch, w, yr, c0, c1);
      }
    }
    r += run;
  }
}

// Panels of weight rows small enough to stay in L2 while every activation row passes by, and
// enough of them to balance the pool's threads; an element's chains are the same in any panel.
// Panel heights are multiples of 24, which every tile width (8, 6, 4, 3, 2) divides.
void matmul_ggml_simd(int isa, const float* x, size_t m, const F32Order* orders, const Matrix& w, float* y) {
  auto pool = compute_pool();
  const size_t l2_rows = 256 * 1024 / (w.cols * sizeof(float));
  const size_t balanced = (w.rows + 8 * pool->threads() - 1) / (8 * pool->threads());
  const uint32_t step = static_cast<uint32_t>(std::max<size_t>(24, (std::min(l2_rows, balanced) + 23) / 24 * 24));
  const size_t n_tasks = (w.rows + step - 1) / step;
  // Few decode rows are bound by the weight stream, where zmm loads lose (weight rows are only
  // 32-byte aligned in a GGUF mapping, so every other 64-byte load splits a cache line); many are
  // bound by the FMAs, where zmm wins. Both paths give the same bits.
  size_t decode_rows = 0;
  for (size_t r = 0; r < m; ++r) decode_rows += !prompt_order_applies(orders[r], w.cols);
  const bool decode_zmm = decode_rows >= 8;
  pool->parallel_for(n_tasks, [&](size_t t) {
    const uint32_t c0 = static_cast<uint32_t>(t) * step;
    panel(isa, decode_zmm, x, m, orders, w, y, c0, std::min(w.rows, c0 + step));
  });
}

}  // namespace

float dot_f32_ggml_reference(const float* a, const float* b, size_t k, F32Order order) {
  return prompt_order_applies(order, k) ? dot_prompt_order_reference(a, b, k) : dot_decode_order_reference(a, b, k);
}

void matmul_f32_ggml_reference(const float* x, size_t m, const F32Order* orders, const Matrix& w, float* y) {
  std::vector<float> row(w.data ? 0 : w.cols);
  for (uint32_t o = 0; o < w.rows; ++o) {
    const float* wr = w.data ? w.data + static_cast<size_t>(o) * w.cols : row.data();
    if (!w.data) weight_row(w, o, row.data());
    for (size_t r = 0; r < m; ++r) y[r * w.rows + o] = dot_f32_ggml_reference(wr, x + r * w.cols, w.cols, orders[r]);
  }
}

void matmul_f32_ggml(const float* x, size_t m, const F32Order* orders, const Matrix& w, float* y) {
  const int isa = f32_isa_level();
  if (isa == 0 || !w.data) return matmul_f32_ggml_reference(x, m, orders, w, y);
  matmul_ggml_simd(isa, x, m, orders, w, y);
}

const char* f32_kernel_isa() {
  static const char* const names[] = {"scalar", "avx2", "avx512"};
  return names[f32_isa_level()];
}

void set_f32_kernel_isa_limit(int level) { isa_limit.store(level, std::memory_order_relaxed); }

void reset_kernel_isa_limits() {
  set_f32_kernel_isa_limit(f32_level_from_env());
  set_q8_kernel_isa_limit(isa_level_from_env());
  set_quant_kernel_isa_limit(isa_level_from_env());
}

}  // namespace tandem::engine::detail
