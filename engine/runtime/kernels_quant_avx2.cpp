// The SIMD tiles of the kept-quantized Q4_0 / K-quant matmuls (kernels_quant.h): each weight block
// is unpacked to bytes once and dotted with up to 4 activation rows (prefill reuses it, decode
// streams it). The integer lanes are exact, so the grouping inside a lane never matters; the
// float steps are the reference's, one FMA per lane and block, the same final sums.
#include "engine/quant.h"
#include "engine/runtime/kernels_quant.h"
#include "engine/runtime/kernels_quant_blocks.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstring>

namespace tandem::engine::detail {

namespace {

#define TANDEM_AVX2 __attribute__((target("avx2,fma,f16c")))

using quant_blocks::read_u16;

// hsum in the reference's order: (lane i+4 + lane i), then (0+2) + (1+3).
TANDEM_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
TANDEM_AVX2 inline float hsum4(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One 256-block of a K-quant unpacked for the dot products: 8 x 32 unsigned levels, the int16
// scale to multiply each 32 (per 16 for Q6_K), the mins, the fp16 super-scales widened.
struct KBlockSimd {
  __m256i level[8];
  __m256i scale[8];
  __m128i mins;
  float d, dmin;
};

// The scales widened to int16 and broadcast per sub-block (a byte shuffle picks scale s), the mins
// as 8 int16.
TANDEM_AVX2 inline void unpack_scales_k4(const uint8_t* scales, KBlockSimd& k) {
  alignas(16) uint8_t sm[16];
  quant_blocks::k4_scales_and_mins(scales, sm);
  const __m256i wide = _mm256_cvtepu8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(sm)));
  k.mins = _mm256_extracti128_si256(wide, 1);
  const __m256i both = _mm256_permute2x128_si256(wide, wide, 0x00);
  for (int s = 0; s < 8; ++s)
    k.scale[s] = _mm256_shuffle_epi8(both, _mm256_set1_epi16(static_cast<int16_t>(((2 * s + 1) << 8) | (2 * s))));
}

TANDEM_AVX2 inline void unpack_q4_k(const uint8_t* b, KBlockSimd& k) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  k.d = _cvtsh_ss(read_u16(b));
  k.dmin = _cvtsh_ss(read_u16(b + 2));
  unpack_scales_k4(b + 4, k);
  for (int j = 0; j < 4; ++j) {
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16 + 32 * j));
    k.level[2 * j] = _mm256_and_si256(bits, m4);
    k.level[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
  }
}

TANDEM_AVX2 inline void unpack_q5_k(const uint8_t* b, KBlockSimd& k) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i one = _mm256_set1_epi8(1);
  k.d = _cvtsh_ss(read_u16(b));
  k.dmin = _cvtsh_ss(read_u16(b + 2));
  unpack_scales_k4(b + 4, k);
  const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16));
  for (int j = 0; j < 4; ++j) {
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 48 + 32 * j));
    const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(high, 2 * j), one);
    const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(high, 2 * j + 1), one);
    k.level[2 * j] = _mm256_or_si256(_mm256_and_si256(bits, m4), _mm256_slli_epi16(h0, 4));
    k.level[2 * j + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), _mm256_slli_epi16(h1, 4));
  }
}

// Q6_K levels stay unsigned (level + 32); the tile subtracts 32 x the activations.
TANDEM_AVX2 inline void unpack_q6_k(const uint8_t* b, KBlockSimd& k) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i m2 = _mm256_set1_epi8(3);
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  k.d = _cvtsh_ss(read_u16(b + 208));
  k.dmin = 0.0f;
  for (int n = 0; n < 2; ++n) {
    const __m256i lo0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 64 * n));
    const __m256i lo1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 64 * n + 32));
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 128 + 32 * n));
    const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(h, m2), 4);
    const __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4);
    const __m256i h4 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4);
    const __m256i h6 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4);
    k.level[4 * n + 0] = _mm256_or_si256(_mm256_and_si256(lo0, m4), h0);
    k.level[4 * n + 1] = _mm256_or_si256(_mm256_and_si256(lo1, m4), h2);
    k.level[4 * n + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo0, 4), m4), h4);
    k.level[4 * n + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo1, 4), m4), h6);
  }
  for (int t = 0; t < 8; ++t)
    k.scale[t] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * t + 1]), _mm_set1_epi16(sc[2 * t]));
}

template <GgmlType T>
TANDEM_AVX2 inline void unpack(const uint8_t* b, KBlockSimd& k) {
  if constexpr (T == GgmlType::Q4_K) unpack_q4_k(b, k);
  else if constexpr (T == GgmlType::Q5_K) unpack_q5_k(b, k);
  else unpack_q6_k(b, k);
}

// The 8 int32 lanes of one block against one activation row: sum over the 8 x 32 of
// scale * level * x, lane u taking elements 4u..4u+3 of each 32.
template <GgmlType T>
TANDEM_AVX2 inline __m256i block_lanes_avx2(const KBlockSimd& k, const int8_t* xq) {
  __m256i sumi = _mm256_setzero_si256();
  for (int s = 0; s < 8; ++s) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 32 * s));
    __m256i p = _mm256_maddubs_epi16(k.level[s], xv);
    if constexpr (T == GgmlType::Q6_K) p = _mm256_sub_epi16(p, _mm256_maddubs_epi16(_mm256_set1_epi8(32), xv));
    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(k.scale[s], p));
  }
  return sumi;
}

// The mins' 4 int32 lanes: lane k = min[2k] * S[2k] + min[2k+1] * S[2k+1], S = sums of each 32.
TANDEM_AVX2 inline __m128i min_lanes(const KBlockSimd& k, const int16_t* sums32) {
  return _mm_madd_epi16(k.mins, _mm_loadu_si128(reinterpret_cast<const __m128i*>(sums32)));
}

template <GgmlType T, int R>
TANDEM_AVX2 void kquant_tile(const Q8KRows& x, size_t r0, const uint8_t* wrow, size_t nb, float* y, size_t ldy) {
  __m256 acc[R];
  __m128 acc_min[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm256_setzero_ps();
    acc_min[r] = _mm_setzero_ps();
  }
  const size_t cols = x.cols;
  const size_t block_bytes = ggml_type_size(T);
  KBlockSimd k;
  for (size_t b = 0; b < nb; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(wrow + (b + 2) * block_bytes), _MM_HINT_T0);
    unpack<T>(wrow + b * block_bytes, k);
    for (int r = 0; r < R; ++r) {
      const size_t row = r0 + r;
      const float xd = x.d[row * nb + b];
      const __m256i sumi = block_lanes_avx2<T>(k, x.q.data() + row * cols + b * 256);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(xd * k.d), _mm256_cvtepi32_ps(sumi), acc[r]);
      if constexpr (T != GgmlType::Q6_K) {
        const __m128i prod = min_lanes(k, x.sums32.data() + (row * cols + b * 256) / 32);
        acc_min[r] = _mm_fmadd_ps(_mm_set1_ps(-xd * k.dmin), _mm_cvtepi32_ps(prod), acc_min[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    const float sum = hsum8(acc[r]);
    y[(r0 + r) * ldy] = T == GgmlType::Q6_K ? sum : sum + hsum4(acc_min[r]);
  }
}

// Q4_0 against Q8_0 activations: ggml's sign trick (|w| unsigned, w's sign moved onto x).
template <int R>
TANDEM_AVX2 void q4_0_tile(const Q8Rows& x, size_t r0, const uint8_t* wrow, size_t nb, float* y, size_t ldy) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  const __m128i m4 = _mm_set1_epi8(0xF);
  const __m256i eight = _mm256_set1_epi8(8);
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wrow + b * 18;
    _mm_prefetch(reinterpret_cast<const char*>(blk + 4 * 18), _MM_HINT_T0);
    const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
    const __m256i w = _mm256_sub_epi8(
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bits, 4), m4), _mm_and_si128(bits, m4)), eight);
    const __m256i wabs = _mm256_sign_epi8(w, w);
    const float dw = _cvtsh_ss(read_u16(blk));
    for (int r = 0; r < R; ++r) {
      const size_t row = r0 + r;
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q.data() + row * x.cols + b * 32));
      const __m256i lanes = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, _mm256_sign_epi8(xv, w)), ones);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d[row * nb + b]), _mm256_cvtepi32_ps(lanes), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[(r0 + r) * ldy] = hsum8(acc[r]);
}

using TileFn = void (*)(const QuantActivations&, size_t, const uint8_t*, size_t, float*, size_t);

template <GgmlType T, int R>
TANDEM_AVX2 void tile_entry(const QuantActivations& x, size_t r0, const uint8_t* wrow, size_t nb, float* y, size_t ldy) {
  if constexpr (T == GgmlType::Q4_0) q4_0_tile<R>(*x.q8_0, r0, wrow, nb, y, ldy);
  else kquant_tile<T, R>(*x.q8_k, r0, wrow, nb, y, ldy);
}

template <GgmlType T>
void panel(const QuantActivations& x, size_t r0, size_t rows, const Matrix& w, uint32_t c0, uint32_t c1, float* y,
           size_t ldy) {
  const size_t block = ggml_block_size(T);
  const size_t nb = w.cols / block;
  const size_t row_bytes = nb * ggml_type_size(T);
  size_t r = r0;
  for (; r + 4 <= r0 + rows; r += 4)
    for (uint32_t c = c0; c < c1; ++c) tile_entry<T, 4>(x, r, w.quant + c * row_bytes, nb, y + c, ldy);
  for (; r < r0 + rows; ++r)
    for (uint32_t c = c0; c < c1; ++c) tile_entry<T, 1>(x, r, w.quant + c * row_bytes, nb, y + c, ldy);
}

bool cpu_has_avx2() {
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return has;
}

}  // namespace

bool quant_panel_avx2(const QuantActivations& x, size_t r0, size_t rows, const Matrix& w, uint32_t c0, uint32_t c1,
                      float* y, size_t ldy) {
  if (!cpu_has_avx2()) return false;
  switch (w.source_type) {
    case GgmlType::Q4_0: panel<GgmlType::Q4_0>(x, r0, rows, w, c0, c1, y, ldy); return true;
    case GgmlType::Q4_K: panel<GgmlType::Q4_K>(x, r0, rows, w, c0, c1, y, ldy); return true;
    case GgmlType::Q5_K: panel<GgmlType::Q5_K>(x, r0, rows, w, c0, c1, y, ldy); return true;
    case GgmlType::Q6_K: panel<GgmlType::Q6_K>(x, r0, rows, w, c0, c1, y, ldy); return true;
    default: return false;
  }
}

}  // namespace tandem::engine::detail
