// Dequantization of ggml tensor rows to F32.
// Each supported type has a plain scalar reference (readable, the ground truth) and, where the
// CPU has AVX2, a fast path that must produce bit-identical output (tested against the scalar one).
#pragma once

#include "engine/gguf.h"

#include <cstddef>
#include <cstdint>

namespace tandem::engine {

// Elements per block and bytes per block for a type (F32: 1 and 4). Throws GgufError for an
// unsupported type, naming it.
size_t ggml_block_size(GgmlType type);
size_t ggml_type_size(GgmlType type);
// Bytes of a row of n elements; throws GgufError if n is not a multiple of the block size.
size_t ggml_row_bytes(GgmlType type, uint64_t n);
bool ggml_type_supported(GgmlType type);  // F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K

// Dequantize n elements (a multiple of the block size) from src into dst.
// Uses the fast path when available.
void dequantize_row(GgmlType type, const void* src, float* dst, size_t n);
// The scalar reference, always available.
void dequantize_row_reference(GgmlType type, const void* src, float* dst, size_t n);

// True when dequantize_row uses the AVX2 path for this type on this CPU.
bool dequantize_has_fast_path(GgmlType type);

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even

// Quantization (for the GGUF writer and `tandem quantize`), following ggml's reference quantizers
// (quantize_row_*_ref, no importance matrix) byte for byte. Supported: F32 F16 BF16 Q8_0 Q4_0
// Q5_0 Q5_1 Q4_K Q5_K Q6_K.
// n must be a multiple of the block size; dst must hold ggml_row_bytes(type, n) bytes.
// Throws GgufError for other types or a non-finite input value.
bool ggml_type_quantizable(GgmlType type);
void quantize_row(GgmlType type, const float* src, void* dst, size_t n);

}  // namespace tandem::engine
