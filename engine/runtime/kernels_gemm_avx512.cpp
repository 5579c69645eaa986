// AVX-512 VNNI GEMM panels for kept-quantized weights (kernels_gemm.h): a scalar repack of 16
// weight rows into lane-major blocks, then register tiles of 2 activation rows x 16 weight rows.
#include "engine/quant.h"
#include "engine/runtime/kernels_gemm.h"
#include "engine/runtime/kernels_quant_blocks.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace tandem::engine::detail {

namespace {

#define TANDEM_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

using quant_blocks::read_u16;

constexpr int kLanes = 8;  // the fp32 lanes of every output: lane u sums elements 4u..4u+3 of each 32

// A zmm as 64 bytes / 16 int32 / 16 int16 pairs / 16 floats, for the scalar repack.
union Slot {
  __m512i v;
  int8_t i8[64];
  uint8_t u8[64];
  int32_t i32[16];
  int16_t i16[32];
  float f32[16];
};
static_assert(sizeof(Slot) == 64);

// The repacked panel, reused by the calling thread from one call to the next, 64-byte aligned
// (std::allocator does not promise the union's alignment here).
Slot* panel_buffer(size_t slots) {
  static thread_local std::vector<uint8_t> buffer;
  buffer.resize((slots + 1) * sizeof(Slot));
  const auto address = reinterpret_cast<uintptr_t>(buffer.data());
  return reinterpret_cast<Slot*>((address + sizeof(Slot) - 1) / sizeof(Slot) * sizeof(Slot));
}

inline int32_t load4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// ---- Blocks of 32 with one fp16 scale: Q8_0 and Q4_0 ----------------------------------------
// Per block: [0] the 16 rows' scales as floats, [1 + u] lane u's weights + 128 (4 bytes per row:
// dpbusd's unsigned operand; the activations' seeds cancel the bias).
constexpr size_t kQ32Slots = 1 + kLanes;

// words[w].i32[j] = bytes 4w..4w+3 from `from` in row j's block: the panel's quants transposed
// by plain copies (_mm512_i32gather_epi32 was slower).
inline void transpose_words(const uint8_t* from, size_t row_bytes, int n_words, Slot* words) {
  for (uint32_t j = 0; j < kGemmPanelRows; ++j) {
    const uint8_t* row = from + j * row_bytes;
    for (int w = 0; w < n_words; ++w) words[w].i32[j] = load4(row + 4 * w);
  }
}

// Scalar word moves straight into the slots, the +128 applied per word (XOR 0x80 on each int8;
// Q4_0's nibble - 8 + 128 = nibble + 120, no carries): reloading stored words into SIMD
// registers stalled on store forwarding.
TANDEM_AVX512 void repack_q32(GgmlType type, const Matrix& w, uint32_t c0, size_t nb, Slot* out) {
  const bool q8 = type == GgmlType::Q8_0;
  const size_t block_bytes = q8 ? kQ8BlockBytes : 18;
  const size_t row_bytes = nb * block_bytes;
  const uint8_t* base = (q8 ? w.q8_0 : w.quant) + c0 * row_bytes;
  constexpr uint32_t kBias = 0x80808080u, kLow4 = 0x0F0F0F0Fu, kNibbleBias = 0x78787878u;
  for (size_t b = 0; b < nb; ++b) {
    Slot* slots = out + b * kQ32Slots;
    alignas(32) uint16_t scales[kGemmPanelRows];
    for (uint32_t j = 0; j < kGemmPanelRows; ++j) {
      const uint8_t* blk = base + j * row_bytes + b * block_bytes;
      scales[j] = read_u16(blk);
      if (q8) {
#pragma GCC unroll 8
        for (int u = 0; u < kLanes; ++u)
          slots[1 + u].i32[j] = static_cast<int32_t>(static_cast<uint32_t>(load4(blk + 2 + 4 * u)) ^ kBias);
      } else {  // Q4_0: element i < 16 is byte i's low nibble, i >= 16 byte i - 16's high one
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) {
          const auto bits = static_cast<uint32_t>(load4(blk + 2 + 4 * u));
          slots[1 + u].i32[j] = static_cast<int32_t>((bits & kLow4) + kNibbleBias);
          slots[5 + u].i32[j] = static_cast<int32_t>(((bits >> 4) & kLow4) + kNibbleBias);
        }
      }
    }
    _mm512_store_ps(slots[0].f32, _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(scales))));
  }
}

// The 8 lanes of 16 outputs summed as the per-row paths' horizontal sum does:
// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
TANDEM_AVX512 inline __m512 sum_lanes(const __m512* acc) {
  const __m512 q0 = _mm512_add_ps(acc[0], acc[4]), q1 = _mm512_add_ps(acc[1], acc[5]);
  const __m512 q2 = _mm512_add_ps(acc[2], acc[6]), q3 = _mm512_add_ps(acc[3], acc[7]);
  return _mm512_add_ps(_mm512_add_ps(q0, q2), _mm512_add_ps(q1, q3));
}

template <int R>
TANDEM_AVX512 void q32_tile(const Slot* pack, size_t nb, const int8_t* const* xq, const int32_t* const* seeds,
                            const float* const* xd, float* y, size_t ldy) {
  __m512 acc[R][kLanes];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int u = 0; u < kLanes; ++u) acc[r][u] = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const Slot* blk = pack + b * kQ32Slots;
    const __m512 dw = _mm512_load_ps(blk[0].f32);
    __m512 scale[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) scale[r] = _mm512_mul_ps(dw, _mm512_set1_ps(xd[r][b]));
#pragma GCC unroll 8
    for (int u = 0; u < kLanes; ++u) {
      const __m512i weights = _mm512_load_si512(&blk[1 + u].v);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512i seed = _mm512_set1_epi32(seeds[r][kLanes * b + u]);
        const __m512i x4 = _mm512_set1_epi32(load4(xq[r] + 32 * b + 4 * u));
        const __m512i lanes = _mm512_dpbusd_epi32(seed, weights, x4);
        acc[r][u] = _mm512_fmadd_ps(scale[r], _mm512_cvtepi32_ps(lanes), acc[r][u]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(y + r * ldy, sum_lanes(acc[r]));
}

// ---- K-quants: blocks of 256 ------------------------------------------------------------------
// Per block: [0] d and [1] dmin as floats; [2 + 8s + u] lane u of sub-block s (4 unsigned levels
// per row; Q6_K's carry its +32); [66 + 2s + h] the int16 scale (twice per slot) of half h of
// sub-block s (the same for both halves but in Q6_K); [82 + l] the mins of sub-blocks 2l, 2l+1.
constexpr size_t kLevelSlot = 2, kScaleSlot = 66, kMinSlot = 82, kKSlots = 86;

// Q6_K's two high bits of each level at `shift` in qh, moved to bits 4-5.
TANDEM_AVX512 inline __m512i q6_high(__m512i qh, unsigned shift, __m512i low2) {
  return _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh, shift), low2), 4);
}

TANDEM_AVX512 void repack_kquant(GgmlType type, const Matrix& w, uint32_t c0, size_t nb, Slot* out) {
  const size_t block_bytes = ggml_type_size(type);
  const size_t row_bytes = nb * block_bytes;
  const uint8_t* base = w.quant + c0 * row_bytes;
  const __m512i low4 = _mm512_set1_epi8(0xF), low2 = _mm512_set1_epi8(3), low1 = _mm512_set1_epi8(1);
  for (size_t b = 0; b < nb; ++b) {
    Slot* slots = out + b * kKSlots;
    const uint8_t* blk = base + b * block_bytes;
    // The per-row header: fp16 d (and dmin), the scales and mins.
    for (uint32_t j = 0; j < kGemmPanelRows; ++j) {
      const uint8_t* row = blk + j * row_bytes;
      if (type == GgmlType::Q6_K) {
        slots[0].f32[j] = fp16_to_fp32(read_u16(row + 208));
        slots[1].f32[j] = 0.0f;
        for (int h = 0; h < 16; ++h) {
          const int16_t scale = static_cast<int8_t>(row[192 + h]);
          slots[kScaleSlot + h].i16[2 * j] = slots[kScaleSlot + h].i16[2 * j + 1] = scale;
        }
        for (int l = 0; l < 4; ++l) slots[kMinSlot + l].i32[j] = 0;
      } else {
        slots[0].f32[j] = fp16_to_fp32(read_u16(row));
        slots[1].f32[j] = fp16_to_fp32(read_u16(row + 2));
        uint8_t scales_and_mins[16];
        quant_blocks::k4_scales_and_mins(row + 4, scales_and_mins);
        for (int h = 0; h < 16; ++h)
          slots[kScaleSlot + h].i16[2 * j] = slots[kScaleSlot + h].i16[2 * j + 1] = scales_and_mins[h / 2];
        for (int l = 0; l < 4; ++l) {
          slots[kMinSlot + l].i16[2 * j] = scales_and_mins[8 + 2 * l];
          slots[kMinSlot + l].i16[2 * j + 1] = scales_and_mins[8 + 2 * l + 1];
        }
      }
    }
    // The levels, 4 per row and slot (unsigned; Q6_K's keep their +32), from the quant bytes
    // transposed to words[(byte offset - 16) / 4] (Q6_K: [byte offset / 4]).
    Slot* levels = slots + kLevelSlot;  // [8 * s + u]
    alignas(64) Slot words[48];
    if (type == GgmlType::Q6_K) {
      transpose_words(blk, row_bytes, 48, words);
      for (int n = 0; n < 2; ++n)
#pragma GCC unroll 8
        for (int u = 0; u < kLanes; ++u) {
          const __m512i l0 = words[16 * n + u].v;
          const __m512i l1 = words[16 * n + 8 + u].v;
          const __m512i h = words[32 + 8 * n + u].v;
          _mm512_store_si512(&levels[8 * (4 * n + 0) + u].v, _mm512_or_si512(_mm512_and_si512(l0, low4), q6_high(h, 0, low2)));
          _mm512_store_si512(&levels[8 * (4 * n + 1) + u].v, _mm512_or_si512(_mm512_and_si512(l1, low4), q6_high(h, 2, low2)));
          _mm512_store_si512(&levels[8 * (4 * n + 2) + u].v,
                             _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(l0, 4), low4), q6_high(h, 4, low2)));
          _mm512_store_si512(&levels[8 * (4 * n + 3) + u].v,
                             _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(l1, 4), low4), q6_high(h, 6, low2)));
        }
      continue;
    }
    const bool q5 = type == GgmlType::Q5_K;
    transpose_words(blk + 16, row_bytes, q5 ? 40 : 32, words);
    const Slot* qs = words + (q5 ? 8 : 0);
#pragma GCC unroll 8
    for (int u = 0; u < kLanes; ++u) {
      // Q5_K's fifth bit of element 4u + k of sub-block s: bit s of qh[4u + k].
      const __m512i qh = q5 ? words[u].v : _mm512_setzero_si512();
      for (int pair = 0; pair < 4; ++pair) {
        const __m512i bits = qs[8 * pair + u].v;
        __m512i even = _mm512_and_si512(bits, low4);
        __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 4), low4);
        if (q5) {
          even = _mm512_or_si512(even, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh, 2 * pair), low1), 4));
          odd = _mm512_or_si512(odd, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh, 2 * pair + 1), low1), 4));
        }
        _mm512_store_si512(&levels[8 * (2 * pair) + u].v, even);
        _mm512_store_si512(&levels[8 * (2 * pair + 1) + u].v, odd);
      }
    }
  }
}

// lanes[u] = sum over sub-blocks s of scale * (4 level x activation products): maddubs gives the
// two exact int16 pair sums of a slot, dpwssd multiplies them by the scale and adds both.
template <int R, bool Q6>
TANDEM_AVX512 void kquant_tile(const Slot* pack, size_t nb, const Q8KRows& x, const int16_t* offset32, size_t r0,
                               float* y, size_t ldy) {
  const size_t cols = x.cols;
  const int8_t* xq[R];
  const float* xd[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    xq[r] = x.q.data() + (r0 + r) * cols;
    xd[r] = x.d.data() + (r0 + r) * nb;
  }
  __m512 acc[R][kLanes];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int u = 0; u < kLanes; ++u) acc[r][u] = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const Slot* blk = pack + b * kKSlots;
    const __m512 d = _mm512_load_ps(blk[0].f32);
    __m512 scale[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) scale[r] = _mm512_mul_ps(_mm512_set1_ps(xd[r][b]), d);
#pragma GCC unroll 8
    for (int u = 0; u < kLanes; ++u) {
      __m512i lanes[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) lanes[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int s = 0; s < 8; ++s) {
        const __m512i levels = _mm512_load_si512(&blk[kLevelSlot + 8 * s + u].v);
        const __m512i scales = _mm512_load_si512(&blk[kScaleSlot + 2 * s + u / 4].v);
        const size_t e = 256 * b + 32 * s + 4 * u;
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          __m512i pairs = _mm512_maddubs_epi16(levels, _mm512_set1_epi32(load4(xq[r] + e)));
          if constexpr (Q6)
            pairs = _mm512_sub_epi16(pairs, _mm512_set1_epi32(load4(offset32 + ((r0 + r) * cols + e) / 2)));
          lanes[r] = _mm512_dpwssd_epi32(lanes[r], pairs, scales);
        }
      }
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][u] = _mm512_fmadd_ps(scale[r], _mm512_cvtepi32_ps(lanes[r]), acc[r][u]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    __m512 sum = sum_lanes(acc[r]);
    if constexpr (!Q6) {
      // The mins' own chain: 4 lanes of two sub-blocks each, (m0 + m2) + (m1 + m3) at the end.
      const int16_t* sums32 = x.sums32.data() + (r0 + r) * cols / 32;
      __m512 mins[4];
#pragma GCC unroll 4
      for (int l = 0; l < 4; ++l) mins[l] = _mm512_setzero_ps();
      for (size_t b = 0; b < nb; ++b) {
        const Slot* blk = pack + b * kKSlots;
        const __m512 dmin = _mm512_mul_ps(_mm512_set1_ps(-xd[r][b]), _mm512_load_ps(blk[1].f32));
#pragma GCC unroll 4
        for (int l = 0; l < 4; ++l) {
          const __m512i s32 = _mm512_set1_epi32(load4(sums32 + 8 * b + 2 * l));
          const __m512i prod = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_load_si512(&blk[kMinSlot + l].v), s32);
          mins[l] = _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(prod), mins[l]);
        }
      }
      sum = _mm512_add_ps(sum, _mm512_add_ps(_mm512_add_ps(mins[0], mins[2]), _mm512_add_ps(mins[1], mins[3])));
    }
    _mm512_storeu_ps(y + r * ldy, sum);
  }
}

template <int R>
TANDEM_AVX512 void q32_rows(const Slot* pack, size_t nb, const GemmActivations& x, size_t r0, float* y, size_t ldy) {
  const int8_t* xq[R];
  const int32_t* seeds[R];
  const float* xd[R];
  for (int r = 0; r < R; ++r) {
    xq[r] = x.q8_0->q.data() + (r0 + r) * x.q8_0->cols;
    seeds[r] = x.seeds.data() + (r0 + r) * nb * kLanes;
    xd[r] = x.q8_0->d.data() + (r0 + r) * nb;
  }
  q32_tile<R>(pack, nb, xq, seeds, xd, y + r0 * ldy, ldy);
}

TANDEM_AVX512 void panel_q32(GgmlType type, const GemmActivations& x, size_t m, const Matrix& w, uint32_t c0,
                             uint32_t c1, float* y, size_t ldy) {
  const size_t nb = w.cols / 32;
  Slot* pack = panel_buffer(nb * kQ32Slots);
  for (uint32_t c = c0; c < c1; c += kGemmPanelRows) {
    repack_q32(type, w, c, nb, pack);
    size_t r = 0;
    for (; r + 3 <= m; r += 3) q32_rows<3>(pack, nb, x, r, y + c, ldy);
    for (; r + 2 <= m; r += 2) q32_rows<2>(pack, nb, x, r, y + c, ldy);
    for (; r < m; ++r) q32_rows<1>(pack, nb, x, r, y + c, ldy);
  }
}

template <bool Q6>
TANDEM_AVX512 void panel_kquant(GgmlType type, const GemmActivations& x, size_t m, const Matrix& w, uint32_t c0,
                                uint32_t c1, float* y, size_t ldy) {
  const size_t nb = w.cols / 256;
  Slot* pack = panel_buffer(nb * kKSlots);
  const int16_t* offset32 = x.offset32.data();
  for (uint32_t c = c0; c < c1; c += kGemmPanelRows) {
    repack_kquant(type, w, c, nb, pack);
    size_t r = 0;
    for (; r + 2 <= m; r += 2) kquant_tile<2, Q6>(pack, nb, *x.q8_k, offset32, r, y + r * ldy + c, ldy);
    for (; r < m; ++r) kquant_tile<1, Q6>(pack, nb, *x.q8_k, offset32, r, y + r * ldy + c, ldy);
  }
}

}  // namespace

namespace {
std::atomic<size_t> g_min_rows_override{0};
}  // namespace

// Measured with BM_GemmRows (ffn_up 2048 x 768, per-row tiles vs panels at the same level, one
// thread, on a Zen 4 forced to each level). SIZE_MAX: the panels never won there. Q8_0 in ymm
// needs a float FMA per 32 products in either layout (the reference's order), so its per-row
// tiles, 4 rows x 2 weight rows, cost the same as the panels (AVX2: 21 vs 23 ms at 512 rows;
// AVX-VNNI: 21 vs 22 ms); the K-quants and Q4_0 amortize the float work over a whole block or
// drop the sign trick (512 rows, AVX2 / AVX-VNNI: Q4_K 31 -> 20 / 30 -> 12 ms, Q6_K 37 -> 24 / 38
// -> 22, Q5_K 35 -> 20 / 31 -> 12, Q4_0 38 -> 23 / 27 -> 17).
size_t gemm_min_rows(GgmlType type, GemmIsa isa) {
  if (const size_t rows = g_min_rows_override.load(std::memory_order_relaxed)) return rows;
  switch (isa) {
    case GemmIsa::avx512vnni:
      switch (type) {
        case GgmlType::Q8_0: return 24;
        case GgmlType::Q4_0: return 8;
        default: return 16;
      }
    case GemmIsa::avxvnni:
      switch (type) {
        case GgmlType::Q8_0: return SIZE_MAX;
        case GgmlType::Q4_K:
        case GgmlType::Q6_K: return 16;
        case GgmlType::Q5_K: return 24;
        default: return 32;
      }
    case GemmIsa::avx2:
      switch (type) {
        case GgmlType::Q8_0: return SIZE_MAX;
        case GgmlType::Q6_K: return 16;
        default: return 32;
      }
  }
  return SIZE_MAX;
}
void set_gemm_min_rows(size_t rows) { g_min_rows_override.store(rows); }

bool gemm_kernels_available() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  return has;
}

void prepare_gemm_activations(GgmlType type, GemmActivations& x) {
  if (type == GgmlType::Q8_0 || type == GgmlType::Q4_0) {
    const std::vector<int8_t>& q = x.q8_0->q;
    x.seeds.resize(q.size() / 4);
    for (size_t i = 0; i < x.seeds.size(); ++i) x.seeds[i] = -128 * (q[4 * i] + q[4 * i + 1] + q[4 * i + 2] + q[4 * i + 3]);
    x.biased.resize(q.size());
    for (size_t i = 0; i < q.size(); ++i) x.biased[i] = static_cast<uint8_t>(q[i] + 128);
  } else if (type == GgmlType::Q6_K) {
    const std::vector<int8_t>& q = x.q8_k->q;
    x.offset32.resize(q.size() / 2);
    for (size_t i = 0; i < x.offset32.size(); ++i)
      x.offset32[i] = static_cast<int16_t>(32 * (q[2 * i] + q[2 * i + 1]));
  }
}

bool gemm_panel_avx512(const GemmActivations& x, size_t m, const Matrix& w, uint32_t c0, uint32_t c1, float* y,
                       size_t ldy) {
  if (!gemm_kernels_available() || (c1 - c0) % kGemmPanelRows != 0) return false;
  const GgmlType type = w.q8_0 ? GgmlType::Q8_0 : w.source_type;
  switch (type) {
    case GgmlType::Q8_0:
    case GgmlType::Q4_0: panel_q32(type, x, m, w, c0, c1, y, ldy); return true;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K: panel_kquant<false>(type, x, m, w, c0, c1, y, ldy); return true;
    case GgmlType::Q6_K: panel_kquant<true>(type, x, m, w, c0, c1, y, ldy); return true;
    default: return false;
  }
}

}  // namespace tandem::engine::detail
