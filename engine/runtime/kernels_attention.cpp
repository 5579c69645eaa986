// One query head against its sequence's fp16 K/V with llama.cpp's CPU flash-attention numerics
// (flash_attn_ext_f16_one_chunk): q rounded to fp16, scores by ggml_vec_dot_f16 against the fp16
// keys, online softmax, the weighted sum of fp16 values accumulated in fp16 (f16(fma(v, w, acc)),
// rescales f16(acc * ms)). The fast path keeps the query and the fp16 accumulator in registers —
// at decode the scalar loop was ~40% of a step while being ~3% of its FLOPs — and must give the
// reference's bits.
#include "engine/quant.h"
#include "engine/runtime/kernels.h"

#include <immintrin.h>

#include <cmath>
#include <limits>
#include <vector>

namespace tandem::engine::detail {

namespace {

bool cpu_has_avx2_f16c() {
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return has;
}

// ggml_vec_dot_f16 as its AVX-512 build runs it: four 16-lane FMA accumulators over 64-element
// steps, reduced (a0 + a2) + (a1 + a3), then _mm512_reduce_add_ps's tree; the tail (all of a
// head under 64 wide) is summed in double. fp16 x fp16 products are exact in fp32.
float dot_f16_ggml_reference(const uint16_t* a, const uint16_t* b, size_t n) {
  const size_t np = n & ~size_t(63);
  float acc[4][16] = {};
  for (size_t i = 0; i < np; i += 64)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 16; ++l)
        acc[j][l] = std::fma(fp16_to_fp32(a[i + j * 16 + l]), fp16_to_fp32(b[i + j * 16 + l]), acc[j][l]);
  float r[16], t[8], u[4];
  for (int l = 0; l < 16; ++l) r[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
  for (int l = 0; l < 8; ++l) t[l] = r[l + 8] + r[l];
  for (int l = 0; l < 4; ++l) u[l] = t[l + 4] + t[l];
  double sum = (u[0] + u[2]) + (u[1] + u[3]);
  for (size_t i = np; i < n; ++i) sum += static_cast<double>(fp16_to_fp32(a[i]) * fp16_to_fp32(b[i]));
  return static_cast<float>(sum);
}

// _mm512_reduce_add_ps of the 16-lane vector (lo, hi).
__attribute__((target("avx2,fma"))) inline float reduce16(__m256 lo, __m256 hi) {
  const __m256 t = _mm256_add_ps(hi, lo);
  const __m128 u = _mm_add_ps(_mm256_extractf128_ps(t, 1), _mm256_castps256_ps128(t));
  const __m128 v = _mm_add_ps(u, _mm_movehl_ps(u, u));  // (u0 + u2, u1 + u3)
  return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
}

// 8-lane group g of a 64-element step belongs to 16-lane accumulator (g % 8) / 2, half g % 2.
__attribute__((target("avx2,fma,f16c"))) float dot_f16_ggml_avx2(const uint16_t* a, const uint16_t* b, size_t n) {
  const size_t np = n & ~size_t(63);
  __m256 acc[8];
  for (auto& v : acc) v = _mm256_setzero_ps();
  for (size_t i = 0; i < np; i += 64)
    for (int g = 0; g < 8; ++g) {
      __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + g * 8)));
      __m256 y = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i + g * 8)));
      acc[g] = _mm256_fmadd_ps(x, y, acc[g]);
    }
  const __m256 lo = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
  const __m256 hi = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
  double sum = reduce16(lo, hi);
  for (size_t i = np; i < n; ++i) sum += static_cast<double>(fp16_to_fp32(a[i]) * fp16_to_fp32(b[i]));
  return static_cast<float>(sum);
}


__attribute__((target("avx2,fma,f16c"))) inline __m256 round_f16(__m256 v) {
  return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

// G = head_dim / 8 lanes groups (head_dim a multiple of 64, as ggml_vec_dot_f16's main loop).
template <int G>
__attribute__((target("avx2,fma,f16c"))) void attend(const KvCache& cache, uint32_t layer, const BlockId* blocks,
                                                      uint32_t n_keys, size_t kv_off, const float* q, float scale,
                                                      float* out) {
  const uint32_t bt = cache.block_tokens();
  __m256 qv[G], acc[G];
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g) {
    qv[g] = round_f16(_mm256_loadu_ps(q + 8 * g));  // the scalar path's fp16 copy of q
    acc[g] = _mm256_setzero_ps();
  }
  float max_score = -std::numeric_limits<float>::infinity();
  float sum = 0.0f;
  for (uint32_t t = 0; t < n_keys; ++t) {
    const BlockId block = blocks[t / bt];
    const uint16_t* key = cache.key(layer, block, t % bt) + kv_off;
    const uint16_t* value = cache.value(layer, block, t % bt) + kv_off;
    // ggml_vec_dot_f16's order (AVX-512): 16-lane accumulators j = (g % 8) / 2 over 64-element
    // steps, (a0 + a2) + (a1 + a3), then the 16 -> 1 tree.
    __m256 d[8];
#pragma GCC unroll 8
    for (auto& v : d) v = _mm256_setzero_ps();
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g) {
      const __m256 kv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(key + 8 * g)));
      d[g % 8] = _mm256_fmadd_ps(kv, qv[g], d[g % 8]);
    }
    const __m256 lo = _mm256_add_ps(_mm256_add_ps(d[0], d[4]), _mm256_add_ps(d[2], d[6]));
    const __m256 hi = _mm256_add_ps(_mm256_add_ps(d[1], d[5]), _mm256_add_ps(d[3], d[7]));
    const float s = reduce16(lo, hi) * scale;
    float old_scale = 1.0f, weight = 1.0f;
    if (s > max_score) {
      old_scale = std::exp(max_score - s);
      max_score = s;
      const __m256 os = _mm256_set1_ps(old_scale);
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g) acc[g] = round_f16(_mm256_mul_ps(acc[g], os));
    } else {
      weight = std::exp(s - max_score);
    }
    const __m256 w = _mm256_set1_ps(weight);
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g) {
      const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(value + 8 * g)));
      acc[g] = round_f16(_mm256_fmadd_ps(vv, w, acc[g]));
    }
    sum = std::fma(sum, old_scale, weight);  // ggml's S = S*ms + vs, contracted
  }
  const __m256 inv_sum = _mm256_set1_ps(1.0f / sum);
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g) _mm256_storeu_ps(out + 8 * g, _mm256_mul_ps(acc[g], inv_sum));
}

}  // namespace

float dot_f16_ggml(const uint16_t* a, const uint16_t* b, size_t n) {
  return cpu_has_avx2_f16c() ? dot_f16_ggml_avx2(a, b, n) : dot_f16_ggml_reference(a, b, n);
}

void attend_head_f16_reference(const KvCache& cache, uint32_t layer, const BlockId* blocks, uint32_t n_keys,
                               size_t kv_off, const float* q, uint32_t head_dim, float scale, float* out) {
  const uint32_t bt = cache.block_tokens();
  thread_local std::vector<uint16_t> acc, q16;
  acc.assign(head_dim, 0);
  q16.resize(head_dim);
  to_f16(q, q16.data(), head_dim);
  float max_score = -std::numeric_limits<float>::infinity();
  float sum = 0.0f;
  for (uint32_t t = 0; t < n_keys; ++t) {
    const BlockId block = blocks[t / bt];
    const float s = dot_f16_ggml(cache.key(layer, block, t % bt) + kv_off, q16.data(), head_dim) * scale;
    float old_scale = 1.0f, weight = 1.0f;
    if (s > max_score) {
      old_scale = std::exp(max_score - s);
      max_score = s;
      for (auto& a : acc) a = fp32_to_fp16(fp16_to_fp32(a) * old_scale);
    } else {
      weight = std::exp(s - max_score);
    }
    mad_f16(acc.data(), cache.value(layer, block, t % bt) + kv_off, weight, head_dim);
    sum = std::fma(sum, old_scale, weight);
  }
  const float inv_sum = 1.0f / sum;
  for (uint32_t d = 0; d < head_dim; ++d) out[d] = fp16_to_fp32(acc[d]) * inv_sum;
}

bool attend_head_f16(const KvCache& cache, uint32_t layer, const BlockId* blocks, uint32_t n_keys, size_t kv_off,
                     const float* q, uint32_t head_dim, float scale, float* out) {
  if (!cpu_has_avx2_f16c() || n_keys == 0) return false;
  switch (head_dim) {
    case 64: attend<8>(cache, layer, blocks, n_keys, kv_off, q, scale, out); return true;
    case 128: attend<16>(cache, layer, blocks, n_keys, kv_off, q, scale, out); return true;
    default: return false;
  }
}

}  // namespace tandem::engine::detail
