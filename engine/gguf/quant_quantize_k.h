// Internal to engine/gguf: ggml's reference quantizers for Q4_K, Q5_K, Q6_K, Q5_0 and Q5_1
// (quant_quantize_k.cpp). nb is the number of blocks; out receives nb blocks in ggml's layout.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::engine::detail {

void quantize_row_q4_k_reference(const float* x, uint8_t* out, size_t nb);
void quantize_row_q5_k_reference(const float* x, uint8_t* out, size_t nb);
void quantize_row_q6_k_reference(const float* x, uint8_t* out, size_t nb);
void quantize_row_q5_0_reference(const float* x, uint8_t* out, size_t nb);
void quantize_row_q5_1_reference(const float* x, uint8_t* out, size_t nb);

}  // namespace tandem::engine::detail
