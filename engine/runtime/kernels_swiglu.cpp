// ggml_vec_swiglu_f32 as its AVX-512 build (the one that made the golden files) runs it. The
// element-wise activation feeds the fp16 K/V of the next layer, where an ulp here can flip a
// rounding, so it is ggml's arithmetic operation for operation: ggml_v_expf's AVX-512 polynomial on
// 16-wide blocks, libm's expf on the tail. The AVX2 path runs the scalar lane code 8 lanes at a
// time (_mm512_scalef_ps as two exact power-of-two multiplies) and must give its bits.
#include "engine/runtime/kernels.h"
#include "engine/runtime/kernels_expf.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>

namespace tandem::engine::detail {

namespace {

constexpr size_t kBlock = 16;  // one __m512

// silu(x) = x / (1 + v_expf(0 - x)) on whole 16-blocks, libm's expf (ggml_silu_f32) on the tail.
void swiglu_ggml_scalar(float* gate_out, const float* up, size_t n) {
  const size_t vec_end = n / kBlock * kBlock;
  for (size_t i = 0; i < vec_end; ++i) gate_out[i] = gate_out[i] / (1.0f + expf_ggml(0.0f - gate_out[i])) * up[i];
  for (size_t i = vec_end; i < n; ++i) gate_out[i] = gate_out[i] / (1.0f + std::exp(-gate_out[i])) * up[i];
}

__attribute__((target("avx2,fma"))) void swiglu_ggml_avx2(float* gate_out, const float* up, size_t n) {
  const size_t vec_end = n / kBlock * kBlock;
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
