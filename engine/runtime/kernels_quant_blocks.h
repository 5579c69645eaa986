// Internal to the kept-quantized kernels (kernels_quant*.cpp): byte-level helpers shared by the
// scalar reference and the SIMD tiles.
#pragma once

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

}  // namespace tandem::engine::detail::quant_blocks
