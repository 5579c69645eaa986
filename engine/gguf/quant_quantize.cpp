// Quantizers for the GGUF writer and `tandem quantize`: ggml's reference formulas for Q8_0 and
// Q4_0 here, the K-quants and Q5_0/Q5_1 in quant_quantize_k.cpp, plain rounding conversions for
// F16/BF16. Dequantizing their output with dequantize_row gives what llama.cpp
// would have produced from the same floats.
#include "engine/quant.h"

#include "engine/gguf/quant_blocks.h"
#include "engine/gguf/quant_quantize_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace tandem::engine {

using namespace detail;

namespace {

void check_finite(const float* x, size_t n, GgmlType type) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      throw GgufError("gguf: cannot quantize to " + std::string(ggml_type_name(type)) +
                      ": element " + std::to_string(i) + " is not finite");
    }
  }
}

void quantize_q8_0(const float* x, uint8_t* out, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    BlockQ8_0 b;
    float amax = 0.0f;
    for (size_t j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(x[i * QK8_0 + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b.d = fp32_to_fp16(d);
    for (size_t j = 0; j < QK8_0; ++j) {
      b.qs[j] = static_cast<int8_t>(std::roundf(x[i * QK8_0 + j] * id));
    }
    std::memcpy(out + i * sizeof b, &b, sizeof b);
  }
}

void quantize_q4_0(const float* x, uint8_t* out, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    BlockQ4_0 b;
    float amax = 0.0f;  // absolute max
    float max = 0.0f;   // the value with that magnitude, sign kept
    for (size_t j = 0; j < QK4_0; ++j) {
      const float v = x[i * QK4_0 + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b.d = fp32_to_fp16(d);
    for (size_t j = 0; j < QK4_0 / 2; ++j) {
      const float x0 = x[i * QK4_0 + j] * id;
      const float x1 = x[i * QK4_0 + QK4_0 / 2 + j] * id;
      const uint8_t xi0 = std::min<int8_t>(15, static_cast<int8_t>(x0 + 8.5f));
      const uint8_t xi1 = std::min<int8_t>(15, static_cast<int8_t>(x1 + 8.5f));
      b.qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
    std::memcpy(out + i * sizeof b, &b, sizeof b);
  }
}

}  // namespace

bool ggml_type_quantizable(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q4_K:
    case GgmlType::Q5_K: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

void quantize_row(GgmlType type, const float* src, void* dst, size_t n) {
  if (!ggml_type_quantizable(type)) {
    throw GgufError("gguf: quantizing to " + std::string(ggml_type_name(type)) +
                    " is not supported (supported: F32 F16 BF16 Q8_0 Q4_0 Q5_0 Q5_1 Q4_K Q5_K Q6_K)");
  }
  ggml_row_bytes(type, n);  // validates n against the block size
  auto* out = static_cast<uint8_t*>(dst);
  switch (type) {
    case GgmlType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
    case GgmlType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = fp32_to_fp16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case GgmlType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case GgmlType::Q8_0:
      check_finite(src, n, type);
      return quantize_q8_0(src, out, n / QK8_0);
    case GgmlType::Q4_0:
      check_finite(src, n, type);
      return quantize_q4_0(src, out, n / QK4_0);
    case GgmlType::Q5_0:
      check_finite(src, n, type);
      return quantize_row_q5_0_reference(src, out, n / QK5_0);
    case GgmlType::Q5_1:
      check_finite(src, n, type);
      return quantize_row_q5_1_reference(src, out, n / QK5_1);
    case GgmlType::Q4_K:
      check_finite(src, n, type);
      return quantize_row_q4_k_reference(src, out, n / QK_K);
    case GgmlType::Q5_K:
      check_finite(src, n, type);
      return quantize_row_q5_k_reference(src, out, n / QK_K);
    case GgmlType::Q6_K:
      check_finite(src, n, type);
      return quantize_row_q6_k_reference(src, out, n / QK_K);
    default: return;
  }
}

}  // namespace tandem::engine
