// AVX-512 tiles of the kept-quantized matmuls (kernels_quant.h): the integer work runs on 64 bytes
// at a time — two 32-element sub-blocks of a K-quant, or two Q4_0 blocks with VNNI's dpbusd — and
// the two 256-bit halves are added as integers, which gives the AVX2 path's exact lanes. The float
// steps (one FMA per lane and block, the final sums) are the AVX2 path's, so the bits are the
// reference's.
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

#define TANDEM_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

using quant_blocks::read_u16;

TANDEM_AVX512 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
TANDEM_AVX512 inline float hsum4(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

TANDEM_AVX512 inline __m512i join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// A 256-block as 4 x 64 unsigned levels (sub-blocks 2j and 2j+1 in one register) with the int16
// scale of every level's group.
struct KBlock512 {
  __m512i level[4];
  __m512i scale[4];
  __m128i mins;
  float d, dmin;
};

// The scales widened to int16 and broadcast per sub-block pair (a byte shuffle within each 128-bit
// lane picks scale 2j for the low half, 2j+1 for the high half), the mins as 8 int16.
TANDEM_AVX512 inline void unpack_scales_k4(const uint8_t* scales, KBlock512& k) {
  alignas(16) uint8_t sm[16];
  quant_blocks::k4_scales_and_mins(scales, sm);
  const __m256i wide = _mm256_cvtepu8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(sm)));
  k.mins = _mm256_extracti128_si256(wide, 1);
  const __m512i all = _mm512_broadcast_i32x4(_mm256_castsi256_si128(wide));
  for (int j = 0; j < 4; ++j) {
    const int16_t lo = static_cast<int16_t>(((4 * j + 1) << 8) | (4 * j));
    const int16_t hi = static_cast<int16_t>(((4 * j + 3) << 8) | (4 * j + 2));
    k.scale[j] = _mm512_shuffle_epi8(all, join(_mm256_set1_epi16(lo), _mm256_set1_epi16(hi)));
  }
}

template <GgmlType T>
TANDEM_AVX512 inline void unpack(const uint8_t* b, KBlock512& k) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  if constexpr (T == GgmlType::Q4_K || T == GgmlType::Q5_K) {
    k.d = _cvtsh_ss(read_u16(b));
    k.dmin = _cvtsh_ss(read_u16(b + 2));
    unpack_scales_k4(b + 4, k);
    const uint8_t* qs = T == GgmlType::Q4_K ? b + 16 : b + 48;
    [[maybe_unused]] const __m256i high =
        T == GgmlType::Q5_K ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16)) : _mm256_setzero_si256();
    const __m256i one = _mm256_set1_epi8(1);
    for (int j = 0; j < 4; ++j) {
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * j));
      __m256i lo = _mm256_and_si256(bits, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
      if constexpr (T == GgmlType::Q5_K) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * j), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * j + 1), one), 4));
      }
      k.level[j] = join(lo, hi);
    }
  } else {  // Q6_K: unsigned levels (level + 32), int8 scales per 16
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
      k.level[2 * n] = join(_mm256_or_si256(_mm256_and_si256(lo0, m4), h0), _mm256_or_si256(_mm256_and_si256(lo1, m4), h2));
      k.level[2 * n + 1] = join(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo0, 4), m4), h4),
                                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo1, 4), m4), h6));
    }
    for (int j = 0; j < 4; ++j) {
      const int8_t* s = sc + 4 * j;  // the 4 groups of 16 in elements 64j..64j+63
      k.scale[j] = join(_mm256_set_m128i(_mm_set1_epi16(s[1]), _mm_set1_epi16(s[0])),
                        _mm256_set_m128i(_mm_set1_epi16(s[3]), _mm_set1_epi16(s[2])));
    }
  }
}

template <GgmlType T, int R>
TANDEM_AVX512 void kquant_tile(const Q8KRows& x, size_t r0, const uint8_t* wrow, size_t nb, float* y, size_t ldy) {
  __m256 acc[R];
  __m128 acc_min[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm256_setzero_ps();
    acc_min[r] = _mm_setzero_ps();
  }
  const size_t cols = x.cols;
  const size_t block_bytes = ggml_type_size(T);
  const __m512i m32 = _mm512_set1_epi8(32);
  KBlock512 k;
  for (size_t b = 0; b < nb; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(wrow + (b + 2) * block_bytes), _MM_HINT_T0);
    unpack<T>(wrow + b * block_bytes, k);
    for (int r = 0; r < R; ++r) {
      const size_t row = r0 + r;
      const int8_t* xq = x.q.data() + row * cols + b * 256;
      __m512i sumi = _mm512_setzero_si512();
      for (int j = 0; j < 4; ++j) {
        const __m512i xv = _mm512_loadu_si512(xq + 64 * j);
        __m512i p = _mm512_maddubs_epi16(k.level[j], xv);
        if constexpr (T == GgmlType::Q6_K) p = _mm512_sub_epi16(p, _mm512_maddubs_epi16(m32, xv));
        sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(k.scale[j], p));
      }
      const __m256i lanes = _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1));
      const float xd = x.d[row * nb + b];
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(xd * k.d), _mm256_cvtepi32_ps(lanes), acc[r]);
      if constexpr (T != GgmlType::Q6_K) {
        const __m128i s32 =
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.sums32.data() + (row * cols + b * 256) / 32));
        const __m128i prod = _mm_madd_epi16(k.mins, s32);
        acc_min[r] = _mm_fmadd_ps(_mm_set1_ps(-xd * k.dmin), _mm_cvtepi32_ps(prod), acc_min[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    const float sum = hsum8(acc[r]);
    y[(r0 + r) * ldy] = T == GgmlType::Q6_K ? sum : sum + hsum4(acc_min[r]);
  }
}

// Q4_0: two blocks per register; |w| (unsigned) dotted with x carrying w's sign, by dpbusd.
// A Q4_0 block's 32 signed levels (level - 8), in element order.
TANDEM_AVX512 inline __m256i levels(const uint8_t* blk) {
  const __m128i m4 = _mm_set1_epi8(0xF);
  const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
  return _mm256_sub_epi8(_mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bits, 4), m4), _mm_and_si128(bits, m4)),
                         _mm256_set1_epi8(8));
}

template <int R>
TANDEM_AVX512 void q4_0_tile(const Q8Rows& x, size_t r0, const uint8_t* wrow, size_t nb, float* y, size_t ldy) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  size_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t* blk = wrow + b * 18;
    _mm_prefetch(reinterpret_cast<const char*>(blk + 6 * 18), _MM_HINT_T0);
    const __m512i w = join(levels(blk), levels(blk + 18));
    const __m512i wabs = _mm512_abs_epi8(w);
    const __mmask64 negative = _mm512_movepi8_mask(w);
    const float dw0 = _cvtsh_ss(read_u16(blk)), dw1 = _cvtsh_ss(read_u16(blk + 18));
    for (int r = 0; r < R; ++r) {
      const size_t row = r0 + r;
      const __m512i xv = _mm512_loadu_si512(x.q.data() + row * x.cols + b * 32);
      const __m512i xs = _mm512_mask_sub_epi8(xv, negative, _mm512_setzero_si512(), xv);
      const __m512i lanes = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wabs, xs);
      const float* xd = x.d.data() + row * nb + b;
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw0 * xd[0]), _mm256_cvtepi32_ps(_mm512_castsi512_si256(lanes)), acc[r]);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw1 * xd[1]), _mm256_cvtepi32_ps(_mm512_extracti64x4_epi64(lanes, 1)),
                               acc[r]);
    }
  }
  for (; b < nb; ++b) {
    const uint8_t* blk = wrow + b * 18;
    const __m256i w = levels(blk);
    const __m256i wabs = _mm256_abs_epi8(w);
    const float dw = _cvtsh_ss(read_u16(blk));
    for (int r = 0; r < R; ++r) {
      const size_t row = r0 + r;
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q.data() + row * x.cols + b * 32));
      const __m256i lanes = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wabs, _mm256_sign_epi8(xv, w));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d[row * nb + b]), _mm256_cvtepi32_ps(lanes), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[(r0 + r) * ldy] = hsum8(acc[r]);
}

template <GgmlType T, int R>
TANDEM_AVX512 void tile_entry(const QuantActivations& x, size_t r0, const uint8_t* wrow, size_t nb, float* y,
                              size_t ldy) {
  if constexpr (T == GgmlType::Q4_0) q4_0_tile<R>(*x.q8_0, r0, wrow, nb, y, ldy);
  else kquant_tile<T, R>(*x.q8_k, r0, wrow, nb, y, ldy);
}

template <GgmlType T>
void panel(const QuantActivations& x, size_t r0, size_t rows, const Matrix& w, uint32_t c0, uint32_t c1, float* y,
           size_t ldy) {
  const size_t nb = w.cols / ggml_block_size(T);
  const size_t row_bytes = nb * ggml_type_size(T);
  size_t r = r0;
  // 8 activation rows per weight block where the batch allows (32 registers hold their
  // accumulators next to the unpacked block), then 4, then 1.
  for (; r + 8 <= r0 + rows; r += 8)
    for (uint32_t c = c0; c < c1; ++c) tile_entry<T, 8>(x, r, w.quant + c * row_bytes, nb, y + c, ldy);
  for (; r + 4 <= r0 + rows; r += 4)
    for (uint32_t c = c0; c < c1; ++c) tile_entry<T, 4>(x, r, w.quant + c * row_bytes, nb, y + c, ldy);
  for (; r < r0 + rows; ++r)
    for (uint32_t c = c0; c < c1; ++c) tile_entry<T, 1>(x, r, w.quant + c * row_bytes, nb, y + c, ldy);
}

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  return has;
}

}  // namespace

bool quant_panel_avx512(const QuantActivations& x, size_t r0, size_t rows, const Matrix& w, uint32_t c0, uint32_t c1,
                        float* y, size_t ldy) {
  if (!cpu_has_avx512()) return false;
  switch (w.source_type) {
    case GgmlType::Q4_0: panel<GgmlType::Q4_0>(x, r0, rows, w, c0, c1, y, ldy); return true;
    case GgmlType::Q4_K: panel<GgmlType::Q4_K>(x, r0, rows, w, c0, c1, y, ldy); return true;
    case GgmlType::Q5_K: panel<GgmlType::Q5_K>(x, r0, rows, w, c0, c1, y, ldy); return true;
    case GgmlType::Q6_K: panel<GgmlType::Q6_K>(x, r0, rows, w, c0, c1, y, ldy); return true;
    default: return false;
  }
}

}  // namespace tandem::engine::detail
