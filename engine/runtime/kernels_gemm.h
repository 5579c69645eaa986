// GEMM-shaped panels for many activation rows (prefill, large decode batches) on AVX-512 VNNI,
// AVX-VNNI and AVX2, for weights kept quantized: Q8_0, Q4_0, Q4_K, Q5_K and Q6_K. The AVX-512
// panels are described here; the ymm ones (kernels_gemm_avx2.cpp) have the same layout for 8 rows.
//
// The per-row tiles (kernels_q8.cpp, kernels_quant_avx*.cpp) keep each output's 8 fp32 lanes in
// one register and pay a scale multiply per output and block. Here a zmm holds the same lane of
// 16 outputs (16 weight rows) instead: each panel of 16 weight rows is repacked once per call so
// that a 32-bit slot holds 4 consecutive weights of one row, 4 activation bytes are broadcast,
// and one dpbusd (or maddubs + dpwssd for the K-quants) gives lane u of 16 outputs (Q8_0 and
// Q4_0 weights get +128 to be dpbusd's unsigned operand; a per-activation seed takes it back).
// The panel is then swept over every activation row, 3 (Q8_0, Q4_0) or 2 (K-quants) rows at a
// time, while the repacked weights stay in L1/L2. Each output's arithmetic is unchanged: the same
// exact integer lanes, one FMA per lane and block in block order, the same final sums; so the
// bits are the reference's and the per-row paths'.
#pragma once

#include "engine/runtime/kernels.h"
#include "engine/runtime/kernels_quant.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::engine::detail {

// Weight rows per panel: one per 32-bit slot of a zmm (AVX-512) or of a ymm (AVX2, AVX-VNNI).
constexpr uint32_t kGemmPanelRows = 16;
constexpr uint32_t kGemmPanelRowsYmm = 8;

// The ISA level a panel runs at (the Q8_0 / quant kernels' levels 1, 2, 3).
enum class GemmIsa { avx2 = 1, avxvnni = 2, avx512vnni = 3 };

// Batches of at least this many rows take the GEMM panels at that level: where they overtake the
// per-row tiles (bench/engine/kernel_bench.cpp BM_GemmRows, ffn_up 2048 x 768, one thread; the
// numbers are in the definition). Benchmarks and tests may override it for every type and level
// (SIZE_MAX: per-row tiles only; 0: back to the measured defaults).
size_t gemm_min_rows(GgmlType type, GemmIsa isa);
void set_gemm_min_rows(size_t rows);

// True when this CPU has what the AVX-512 panels use (AVX-512 F/BW/DQ/VL and VNNI).
bool gemm_kernels_available();
// True when this CPU has what the ymm panels use: AVX2 + FMA + F16C, and AVX-VNNI if `vnni`.
bool gemm_ymm_kernels_available(bool vnni);

// The activations of one matmul, with what the panels derive from them once per call.
struct GemmActivations {
  const Q8Rows* q8_0 = nullptr;   // Q8_0, Q4_0
  const Q8KRows* q8_k = nullptr;  // the K-quants
  std::vector<int32_t> seeds;     // Q8_0, Q4_0: -128 * (sum of each 4 values), cancels the weights' +128
  std::vector<uint8_t> biased;    // Q8_0, Q4_0: each value + 128, the AVX-VNNI panels' unsigned operand
  std::vector<int16_t> offset32;  // Q6_K: 32 * (q[2i] + q[2i + 1]), the share of its -32 offset
};
// Fills the derived arrays for weights of this type (Q8_0 for a matrix kept in w.q8_0).
void prepare_gemm_activations(GgmlType type, GemmActivations& x);

// y[r * ldy + c] for every r < m and c in [c0, c1); (c1 - c0) must be a multiple of 16. Returns
// false (nothing written) when the CPU lacks the ISA or the type has no panel.
bool gemm_panel_avx512(const GemmActivations& x, size_t m, const Matrix& w, uint32_t c0, uint32_t c1, float* y,
                       size_t ldy);
// The same with 8-row panels in ymm (kernels_gemm_avx2.cpp), AVX2 alone or with AVX-VNNI's
// dpbusd / dpwssd (`vnni`); (c1 - c0) must be a multiple of 8. The same bits as every other path.
bool gemm_panel_avx2(const GemmActivations& x, size_t m, const Matrix& w, uint32_t c0, uint32_t c1, float* y,
                     size_t ldy, bool vnni);

}  // namespace tandem::engine::detail
