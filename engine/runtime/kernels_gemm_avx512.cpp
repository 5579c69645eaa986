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
// Per block: [0] the 16 rows' scales as floats, [1 + u] lane u's weights (4 int8 per row),
// [9 + u] lane u's dpbusd seed: -128 * (sum of those 4 weights), which cancels the +128 bias
// of the activations.
constexpr size_t kQ32Slots = 1 + 2 * kLanes;

void repack_q32(GgmlType type, const Matrix& w, uint32_t c0, size_t nb, Slot* out) {
  const size_t block_bytes = type == GgmlType::Q8_0 ? kQ8BlockBytes : 18;
  const size_t row_bytes = nb * block_bytes;
  const uint8_t* base = type == GgmlType::Q8_0 ? w.q8_0 : w.quant;
  for (size_t b = 0; b < nb; ++b) {
    Slot* slots = out + b * kQ32Slots;
    for (uint32_t j = 0; j < kGemmPanelRows; ++j) {
      const uint8_t* blk = base + (c0 + j) * row_bytes + b * block_bytes;
      slots[0].f32[j] = fp16_to_fp32(read_u16(blk));
      int8_t levels[32];
      if (type == GgmlType::Q8_0) {
        std::memcpy(levels, blk + 2, 32);
      } else {  // Q4_0: element i < 16 is byte i's low nibble, i >= 16 byte i - 16's high one
        for (int i = 0; i < 16; ++i) {
          levels[i] = static_cast<int8_t>((blk[2 + i] & 0xF) - 8);
          levels[i + 16] = static_cast<int8_t>((blk[2 + i] >> 4) - 8);
        }
      }
      for (int u = 0; u < kLanes; ++u) {
        int32_t sum = 0;
        for (int k = 0; k < 4; ++k) {
          slots[1 + u].i8[4 * j + k] = levels[4 * u + k];
          sum += levels[4 * u + k];
        }
        slots[1 + kLanes + u].i32[j] = -128 * sum;
      }
    }
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
TANDEM_AVX512 void q32_tile(const Slot* pack, size_t nb, const uint8_t* const* xu, const float* const* xd, float* y,
                            size_t ldy) {
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
      const __m512i seed = _mm512_load_si512(&blk[1 + kLanes + u].v);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512i x4 = _mm512_set1_epi32(load4(xu[r] + 32 * b + 4 * u));
        const __m512i lanes = _mm512_dpbusd_epi32(seed, x4, weights);
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

void repack_kquant(GgmlType type, const Matrix& w, uint32_t c0, size_t nb, Slot* out) {
  const size_t block_bytes = ggml_type_size(type);
  const size_t row_bytes = nb * block_bytes;
  quant_blocks::KBlock k;
  for (size_t b = 0; b < nb; ++b) {
    Slot* slots = out + b * kKSlots;
    for (uint32_t j = 0; j < kGemmPanelRows; ++j) {
      const uint8_t* blk = w.quant + (c0 + j) * row_bytes + b * block_bytes;
      if (type == GgmlType::Q4_K) quant_blocks::unpack_q4_k(blk, k);
      else if (type == GgmlType::Q5_K) quant_blocks::unpack_q5_k(blk, k);
      else quant_blocks::unpack_q6_k(blk, k);
      const int level_offset = type == GgmlType::Q6_K ? 32 : 0;
      slots[0].f32[j] = k.d;
      slots[1].f32[j] = k.dmin;
      for (int e = 0; e < 256; ++e) {
        const int s = e / 32, u = (e % 32) / 4;
        slots[kLevelSlot + 8 * s + u].u8[4 * j + e % 4] = static_cast<uint8_t>(k.level[e] + level_offset);
      }
      for (int half = 0; half < 16; ++half) {
        const auto scale = static_cast<int16_t>(k.scale[16 * half]);
        slots[kScaleSlot + half].i16[2 * j] = scale;
        slots[kScaleSlot + half].i16[2 * j + 1] = scale;
      }
      for (int l = 0; l < 4; ++l) {
        const bool has_mins = type != GgmlType::Q6_K;
        slots[kMinSlot + l].i16[2 * j] = static_cast<int16_t>(has_mins ? k.min_of_sub32[2 * l] : 0);
        slots[kMinSlot + l].i16[2 * j + 1] = static_cast<int16_t>(has_mins ? k.min_of_sub32[2 * l + 1] : 0);
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
  const uint8_t* xu[R];
  const float* xd[R];
  for (int r = 0; r < R; ++r) {
    xu[r] = x.biased.data() + (r0 + r) * x.q8_0->cols;
    xd[r] = x.q8_0->d.data() + (r0 + r) * nb;
  }
  q32_tile<R>(pack, nb, xu, xd, y + r0 * ldy, ldy);
}

TANDEM_AVX512 void panel_q32(GgmlType type, const GemmActivations& x, size_t m, const Matrix& w, uint32_t c0,
                             uint32_t c1, float* y, size_t ldy) {
  const size_t nb = w.cols / 32;
  Slot* pack = panel_buffer(nb * kQ32Slots);
  for (uint32_t c = c0; c < c1; c += kGemmPanelRows) {
    repack_q32(type, w, c, nb, pack);
    size_t r = 0;
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
std::atomic<size_t> g_min_rows{kGemmMinRows};
}  // namespace

size_t gemm_min_rows() { return g_min_rows.load(std::memory_order_relaxed); }
void set_gemm_min_rows(size_t rows) { g_min_rows.store(rows); }

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
