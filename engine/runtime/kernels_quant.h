// Matmuls on weights kept in their file format — Q4_0, Q4_K, Q5_K and Q6_K (Q8_0 has its own
// kernels in kernels_q8.cpp) — with the activations quantized the way llama.cpp's CPU backend
// does: to Q8_0 blocks of 32 for Q4_0, to Q8_K blocks of 256 (float scale, per-16 sums) for the
// K-quants. Each output element is ggml's AVX2 vec_dot arithmetic: exact integer dot products
// per block gathered in 8 int32 lanes (lane u: elements 4u..4u+3 of every 32), each lane scaled and
// accumulated in fp32 with one FMA per block, then the lanes summed pairwise; the K-quants with
// a min (Q4_K, Q5_K) add a 4-lane accumulator of their min terms. The scalar reference does
// exactly that in plain loops, and the SIMD paths must give its bits at every ISA level, for any
// batch size and thread count.
#pragma once

#include "engine/runtime/kernels.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::engine::detail {

// True when matmul_quant handles weights of this type kept quantized.
bool quant_kernel_supports(GgmlType type);

// Activations quantized per 256-block like ggml's quantize_row_q8_K_ref: d = max / -127 as a float
// (max the signed value of largest magnitude), q = min(127, round-half-even(x * -127 / max)),
// bsums = sums of each 16 q.
struct Q8KRows {
  std::vector<int8_t> q;       // [rows][cols]
  std::vector<float> d;        // [rows][cols / 256]
  std::vector<int16_t> bsums;  // [rows][cols / 16]
  std::vector<int16_t> sums32;  // [rows][cols / 32]: bsums in pairs, what the mins multiply
  size_t cols = 0;
};
void quantize_rows_q8_k(const float* x, size_t m, size_t cols, Q8KRows& out);
// Plain loops; quantize_rows_q8_k runs AVX-512 at the top ISA level and must give these bits.
void quantize_rows_q8_k_reference(const float* x, size_t m, size_t cols, Q8KRows& out);

// Y[m x w.rows] = X * W^T for a matrix kept in w.quant (type w.source_type).
void matmul_quant(const float* x, size_t m, const Matrix& w, float* y);
void matmul_quant_reference(const float* x, size_t m, const Matrix& w, float* y);

const char* quant_kernel_isa();  // "avx512vnni", "avxvnni", "avx2" or "scalar"
// For tests: use at most this ISA level (0 scalar, 1 avx2, 2 avxvnni, 3 avx512vnni = best
// available; the default is TANDEM_ISA's, see kernels.h); a level the CPU lacks falls back to the
// next one down.
void set_quant_kernel_isa_limit(int level);

// The SIMD tiles (kernels_quant_avx2.cpp, kernels_quant_avx512.cpp): `rows` activation rows
// starting at r0 against weight rows [c0, c1), writing y[r * ldy + c]. Return false when the CPU
// lacks the ISA.
struct QuantActivations {
  const Q8Rows* q8_0 = nullptr;   // Q4_0
  const Q8KRows* q8_k = nullptr;  // the K-quants
};
bool quant_panel_avx2(const QuantActivations& x, size_t r0, size_t rows, const Matrix& w, uint32_t c0, uint32_t c1,
                      float* y, size_t ldy);
bool quant_panel_avx512(const QuantActivations& x, size_t r0, size_t rows, const Matrix& w, uint32_t c0, uint32_t c1,
                        float* y, size_t ldy);

}  // namespace tandem::engine::detail
