// Attention of one query head over a long context, blocked over keys (kernels.h): the scores of
// 64 keys at a time (ggml_vec_dot_f16's order, as the per-key path), one max per block, the
// softmax weights by ggml_v_expf 8 at a time, and the values accumulated in fp32 registers with one
// rescale per block — instead of a libm expf, a branch and two fp16 roundings of the accumulator
// per key. Every step is element-wise or in a fixed order that depends only on the key index, so
// a query's result depends only on its position's keys: the AVX2 path gives the scalar
// reference's bits, whatever the batch.
#include "engine/quant.h"
#include "engine/runtime/kernels.h"
#include "engine/runtime/kernels_expf.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

// Each float step is spelled out (std::fma / FMA intrinsics where fused); nothing else may be
// contracted, so the reference and the vector path round alike.
#pragma GCC optimize("fp-contract=off")

namespace tandem::engine::detail {

namespace {

constexpr uint32_t kBlockKeys = 64;

bool cpu_has_avx2_f16c() {
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return has;
}

// _mm512_reduce_add_ps's tree on the 16 lanes (lo, hi), as ggml_vec_dot_f16 ends.
__attribute__((target("avx2,fma"))) inline float reduce16(__m256 lo, __m256 hi) {
  const __m256 t = _mm256_add_ps(hi, lo);
  const __m128 u = _mm_add_ps(_mm256_extractf128_ps(t, 1), _mm256_castps256_ps128(t));
  const __m128 v = _mm_add_ps(u, _mm_movehl_ps(u, u));
  return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
}

// Queries i < n_queries of one head at consecutive positions (query i sees first_keys + i keys),
// G = head_dim / 8 lane groups. Key block by key block, every query of the group takes its turn,
// so the block's keys and values are read from memory once and then from L1; each query keeps its
// own max, sum and accumulator, and its arithmetic is exactly the one-query loop's.
template <int G>
__attribute__((target("avx2,fma,f16c"))) void attend_blocked(const KvCache& cache, uint32_t layer,
                                                              const BlockId* blocks, uint32_t first_keys,
                                                              uint32_t n_queries, size_t kv_off, const float* q,
                                                              size_t q_stride, float scale, float* out,
                                                              size_t out_stride) {
  const uint32_t bt = cache.block_tokens();
  const uint32_t last_keys = first_keys + n_queries - 1;
  alignas(32) float q16[kMaxGroupQueries][8 * G], acc_of[kMaxGroupQueries][8 * G];
  float max_of[kMaxGroupQueries], sum_of[kMaxGroupQueries];
  for (uint32_t qi = 0; qi < n_queries; ++qi) {
    for (int g = 0; g < G; ++g) {
      const __m256 x = _mm256_loadu_ps(q + qi * q_stride + 8 * g);
      _mm256_store_ps(q16[qi] + 8 * g, _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)));
      _mm256_store_ps(acc_of[qi] + 8 * g, _mm256_setzero_ps());
    }
    max_of[qi] = -std::numeric_limits<float>::infinity();
    sum_of[qi] = 0.0f;
  }
  const uint16_t* key_of[kBlockKeys];
  const uint16_t* value_of[kBlockKeys];
  alignas(32) float score[kBlockKeys], weight[kBlockKeys];
  for (uint32_t t0 = 0; t0 < last_keys; t0 += kBlockKeys) {
    const uint32_t block_keys = std::min(kBlockKeys, last_keys - t0);
    for (uint32_t i = 0; i < block_keys; ++i) {
      const uint32_t t = t0 + i;
      key_of[i] = cache.key(layer, blocks[t / bt], t % bt) + kv_off;
      value_of[i] = cache.value(layer, blocks[t / bt], t % bt) + kv_off;
    }
    for (uint32_t qi = 0; qi < n_queries; ++qi) {
      const uint32_t n_keys = first_keys + qi;
      if (t0 >= n_keys) continue;
      const uint32_t n = std::min(kBlockKeys, n_keys - t0);
      float block_max = -std::numeric_limits<float>::infinity();
      for (uint32_t i = 0; i < n; ++i) {
        __m256 d[8];
#pragma GCC unroll 8
        for (auto& v : d) v = _mm256_setzero_ps();
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) {
          const __m256 kv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(key_of[i] + 8 * g)));
          d[g % 8] = _mm256_fmadd_ps(kv, _mm256_load_ps(q16[qi] + 8 * g), d[g % 8]);
        }
        const __m256 lo = _mm256_add_ps(_mm256_add_ps(d[0], d[4]), _mm256_add_ps(d[2], d[6]));
        const __m256 hi = _mm256_add_ps(_mm256_add_ps(d[1], d[5]), _mm256_add_ps(d[3], d[7]));
        score[i] = reduce16(lo, hi) * scale;
        block_max = std::max(block_max, score[i]);
      }
      const float new_max = std::max(max_of[qi], block_max);
      uint32_t i = 0;
      for (; i + 8 <= n; i += 8)
        _mm256_store_ps(weight + i, expf_ggml_avx2(_mm256_sub_ps(_mm256_load_ps(score + i), _mm256_set1_ps(new_max))));
      for (; i < n; ++i) weight[i] = expf_ggml(score[i] - new_max);
      float block_sum = 0.0f;
      for (i = 0; i < n; ++i) block_sum += weight[i];
      __m256 acc[G];
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g) acc[g] = _mm256_load_ps(acc_of[qi] + 8 * g);
      if (t0 == 0) {
        sum_of[qi] = block_sum;
      } else {
        const float rescale = expf_ggml(max_of[qi] - new_max);
        sum_of[qi] = std::fma(sum_of[qi], rescale, block_sum);
        const __m256 r = _mm256_set1_ps(rescale);
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) acc[g] = _mm256_mul_ps(acc[g], r);
      }
      max_of[qi] = new_max;
      for (i = 0; i < n; ++i) {
        const __m256 w = _mm256_set1_ps(weight[i]);
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) {
          const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(value_of[i] + 8 * g)));
          acc[g] = _mm256_fmadd_ps(vv, w, acc[g]);
        }
      }
#pragma GCC unroll 16
      for (int g = 0; g < G; ++g) _mm256_store_ps(acc_of[qi] + 8 * g, acc[g]);
    }
  }
  for (uint32_t qi = 0; qi < n_queries; ++qi) {
    const __m256 inv_sum = _mm256_set1_ps(1.0f / sum_of[qi]);
    for (int g = 0; g < G; ++g)
      _mm256_storeu_ps(out + qi * out_stride + 8 * g, _mm256_mul_ps(_mm256_load_ps(acc_of[qi] + 8 * g), inv_sum));
  }
}

}  // namespace

void attend_head_blocked_reference(const KvCache& cache, uint32_t layer, const BlockId* blocks, uint32_t n_keys,
                                   size_t kv_off, const float* q, uint32_t head_dim, float scale, float* out) {
  const uint32_t bt = cache.block_tokens();
  thread_local std::vector<uint16_t> q16;
  thread_local std::vector<float> acc;
  q16.resize(head_dim);
  to_f16(q, q16.data(), head_dim);
  acc.assign(head_dim, 0.0f);
  float score[kBlockKeys], weight[kBlockKeys];
  float max_score = -std::numeric_limits<float>::infinity(), sum = 0.0f;
  for (uint32_t t0 = 0; t0 < n_keys; t0 += kBlockKeys) {
    const uint32_t n = std::min(kBlockKeys, n_keys - t0);
    float block_max = -std::numeric_limits<float>::infinity();
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t t = t0 + i;
      score[i] = dot_f16_ggml(cache.key(layer, blocks[t / bt], t % bt) + kv_off, q16.data(), head_dim) * scale;
      block_max = std::max(block_max, score[i]);
    }
    const float new_max = std::max(max_score, block_max);
    float block_sum = 0.0f;
    for (uint32_t i = 0; i < n; ++i) {
      weight[i] = expf_ggml(score[i] - new_max);
      block_sum += weight[i];
    }
    if (t0 == 0) {
      sum = block_sum;
    } else {
      const float rescale = expf_ggml(max_score - new_max);
      sum = std::fma(sum, rescale, block_sum);
      for (auto& a : acc) a *= rescale;
    }
    max_score = new_max;
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t t = t0 + i;
      const uint16_t* value = cache.value(layer, blocks[t / bt], t % bt) + kv_off;
      for (uint32_t d = 0; d < head_dim; ++d) acc[d] = std::fma(weight[i], fp16_to_fp32(value[d]), acc[d]);
    }
  }
  const float inv_sum = 1.0f / sum;
  for (uint32_t d = 0; d < head_dim; ++d) out[d] = acc[d] * inv_sum;
}

bool attend_heads_blocked(const KvCache& cache, uint32_t layer, const BlockId* blocks, uint32_t first_keys,
                          uint32_t n_queries, size_t kv_off, const float* q, size_t q_stride, uint32_t head_dim,
                          float scale, float* out, size_t out_stride) {
  if (!cpu_has_avx2_f16c() || first_keys == 0 || n_queries == 0 || n_queries > kMaxGroupQueries) return false;
  switch (head_dim) {
    case 64: attend_blocked<8>(cache, layer, blocks, first_keys, n_queries, kv_off, q, q_stride, scale, out, out_stride);
      return true;
    case 128: attend_blocked<16>(cache, layer, blocks, first_keys, n_queries, kv_off, q, q_stride, scale, out, out_stride);
      return true;
    default: return false;
  }
}

bool attend_head_blocked(const KvCache& cache, uint32_t layer, const BlockId* blocks, uint32_t n_keys, size_t kv_off,
                         const float* q, uint32_t head_dim, float scale, float* out) {
  return attend_heads_blocked(cache, layer, blocks, n_keys, 1, kv_off, q, head_dim, head_dim, scale, out, head_dim);
}

}  // namespace tandem::engine::detail
