// ggml_vec_swiglu_f32 as its AVX2 build runs it. The element-wise activation feeds the fp16 K/V of
// the next layer, where an ulp here can flip a rounding, so it is ggml's arithmetic operation for
// operation; the vector path runs the scalar lane code 8 lanes at a time and must give its bits.
#include "engine/runtime/kernels.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>

namespace tandem::engine::detail {

namespace {

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// One lane of ggml's AVX2 ggml_v_expf (a range reduction by 2^n and a degree-5 polynomial, all in
// FMAs). Lanes are independent, so this gives the vector code's bits.
float expf_ggml(float x) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const uint32_t e = float_to_bits(z) << 23;
  const float k = bits_to_float(e + float_to_bits(1.0f));
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                    std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, 0x1.ffffecp-1f * b);
  if (!(std::fabs(n) > 126.0f)) return std::fma(j, k, k);
  const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = bits_to_float(g + 0x7f000000u);
  const float s2 = bits_to_float(e - g);
  if (std::fabs(n) > 192.0f) return s1 * s1;
  return std::fma(s2, j, s2) * s1;
}

// ggml_vec_swiglu_f32: silu(gate) * up, silu(x) = x / (1 + v_expf(0 - x)) in 8-wide groups and
// libm's expf for the tail.
void swiglu_ggml_scalar(float* gate_out, const float* up, size_t n) {
  const size_t vec_end = n / 8 * 8;
  for (size_t i = 0; i < vec_end; ++i) gate_out[i] = gate_out[i] / (1.0f + expf_ggml(0.0f - gate_out[i])) * up[i];
  for (size_t i = vec_end; i < n; ++i) gate_out[i] = gate_out[i] / (1.0f + std::exp(-gate_out[i])) * up[i];
}

__attribute__((target("avx2,fma"))) __m256 expf_ggml_avx2(__m256 x) {
  const __m256 r = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
  const __m256 n = _mm256_sub_ps(z, r);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
  const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 big = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
  const __m256 normal = _mm256_fmadd_ps(j, k, k);
  if (_mm256_testz_ps(big, big)) return normal;
  const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                     _mm256_set1_epi32(static_cast<int>(0x82000000u)));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
  const __m256 huge = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
  const __m256 scaled = _mm256_blendv_ps(_mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1), _mm256_mul_ps(s1, s1), huge);
  return _mm256_blendv_ps(normal, scaled, big);
}

__attribute__((target("avx2,fma"))) void swiglu_ggml_avx2(float* gate_out, const float* up, size_t n) {
  const size_t vec_end = n / 8 * 8;
  for (size_t i = 0; i < vec_end; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate_out + i);
    const __m256 e = expf_ggml_avx2(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    _mm256_storeu_ps(gate_out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  for (size_t i = vec_end; i < n; ++i) gate_out[i] = gate_out[i] / (1.0f + std::exp(-gate_out[i])) * up[i];
}

}  // namespace

void swiglu_ggml_reference(float* gate_out, const float* up, size_t n) { swiglu_ggml_scalar(gate_out, up, n); }

void swiglu_ggml(float* gate_out, const float* up, size_t n) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return swiglu_ggml_avx2(gate_out, up, n);
  swiglu_ggml_scalar(gate_out, up, n);
}

}  // namespace tandem::engine::detail
