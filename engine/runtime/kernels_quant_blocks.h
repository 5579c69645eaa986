// Internal to the kept-quantized kernels (kernels_quant*.cpp, kernels_gemm*.cpp): byte-level
// helpers shared by the scalar reference, the SIMD tiles and the GEMM panels' repacking.
#pragma once

#include "engine/quant.h"

#include <cstdint>
#include <cstring>

namespace tandem::engine::detail::quant_blocks {

inline uint16_t read_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// The 6-bit scales (out[0..7]) and mins (out[8..15]) of the 8 sub-blocks packed in a Q4_K / Q5_K
// block's 12 scale bytes: get_scale_min_k4 for all j at once, with ggml's word masks.
inline void k4_scales_and_mins(const uint8_t* packed, uint8_t* out) {
  constexpr uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
  uint32_t w[3];
  std::memcpy(w, packed, 12);
  const uint32_t words[4] = {
      w[0] & kLow6,                                       // scales 0-3
      (w[2] & kLow4) | (((w[0] >> 6) & kLow2) << 4),      // scales 4-7
      w[1] & kLow6,                                       // mins 0-3
      ((w[2] >> 4) & kLow4) | (((w[1] >> 6) & kLow2) << 4),  // mins 4-7
  };
  std::memcpy(out, words, 16);
}

// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K block's 12 scale bytes.
inline void scale_min_k4(int j, const uint8_t* q, int& d, int& m) {
  if (j < 4) {
    d = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

// Weight values of one 256-block, unpacked: level[e] for element e, and the integer scale
// (and min) that element's sub-block gets.
struct KBlock {
  int level[256];
  int scale[256];
  int min_of_sub32[8];  // Q4_K / Q5_K only
  float d, dmin;
};

inline void unpack_q4_k(const uint8_t* b, KBlock& k) {
  k.d = fp16_to_fp32(read_u16(b));
  k.dmin = fp16_to_fp32(read_u16(b + 2));
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  for (int s = 0; s < 8; ++s) {
    int sc, mn;
    scale_min_k4(s, scales, sc, mn);
    k.min_of_sub32[s] = mn;
    for (int i = 0; i < 32; ++i) {
      const uint8_t byte = qs[32 * (s / 2) + i];
      k.level[32 * s + i] = (s & 1) ? byte >> 4 : byte & 0xF;
      k.scale[32 * s + i] = sc;
    }
  }
}

inline void unpack_q5_k(const uint8_t* b, KBlock& k) {
  unpack_q4_k(b, k);  // same header and low nibbles, shifted: qh sits before qs
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int s = 0; s < 8; ++s) {
    int sc, mn;
    scale_min_k4(s, scales, sc, mn);
    for (int i = 0; i < 32; ++i) {
      const uint8_t byte = qs[32 * (s / 2) + i];
      k.level[32 * s + i] = ((s & 1) ? byte >> 4 : byte & 0xF) + (((qh[i] >> s) & 1) << 4);
    }
  }
}

inline void unpack_q6_k(const uint8_t* b, KBlock& k) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  k.d = fp16_to_fp32(read_u16(b + 208));
  k.dmin = 0.0f;
  for (int n = 0; n < 2; ++n)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* L = ql + 64 * n;
      const uint8_t h = qh[32 * n + l];
      const int e = 128 * n + l;
      k.level[e + 0] = ((L[l] & 0xF) | (((h >> 0) & 3) << 4)) - 32;
      k.level[e + 32] = ((L[l + 32] & 0xF) | (((h >> 2) & 3) << 4)) - 32;
      k.level[e + 64] = ((L[l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
      k.level[e + 96] = ((L[l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
    }
  for (int e = 0; e < static_cast<int>(256); ++e) k.scale[e] = sc[e / 16];
}

}  // namespace tandem::engine::detail::quant_blocks
