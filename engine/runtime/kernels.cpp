// Numeric kernels of the forward pass. Fast paths use AVX2/FMA through function-level target
// attributes (the library is built for baseline x86-64) and are chosen at run time.
#include "engine/quant.h"
#include "engine/runtime/kernels.h"
#include "engine/runtime/thread_pool.h"

#include <cblas.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <algorithm>
#include <vector>

namespace tandem::engine::detail {

namespace {

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

__attribute__((target("avx2,fma"))) float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float sum = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

__attribute__((target("avx2,fma"))) void axpy_avx2(float a, const float* x, float* y, size_t n) {
  __m256 va = _mm256_set1_ps(a);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

uint16_t read_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

__attribute__((target("avx2,fma"))) float dot_q8_0_avx2(const uint8_t* row, const float* x, size_t n) {
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < n / kQ8Block; ++b) {
    const uint8_t* block = row + b * kQ8BlockBytes;
    const float* xb = x + b * kQ8Block;
    __m256 d = _mm256_set1_ps(fp16_to_fp32(read_u16(block)));
    __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
    __m128i q_lo = _mm256_castsi256_si128(q);
    __m128i q_hi = _mm256_extracti128_si256(q, 1);
    __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q_lo));
    __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q_lo, 8)));
    __m256 w2 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q_hi));
    __m256 w3 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q_hi, 8)));
    __m256 s = _mm256_mul_ps(w0, _mm256_loadu_ps(xb));
    s = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xb + 8), s);
    s = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xb + 16), s);
    s = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xb + 24), s);
    acc = _mm256_fmadd_ps(d, s, acc);
  }
  return hsum(acc);
}

float dot_q8_0_reference(const uint8_t* row, const float* x, size_t n) {
  float sum = 0.0f;
  for (size_t b = 0; b < n / kQ8Block; ++b) {
    const uint8_t* block = row + b * kQ8BlockBytes;
    float d = fp16_to_fp32(read_u16(block));
    float s = 0.0f;
    for (size_t i = 0; i < kQ8Block; ++i) s += static_cast<float>(static_cast<int8_t>(block[2 + i])) * x[b * kQ8Block + i];
    sum += d * s;
  }
  return sum;
}

__attribute__((target("avx2,fma,f16c"))) float dot_f16_avx2(const float* q, const uint16_t* k, size_t n) {
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 kv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i)));
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), kv, acc);
  }
  float sum = hsum(acc);
  for (; i < n; ++i) sum += q[i] * fp16_to_fp32(k[i]);
  return sum;
}

__attribute__((target("avx2,fma,f16c"))) void mad_f16_avx2(uint16_t* acc, const uint16_t* v, float s, size_t n) {
  __m256 vs = _mm256_set1_ps(s);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 a = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(acc + i)));
    __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i)));
    a = _mm256_fmadd_ps(x, vs, a);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + i), _mm256_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) acc[i] = fp32_to_fp16(fp16_to_fp32(acc[i]) + fp16_to_fp32(v[i]) * s);
}

bool cpu_has_f16c() {
  static const bool has = cpu_has_avx2() && __builtin_cpu_supports("f16c");
  return has;
}

// Batch-invariant GEMM: every output element is the same 8-lane FMA chain over K followed by
// the same horizontal sum, whatever tile it falls in, so a row's result never depends on
// which other rows share the batch (OpenBLAS's sgemm does depend on it).
template <int R, int C>
__attribute__((target("avx2,fma"))) inline void tile_avx2(const float* x, size_t ldx, const float* w, size_t ldw,
                                                          size_t k, float* y, size_t ldy) {
  // Fully unrolled so the R x C accumulators live in registers (R*C + R + 1 <= 16 ymm).
  __m256 acc[R][C];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  // The C weight rows are adjacent: prefetch that stream linearly, the next tile + 1 KB ahead
  // (the hardware prefetchers alone left F32 decode well under the memory bandwidth).
  const char* ahead = reinterpret_cast<const char*>(w + C * ldw) + 1024;
  size_t i = 0;
  for (; i + 8 <= k; i += 8) {
#pragma GCC unroll 4
    for (int p = 0; p < C / 2; ++p) _mm_prefetch(ahead + (i * C + 16 * p) * sizeof(float), _MM_HINT_T0);
    __m256 xv[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) xv[r] = _mm256_loadu_ps(x + r * ldx + i);
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      __m256 wv = _mm256_loadu_ps(w + c * ldw + i);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      float sum = hsum(acc[r][c]);
      for (size_t j = i; j < k; ++j) sum += x[r * ldx + j] * w[c * ldw + j];
      y[r * ldy + c] = sum;
    }
}

template <int R>
__attribute__((target("avx2,fma"))) void row_tile_avx2(const float* x, size_t k, const Matrix& w, float* y,
                                                       uint32_t col_begin, uint32_t col_end) {
  uint32_t c = col_begin;
  for (; c + 4 <= col_end; c += 4)
    tile_avx2<R, 4>(x, k, w.data + static_cast<size_t>(c) * k, k, k, y + c, w.rows);
  for (; c < col_end; ++c) tile_avx2<R, 1>(x, k, w.data + static_cast<size_t>(c) * k, k, k, y + c, w.rows);
}

__attribute__((target("avx2,fma"))) void panel_avx2(const float* x, size_t m, const Matrix& w, float* y, uint32_t c0,
                                                    uint32_t c1) {
  const size_t k = w.cols;
  size_t r = 0;
  for (; r + 3 <= m; r += 3) row_tile_avx2<3>(x + r * k, k, w, y + r * w.rows, c0, c1);
  for (; r < m; ++r) row_tile_avx2<1>(x + r * k, k, w, y + r * w.rows, c0, c1);
}

// Panels of weight rows small enough to stay in L2 while every activation row passes by, and
// enough of them to balance the pool's threads; an element's FMA chain is the same in any panel.
void matmul_invariant_avx2(const float* x, size_t m, const Matrix& w, float* y) {
  auto pool = compute_pool();
  const size_t l2_rows = std::max<size_t>(4, 256 * 1024 / (w.cols * sizeof(float)));
  const size_t balanced = (w.rows + 8 * pool->threads() - 1) / (8 * pool->threads());
  const uint32_t step = static_cast<uint32_t>(std::max<size_t>(4, (std::min(l2_rows, balanced) + 3) / 4 * 4));
  const size_t n_tasks = (w.rows + step - 1) / step;
  pool->parallel_for(n_tasks, [&](size_t t) {
    const uint32_t c0 = static_cast<uint32_t>(t) * step;
    panel_avx2(x, m, w, y, c0, std::min(w.rows, c0 + step));
  });
}

}  // namespace

void matmul_invariant(const float* x, size_t m, const Matrix& w, float* y) {
  if (!cpu_has_avx2()) return matmul_reference(x, m, w, y);  // plain loops are invariant too
  matmul_invariant_avx2(x, m, w, y);
}

float dot_f16_reference(const float* q, const uint16_t* k, size_t n) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) sum += q[i] * fp16_to_fp32(k[i]);
  return sum;
}

float dot_f16(const float* q, const uint16_t* k, size_t n) {
  return cpu_has_f16c() ? dot_f16_avx2(q, k, n) : dot_f16_reference(q, k, n);
}

void mad_f16_reference(uint16_t* acc, const uint16_t* v, float s, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] = fp32_to_fp16(fp16_to_fp32(acc[i]) + fp16_to_fp32(v[i]) * s);
}

void mad_f16(uint16_t* acc, const uint16_t* v, float s, size_t n) {
  if (cpu_has_f16c()) return mad_f16_avx2(acc, v, s, n);
  mad_f16_reference(acc, v, s, n);
}

void to_f16(const float* x, uint16_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = fp32_to_fp16(x[i]);
}

float dot_reference(const float* a, const float* b, size_t n) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float dot(const float* a, const float* b, size_t n) {
  return cpu_has_avx2() ? dot_avx2(a, b, n) : dot_reference(a, b, n);
}

void axpy(float a, const float* x, float* y, size_t n) {
  if (cpu_has_avx2()) return axpy_avx2(a, x, y, n);
  for (size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void rmsnorm(float* out, const float* x, const float* weight, size_t n, float eps) {
  // Accumulate in double: the mean of squares is the one reduction whose error scales every row.
  double ss = 0.0;
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (size_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void matmul_reference(const float* x, size_t m, const Matrix& w, float* y) {
  std::vector<float> row(w.data ? 0 : w.cols);
  for (uint32_t o = 0; o < w.rows; ++o) {
    const float* wr = w.data ? w.data + static_cast<size_t>(o) * w.cols : row.data();
    if (!w.data) weight_row(w, o, row.data());
    for (size_t r = 0; r < m; ++r) y[r * w.rows + o] = dot_reference(x + r * w.cols, wr, w.cols);
  }
}

void matmul_q8_0_reference(const float* x, size_t m, const Matrix& w, float* y) {
  size_t row_bytes = w.cols / kQ8Block * kQ8BlockBytes;
  for (size_t r = 0; r < m; ++r)
    for (uint32_t o = 0; o < w.rows; ++o)
      y[r * w.rows + o] = dot_q8_0_reference(w.q8_0 + o * row_bytes, x + r * w.cols, w.cols);
}

void matmul_q8_0(const float* x, size_t m, const Matrix& w, float* y) {
  if (!cpu_has_avx2()) return matmul_q8_0_reference(x, m, w, y);
  size_t row_bytes = w.cols / kQ8Block * kQ8BlockBytes;
  // Weight row outer, batch rows inner: each quantized row is read from memory once per call.
  for (uint32_t o = 0; o < w.rows; ++o) {
    const uint8_t* row = w.q8_0 + o * row_bytes;
    for (size_t r = 0; r < m; ++r) y[r * w.rows + o] = dot_q8_0_avx2(row, x + r * w.cols, w.cols);
  }
}

// llama.cpp quantizes the activations to the weight type's dot-product partner (Q8_0 for the
// 32-blocks, Q8_K for the k-quants, fp16 for F16) before every matmul. Doing the same makes our
// logits comparable with its output within the golden tolerances.
void round_activations_like_llamacpp(GgmlType weight_type, const float* x, size_t n, float* out) {
  switch (weight_type) {
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q8_0:
      // Q8_0: blocks of 32, scale amax/127 stored as fp16 (quantize_rows_q8_0's formulas).
      for (size_t b = 0; b < n; b += 32) {
        float amax = 0.0f;
        for (size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b + i]));
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        float dr = fp16_to_fp32(fp32_to_fp16(amax / 127.0f));
        for (size_t i = 0; i < 32; ++i) out[b + i] = std::nearbyint(x[b + i] * id) * dr;
      }
      return;
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
      // Q8_K: blocks of 256, float scale from the signed absolute maximum.
      for (size_t b = 0; b < n; b += 256) {
        float amax = 0.0f, max = 0.0f;
        for (size_t i = 0; i < 256; ++i) {
          if (std::fabs(x[b + i]) > amax) {
            amax = std::fabs(x[b + i]);
            max = x[b + i];
          }
        }
        if (amax == 0.0f) {
          std::fill_n(out + b, 256, 0.0f);
          continue;
        }
        float iscale = -127.0f / max;
        float d = 1.0f / iscale;
        for (size_t i = 0; i < 256; ++i) out[b + i] = std::min(127.0f, std::nearbyint(iscale * x[b + i])) * d;
      }
      return;
    case GgmlType::F16:
      for (size_t i = 0; i < n; ++i) out[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
      return;
    case GgmlType::BF16:
    default:
      std::copy_n(x, n, out);
  }
}

void matmul(MatmulBackend backend, const float* x, size_t m, const Matrix& w, float* y, uint32_t q8_max_rows,
            bool round_like_llamacpp) {
  if (m == 0) return;
  // Kept-quantized Q8_0: int8 dot products against Q8_0-quantized activations (which is
  // llama.cpp's rounding, so the flag changes nothing here); the reference is the same
  // integer block dots in plain loops.
  if (w.q8_0 && (!w.data || (backend != MatmulBackend::reference && m <= q8_max_rows))) {
    static thread_local Q8Rows quantized;
    quantize_rows_q8_0(x, m, w.cols, quantized);
    if (backend == MatmulBackend::reference) return matmul_q8_0_q8_reference(quantized, m, w, y);
    return matmul_q8_0_q8(quantized, m, w, y);
  }
  static thread_local std::vector<float> rounded;
  if (round_like_llamacpp && w.source_type != GgmlType::F32) {
    rounded.resize(m * w.cols);
    for (size_t r = 0; r < m; ++r)
      round_activations_like_llamacpp(w.source_type, x + r * w.cols, w.cols, rounded.data() + r * w.cols);
    x = rounded.data();
  }
  if (backend == MatmulBackend::reference || !w.data) return matmul_reference(x, m, w, y);
  if (backend == MatmulBackend::invariant) return matmul_invariant(x, m, w, y);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(w.rows),
              static_cast<int>(w.cols), 1.0f, x, static_cast<int>(w.cols), w.data, static_cast<int>(w.cols), 0.0f, y,
              static_cast<int>(w.rows));
}

}  // namespace tandem::engine::detail
