// AVX2 and AVX-VNNI GEMM panels for kept-quantized weights (kernels_gemm.h): the AVX-512 panels'
// layout at half width. A scalar repack of 8 weight rows puts lane u of 8 outputs in one ymm (4
// consecutive weights of one row per 32-bit slot); then each lane u (two at a time for Q8_0 /
// Q4_0) is swept over the whole row for 4 activation rows at a time, so a tile holds few
// accumulators (AVX2 has 16 registers, not 32) and one lane's FMA chain still runs block after
// block, the reference's order. The 8 finished lanes are summed at the end as the per-row paths
// sum them.
//
// The integer lanes per block are exact either way:
// - Q8_0 / Q4_0, AVX2: ggml's sign trick (|w| unsigned, w's sign moved onto x), maddubs then madd;
//   AVX-VNNI: dpbusd on w + 128 with a per-activation seed of -128 * (sum of the 4 x).
// - K-quants: maddubs of the unsigned levels (Q6_K's carrying +32, taken back per activation
//   pair), times the sub-block scales by madd + add (AVX2) or dpwssd (AVX-VNNI).
#include "engine/quant.h"
#include "engine/runtime/kernels_gemm.h"
#include "engine/runtime/kernels_quant_blocks.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>
#include <cstring>
#include <vector>

namespace tandem::engine::detail {

namespace {

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace avx2 {
constexpr bool kVnni = false;
#include "engine/runtime/kernels_gemm_ymm.inc"
}  // namespace avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")
namespace avxvnni {
constexpr bool kVnni = true;
#include "engine/runtime/kernels_gemm_ymm.inc"
}  // namespace avxvnni
#pragma GCC pop_options

}  // namespace

bool gemm_ymm_kernels_available(bool vnni) { return cpu_has_isa_level(vnni ? 2 : 1); }

bool gemm_panel_avx2(const GemmActivations& x, size_t m, const Matrix& w, uint32_t c0, uint32_t c1, float* y,
                     size_t ldy, bool vnni) {
  if (!gemm_ymm_kernels_available(vnni) || (c1 - c0) % kGemmPanelRowsYmm != 0) return false;
  return vnni ? avxvnni::run_panels(x, m, w, c0, c1, y, ldy) : avx2::run_panels(x, m, w, c0, c1, y, ldy);
}

}  // namespace tandem::engine::detail
