// Type sizes, half-precision conversions and the scalar reference dequantizers, written to mirror
// ggml-quants.c's dequantize_row_* exactly (same formulas, same float operation order), so the
// AVX2 path can be held to bit-identical output.
#include "engine/quant.h"

#include "engine/gguf/quant_blocks.h"

#include <cstring>
#include <string>

// Fused multiply-add would round differently from the AVX2 path; keep every product rounded.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace tandem::engine {

using namespace detail;

namespace {

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

template <typename Block>
Block load_block(const void* src, size_t index) {
  Block b;
  std::memcpy(&b, static_cast<const uint8_t*>(src) + index * sizeof(Block), sizeof(Block));
  return b;
}

[[noreturn]] void unsupported(GgmlType type, const char* what) {
  throw GgufError("gguf: tensor type " + std::string(ggml_type_name(type)) + " is not supported" +
                  what);
}

void dequantize_q4_0(const void* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    auto b = load_block<BlockQ4_0>(src, i);
    const float d = fp16_to_fp32(b.d);
    for (size_t j = 0; j < QK4_0 / 2; ++j) {
      const int x0 = (b.qs[j] & 0x0F) - 8;
      const int x1 = (b.qs[j] >> 4) - 8;
      y[i * QK4_0 + j] = x0 * d;
      y[i * QK4_0 + j + QK4_0 / 2] = x1 * d;
    }
  }
}

void dequantize_q4_1(const void* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    auto b = load_block<BlockQ4_1>(src, i);
    const float d = fp16_to_fp32(b.d);
    const float m = fp16_to_fp32(b.m);
    for (size_t j = 0; j < QK4_1 / 2; ++j) {
      const int x0 = b.qs[j] & 0x0F;
      const int x1 = b.qs[j] >> 4;
      y[i * QK4_1 + j] = x0 * d + m;
      y[i * QK4_1 + j + QK4_1 / 2] = x1 * d + m;
    }
  }
}

void dequantize_q5_0(const void* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    auto b = load_block<BlockQ5_0>(src, i);
    const float d = fp16_to_fp32(b.d);
    uint32_t qh;
    std::memcpy(&qh, b.qh, sizeof qh);
    for (size_t j = 0; j < QK5_0 / 2; ++j) {
      const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
      const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
      const int32_t x0 = ((b.qs[j] & 0x0F) | xh_0) - 16;
      const int32_t x1 = ((b.qs[j] >> 4) | xh_1) - 16;
      y[i * QK5_0 + j] = x0 * d;
      y[i * QK5_0 + j + QK5_0 / 2] = x1 * d;
    }
  }
}

void dequantize_q5_1(const void* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    auto b = load_block<BlockQ5_1>(src, i);
    const float d = fp16_to_fp32(b.d);
    const float m = fp16_to_fp32(b.m);
    uint32_t qh;
    std::memcpy(&qh, b.qh, sizeof qh);
    for (size_t j = 0; j < QK5_1 / 2; ++j) {
      const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
      const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
      const int x0 = (b.qs[j] & 0x0F) | xh_0;
      const int x1 = (b.qs[j] >> 4) | xh_1;
      y[i * QK5_1 + j] = x0 * d + m;
      y[i * QK5_1 + j + QK5_1 / 2] = x1 * d + m;
    }
  }
}

void dequantize_q8_0(const void* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    auto b = load_block<BlockQ8_0>(src, i);
    const float d = fp16_to_fp32(b.d);
    for (size_t j = 0; j < QK8_0; ++j) y[i * QK8_0 + j] = b.qs[j] * d;
  }
}

void dequantize_q4_k(const void* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    auto b = load_block<BlockQ4_K>(src, i);
    const uint8_t* q = b.qs;
    const float d = fp16_to_fp32(b.d);
    const float min = fp16_to_fp32(b.dmin);
    int is = 0;
    uint8_t sc, m;
    for (size_t j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, b.scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, b.scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void dequantize_q5_k(const void* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    auto b = load_block<BlockQ5_K>(src, i);
    const uint8_t* ql = b.qs;
    const uint8_t* qh = b.qh;
    const float d = fp16_to_fp32(b.d);
    const float min = fp16_to_fp32(b.dmin);
    int is = 0;
    uint8_t sc, m;
    uint8_t u1 = 1, u2 = 2;
    for (size_t j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, b.scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, b.scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

void dequantize_q6_k(const void* src, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    auto b = load_block<BlockQ6_K>(src, i);
    const float d = fp16_to_fp32(b.d);
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    for (size_t n = 0; n < QK_K; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int8_t q1 = static_cast<int8_t>((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int8_t q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int8_t q3 = static_cast<int8_t>((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int8_t q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

}  // namespace

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1F;
  uint32_t mantissa = h & 0x3FF;
  if (exponent == 0x1F) {
    // Inf, or NaN made quiet (as the F16C instruction does), payload kept.
    uint32_t nan_bits = mantissa == 0 ? 0 : (0x00400000u | (mantissa << 13));
    return bits_float(sign | 0x7F800000u | nan_bits);
  }
  if (exponent != 0) return bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_float(sign);
  // Subnormal half: normalise into a float exponent.
  int e = 113;
  while ((mantissa & 0x400) == 0) {
    mantissa <<= 1;
    --e;
  }
  return bits_float(sign | (static_cast<uint32_t>(e) << 23) | ((mantissa & 0x3FF) << 13));
}

uint16_t fp32_to_fp16(float f) {
  const uint32_t x = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7FFFFFFF;
  if (abs > 0x7F800000) return sign | 0x7E00 | static_cast<uint16_t>((abs >> 13) & 0x3FF);  // NaN
  if (abs >= 0x38800000) {  // normal half range (or overflow): rebias, round to nearest even
    uint32_t r = abs - 0x38000000;
    r = (r + 0xFFF + ((r >> 13) & 1)) >> 13;
    return sign | static_cast<uint16_t>(r >= 0x7C00 ? 0x7C00 : r);
  }
  const uint32_t e = abs >> 23;
  if (e < 102) return sign;  // below half the smallest subnormal: rounds to zero
  const uint32_t mantissa = (abs & 0x7FFFFF) | 0x800000;
  const uint32_t shift = 126 - e;
  uint32_t result = mantissa >> shift;
  const uint32_t rest = mantissa & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (result & 1))) ++result;
  return sign | static_cast<uint16_t>(result);
}

float bf16_to_fp32(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

uint16_t fp32_to_bf16(float f) {
  const uint32_t x = float_bits(f);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

bool ggml_type_supported(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1:
    case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

size_t ggml_block_size(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: return 1;
    case GgmlType::Q8_0: case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0:
    case GgmlType::Q5_1:
      return 32;
    case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K: return QK_K;
    default: unsupported(type, "");
  }
}

size_t ggml_type_size(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return 4;
    case GgmlType::F16: case GgmlType::BF16: return 2;
    case GgmlType::Q8_0: return sizeof(BlockQ8_0);
    case GgmlType::Q4_0: return sizeof(BlockQ4_0);
    case GgmlType::Q4_1: return sizeof(BlockQ4_1);
    case GgmlType::Q5_0: return sizeof(BlockQ5_0);
    case GgmlType::Q5_1: return sizeof(BlockQ5_1);
    case GgmlType::Q4_K: return sizeof(BlockQ4_K);
    case GgmlType::Q5_K: return sizeof(BlockQ5_K);
    case GgmlType::Q6_K: return sizeof(BlockQ6_K);
    default: unsupported(type, "");
  }
}

size_t ggml_row_bytes(GgmlType type, uint64_t n) {
  const size_t block = ggml_block_size(type);
  if (n % block != 0) {
    throw GgufError("gguf: a " + std::string(ggml_type_name(type)) + " row of " +
                    std::to_string(n) + " elements is not a multiple of the block size " +
                    std::to_string(block));
  }
  return static_cast<size_t>(n / block) * ggml_type_size(type);
}

void dequantize_row_reference(GgmlType type, const void* src, float* dst, size_t n) {
  const size_t nb = n / ggml_block_size(type);
  ggml_row_bytes(type, n);  // validates n against the block size
  const auto* bytes = static_cast<const uint8_t*>(src);
  switch (type) {
    case GgmlType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
    case GgmlType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        dst[i] = fp16_to_fp32(h);
      }
      return;
    case GgmlType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        dst[i] = bf16_to_fp32(h);
      }
      return;
    case GgmlType::Q4_0: return dequantize_q4_0(src, dst, nb);
    case GgmlType::Q4_1: return dequantize_q4_1(src, dst, nb);
    case GgmlType::Q5_0: return dequantize_q5_0(src, dst, nb);
    case GgmlType::Q5_1: return dequantize_q5_1(src, dst, nb);
    case GgmlType::Q8_0: return dequantize_q8_0(src, dst, nb);
    case GgmlType::Q4_K: return dequantize_q4_k(src, dst, nb);
    case GgmlType::Q5_K: return dequantize_q5_k(src, dst, nb);
    case GgmlType::Q6_K: return dequantize_q6_k(src, dst, nb);
    default: unsupported(type, " for dequantization");
  }
}

void dequantize_row(GgmlType type, const void* src, float* dst, size_t n) {
  ggml_row_bytes(type, n);  // validates type and n before the fast path trusts them
  if (dequantize_row_fast(static_cast<int>(type), src, dst, n)) return;
  dequantize_row_reference(type, src, dst, n);
}

bool dequantize_has_fast_path(GgmlType type) {
  return fast_path_available(static_cast<int>(type));
}

}  // namespace tandem::engine
