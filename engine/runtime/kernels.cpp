// Numeric kernels of the forward pass. Fast paths use AVX2/FMA through function-level target
// attributes (the library is built for baseline x86-64) and are chosen at run time.
#include "engine/quant.h"
#include "engine/runtime/kernels.h"
#include "engine/runtime/kernels_quant.h"

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

}  // namespace

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

void axpy(float a, const float* x, float* y, size_t n) {
  if (cpu_has_avx2()) return axpy_avx2(a, x, y, n);
  for (size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// ggml's rms_norm then mul, rounding for rounding: float squares summed in double, the mean
// rounded to float, scale = 1 / sqrtf(mean + eps) in float, x * scale rounded before * weight.
void rmsnorm(float* out, const float* x, const float* weight, size_t n, float eps) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (size_t i = 0; i < n; ++i) {
    const float normalized = x[i] * scale;
    out[i] = normalized * weight[i];
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
            bool round_like_llamacpp, const F32Order* orders) {
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
  // Q4_0 / K-quants kept in their file format: integer dots against Q8_0 / Q8_K activations
  // (llama.cpp's rounding, whatever the flag says).
  if (w.quant && !w.data) {
    if (backend == MatmulBackend::reference) return matmul_quant_reference(x, m, w, y);
    return matmul_quant(x, m, w, y);
  }
  static thread_local std::vector<float> rounded;
  if (round_like_llamacpp && w.source_type != GgmlType::F32) {
    rounded.resize(m * w.cols);
    for (size_t r = 0; r < m; ++r)
      round_activations_like_llamacpp(w.source_type, x + r * w.cols, w.cols, rounded.data() + r * w.cols);
    x = rounded.data();
  }
  if (backend == MatmulBackend::reference || !w.data) return matmul_f32_ggml_reference(x, m, orders, w, y);
  if (backend == MatmulBackend::invariant) return matmul_f32_ggml(x, m, orders, w, y);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(w.rows),
              static_cast<int>(w.cols), 1.0f, x, static_cast<int>(w.cols), w.data, static_cast<int>(w.cols), 0.0f, y,
              static_cast<int>(w.rows));
}

}  // namespace tandem::engine::detail
