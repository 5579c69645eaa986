// Kept-quantized Q4_0 / Q4_K / Q5_K / Q6_K matmuls: activation quantization, the scalar reference
// (the arithmetic every path must reproduce, see kernels_quant.h) and the threaded dispatch.
#include "engine/runtime/kernels_quant.h"
#include "engine/runtime/kernels_quant_blocks.h"
#include "engine/runtime/kernels_gemm.h"

#include "engine/quant.h"
#include "engine/runtime/thread_pool.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

// The reference's float steps are spelled out (std::fma where the SIMD paths fuse); nothing else
// may be contracted.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace tandem::engine::detail {

namespace {

constexpr size_t kQK = 256;

using quant_blocks::read_u16;
using quant_blocks::KBlock;
using quant_blocks::unpack_q4_k;
using quant_blocks::unpack_q5_k;
using quant_blocks::unpack_q6_k;

// The AVX2 horizontal sum's order: lane i + lane i+4, then (0+2) + (1+3).
float sum_lanes(const float* lanes) {
  float quad[4];
  for (size_t i = 0; i < 4; ++i) quad[i] = lanes[i + 4] + lanes[i];
  return (quad[0] + quad[2]) + (quad[1] + quad[3]);
}

float dot_kquant_reference(GgmlType type, const uint8_t* row, const Q8KRows& x, size_t r, size_t cols) {
  const size_t nb = cols / kQK;
  const size_t block_bytes = ggml_type_size(type);
  float acc[8] = {}, acc_min[4] = {};
  KBlock k;
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = row + b * block_bytes;
    if (type == GgmlType::Q4_K) unpack_q4_k(blk, k);
    else if (type == GgmlType::Q5_K) unpack_q5_k(blk, k);
    else unpack_q6_k(blk, k);
    const int8_t* xq = x.q.data() + r * cols + b * kQK;
    const float xd = x.d[r * nb + b];
    int32_t lanes[8] = {};
    for (size_t e = 0; e < kQK; ++e) lanes[(e % 32) / 4] += k.scale[e] * k.level[e] * xq[e];
    const float d = xd * k.d;
    for (size_t u = 0; u < 8; ++u) acc[u] = std::fma(d, static_cast<float>(lanes[u]), acc[u]);
    if (type == GgmlType::Q6_K) continue;
    // The mins: -dmin * sum over sub-blocks of min * (sum of that sub-block's activations), in
    // 4 lanes of two sub-blocks each.
    const int16_t* bsums = x.bsums.data() + (r * cols + b * kQK) / 16;
    const float dmin = -xd * k.dmin;
    for (size_t lane = 0; lane < 4; ++lane) {
      int32_t prod = 0;
      for (size_t s = 2 * lane; s < 2 * lane + 2; ++s)
        prod += k.min_of_sub32[s] * static_cast<int16_t>(bsums[2 * s] + bsums[2 * s + 1]);
      acc_min[lane] = std::fma(dmin, static_cast<float>(prod), acc_min[lane]);
    }
  }
  const float mins = (acc_min[0] + acc_min[2]) + (acc_min[1] + acc_min[3]);
  return sum_lanes(acc) + mins;
}

float dot_q4_0_reference(const uint8_t* row, const Q8Rows& x, size_t r, size_t cols) {
  const size_t nb = cols / 32;
  float acc[8] = {};
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = row + b * 18;
    const int8_t* xq = x.q.data() + r * cols + b * 32;
    int32_t lanes[8] = {};
    for (size_t i = 0; i < 32; ++i) {
      const int level = (i < 16 ? blk[2 + i] & 0xF : blk[2 + i - 16] >> 4) - 8;
      lanes[i / 4] += level * xq[i];
    }
    const float scale = fp16_to_fp32(read_u16(blk)) * x.d[r * nb + b];
    for (size_t u = 0; u < 8; ++u) acc[u] = std::fma(scale, static_cast<float>(lanes[u]), acc[u]);
  }
  return sum_lanes(acc);
}

// Levels as in kernels.h (cpu_has_isa_level): at level 2 the GEMM panels use AVX-VNNI's ymm
// dpbusd/dpwssd while the per-row tiles are AVX2's.
std::atomic<int> g_isa_limit{isa_level_from_env()};
int isa() { return usable_isa_level(g_isa_limit.load(std::memory_order_relaxed)); }

struct Quantized {
  Q8Rows q8_0;
  Q8KRows q8_k;
  QuantActivations view(GgmlType type) const {
    QuantActivations a;
    if (type == GgmlType::Q4_0) a.q8_0 = &q8_0;
    else a.q8_k = &q8_k;
    return a;
  }
};

void quantize_activations(const float* x, size_t m, const Matrix& w, Quantized& out) {
  if (w.source_type == GgmlType::Q4_0) quantize_rows_q8_0(x, m, w.cols, out.q8_0);
  else quantize_rows_q8_k(x, m, w.cols, out.q8_k);
}

}  // namespace

bool quant_kernel_supports(GgmlType type) {
  return type == GgmlType::Q4_0 || type == GgmlType::Q4_K || type == GgmlType::Q5_K || type == GgmlType::Q6_K;
}

namespace {

// The plain loops' rounding 16 lanes at a time: the largest magnitude is exact in any order and
// the signed max is its first occurrence, as the scalar scan finds it; each lane's product,
// round-to-nearest-even and clamp are the scalar ones; the 16-sums are exact integer sums.
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))) void quantize_rows_q8_k_avx512(const float* x, size_t m,
                                                                                           size_t cols, Q8KRows& out) {
  const size_t nb = cols / kQK;
  for (size_t r = 0; r < m; ++r)
    for (size_t b = 0; b < nb; ++b) {
      const float* xb = x + r * cols + b * kQK;
      int8_t* qb = out.q.data() + r * cols + b * kQK;
      int16_t* sums = out.bsums.data() + (r * cols + b * kQK) / 16;
      int16_t* sums32 = out.sums32.data() + (r * cols + b * kQK) / 32;
      __m512 v[16];
      __m512 amax_v = _mm512_setzero_ps();
      for (int j = 0; j < 16; ++j) {
        v[j] = _mm512_loadu_ps(xb + 16 * j);
        amax_v = _mm512_max_ps(amax_v, _mm512_abs_ps(v[j]));
      }
      const float amax = _mm512_reduce_max_ps(amax_v);
      if (amax == 0.0f) {
        out.d[r * nb + b] = 0.0f;
        std::fill_n(qb, kQK, int8_t{0});
        std::fill_n(sums, kQK / 16, int16_t{0});
        std::fill_n(sums32, kQK / 32, int16_t{0});
        continue;
      }
      float max = 0.0f;
      for (int j = 0; j < 16; ++j) {
        const __mmask16 at = _mm512_cmp_ps_mask(_mm512_abs_ps(v[j]), _mm512_set1_ps(amax), _CMP_EQ_OQ);
        if (at) {
          max = xb[16 * j + __builtin_ctz(at)];
          break;
        }
      }
      const float iscale = -127.0f / max;
      const __m512 scale = _mm512_set1_ps(iscale);
      const __m512i top = _mm512_set1_epi32(127);
      for (int j = 0; j < 16; ++j) {
        const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v[j], scale)), top);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qb + 16 * j), _mm512_cvtepi32_epi8(q));
        sums[j] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
      }
      for (size_t j = 0; j < kQK / 32; ++j) sums32[j] = static_cast<int16_t>(sums[2 * j] + sums[2 * j + 1]);
      out.d[r * nb + b] = 1.0f / iscale;
    }
}

// The same 8 lanes at a time for AVX2 CPUs (ggml's int32 -> int8 packing order; each value keeps its
// low byte, as the AVX-512 narrowing does, so even an infinite scale from a denormal block gives
// the same bytes).
__attribute__((target("avx2,fma,f16c"))) void quantize_rows_q8_k_avx2(const float* x, size_t m, size_t cols,
                                                                    Q8KRows& out) {
  const size_t nb = cols / kQK;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i low_byte = _mm256_set1_epi32(0xFF);
  for (size_t r = 0; r < m; ++r)
    for (size_t b = 0; b < nb; ++b) {
      const float* xb = x + r * cols + b * kQK;
      int8_t* qb = out.q.data() + r * cols + b * kQK;
      int16_t* sums = out.bsums.data() + (r * cols + b * kQK) / 16;
      int16_t* sums32 = out.sums32.data() + (r * cols + b * kQK) / 32;
      __m256 amax_v = _mm256_setzero_ps();
      for (size_t j = 0; j < kQK; j += 8)
        amax_v = _mm256_max_ps(amax_v, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax_v), _mm256_extractf128_ps(amax_v, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
      if (amax == 0.0f) {
        out.d[r * nb + b] = 0.0f;
        std::fill_n(qb, kQK, int8_t{0});
        std::fill_n(sums, kQK / 16, int16_t{0});
        std::fill_n(sums32, kQK / 32, int16_t{0});
        continue;
      }
      float max = 0.0f;
      for (size_t j = 0; j < kQK; j += 8) {
        const __m256 magnitude = _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j));
        const __m256 at = _mm256_cmp_ps(magnitude, _mm256_set1_ps(amax), _CMP_EQ_OQ);
        if (const int mask = _mm256_movemask_ps(at)) {
          max = xb[j + __builtin_ctz(mask)];
          break;
        }
      }
      const float iscale = -127.0f / max;
      const __m256 scale = _mm256_set1_ps(iscale);
      const __m256i top = _mm256_set1_epi32(127);
      for (size_t j = 0; j < kQK; j += 32) {
        __m256i q[4];
        for (int i = 0; i < 4; ++i)
          q[i] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 8 * i), scale)), top);
        for (int h = 0; h < 2; ++h) {  // the sums of each 16, exact in int32
          __m128i s = _mm_add_epi32(_mm256_castsi256_si128(_mm256_add_epi32(q[2 * h], q[2 * h + 1])),
                                    _mm256_extracti128_si256(_mm256_add_epi32(q[2 * h], q[2 * h + 1]), 1));
          s = _mm_hadd_epi32(s, s);
          s = _mm_hadd_epi32(s, s);
          sums[j / 16 + h] = static_cast<int16_t>(_mm_cvtsi128_si32(s));
        }
        for (int i = 0; i < 4; ++i) q[i] = _mm256_and_si256(q[i], low_byte);
        const __m256i packed = _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[3]));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + j), _mm256_permutevar8x32_epi32(packed, order));
      }
      for (size_t j = 0; j < kQK / 32; ++j) sums32[j] = static_cast<int16_t>(sums[2 * j] + sums[2 * j + 1]);
      out.d[r * nb + b] = 1.0f / iscale;
    }
}

}  // namespace

void quantize_rows_q8_k(const float* x, size_t m, size_t cols, Q8KRows& out) {
  static const bool avx2 =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  static const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                             __builtin_cpu_supports("avx512vl");
  const int level = isa();
  if (!avx2 || level < 1) return quantize_rows_q8_k_reference(x, m, cols, out);
  out.cols = cols;
  out.q.resize(m * cols);
  out.d.resize(m * cols / kQK);
  out.bsums.resize(m * cols / 16);
  out.sums32.resize(m * cols / 32);
  if (avx512 && level >= 3) quantize_rows_q8_k_avx512(x, m, cols, out);
  else quantize_rows_q8_k_avx2(x, m, cols, out);
}

void quantize_rows_q8_k_reference(const float* x, size_t m, size_t cols, Q8KRows& out) {
  const size_t nb = cols / kQK;
  out.cols = cols;
  out.q.resize(m * cols);
  out.d.resize(m * nb);
  out.bsums.resize(m * cols / 16);
  out.sums32.resize(m * cols / 32);
  for (size_t r = 0; r < m; ++r)
    for (size_t b = 0; b < nb; ++b) {
      const float* xb = x + r * cols + b * kQK;
      int8_t* qb = out.q.data() + r * cols + b * kQK;
      int16_t* sums = out.bsums.data() + (r * cols + b * kQK) / 16;
      float amax = 0.0f, max = 0.0f;
      for (size_t i = 0; i < kQK; ++i) {
        if (std::fabs(xb[i]) > amax) {
          amax = std::fabs(xb[i]);
          max = xb[i];
        }
      }
      int16_t* sums32 = out.sums32.data() + (r * cols + b * kQK) / 32;
      if (amax == 0.0f) {
        out.d[r * nb + b] = 0.0f;
        std::fill_n(qb, kQK, int8_t{0});
        std::fill_n(sums, kQK / 16, int16_t{0});
        std::fill_n(sums32, kQK / 32, int16_t{0});
        continue;
      }
      const float iscale = -127.0f / max;
      for (size_t i = 0; i < kQK; ++i)
        qb[i] = static_cast<int8_t>(std::min(127.0f, std::nearbyint(iscale * xb[i])));
      for (size_t j = 0; j < kQK / 16; ++j) {
        int sum = 0;
        for (size_t i = 0; i < 16; ++i) sum += qb[16 * j + i];
        sums[j] = static_cast<int16_t>(sum);
      }
      for (size_t j = 0; j < kQK / 32; ++j) sums32[j] = static_cast<int16_t>(sums[2 * j] + sums[2 * j + 1]);
      out.d[r * nb + b] = 1.0f / iscale;
    }
}

void matmul_quant_reference(const float* x, size_t m, const Matrix& w, float* y) {
  static thread_local Quantized q;
  quantize_activations(x, m, w, q);
  const size_t row_bytes = ggml_row_bytes(w.source_type, w.cols);
  for (size_t r = 0; r < m; ++r)
    for (uint32_t o = 0; o < w.rows; ++o) {
      const uint8_t* row = w.quant + o * row_bytes;
      y[r * w.rows + o] = w.source_type == GgmlType::Q4_0 ? dot_q4_0_reference(row, q.q8_0, r, w.cols)
                                                           : dot_kquant_reference(w.source_type, row, q.q8_k, r, w.cols);
    }
}

void matmul_quant(const float* x, size_t m, const Matrix& w, float* y) {
  const int level = isa();
  if (level == 0) return matmul_quant_reference(x, m, w, y);
  static thread_local Quantized q;
  quantize_activations(x, m, w, q);
  const QuantActivations view = q.view(w.source_type);
  auto pool = compute_pool();
  const bool zmm_panels = level == 3 && gemm_kernels_available();
  if ((zmm_panels || gemm_ymm_kernels_available(level == 2)) &&
      m >= gemm_min_rows(w.source_type, static_cast<GemmIsa>(level))) {
    // Many rows: GEMM panels of 16 (AVX-512) or 8 (AVX2, AVX-VNNI) weight rows (kernels_gemm.h);
    // the rows past the last full panel take the tiles below. Same bits either way.
    // (A reference: inside the lambda the thread_local's name would be each worker's own copy.)
    static thread_local GemmActivations caller_activations;
    GemmActivations& prepared = caller_activations;
    prepared.q8_0 = view.q8_0;
    prepared.q8_k = view.q8_k;
    prepare_gemm_activations(w.source_type, prepared);
    const uint32_t panel_rows = zmm_panels ? kGemmPanelRows : kGemmPanelRowsYmm;
    const uint32_t panels = w.rows / panel_rows, full = panels * panel_rows;
    pool->parallel_for(panels + (full < w.rows ? 1 : 0), [&](size_t t) {
      const uint32_t c0 = static_cast<uint32_t>(t) * panel_rows;
      if (t < panels && zmm_panels) gemm_panel_avx512(prepared, m, w, c0, c0 + panel_rows, y, w.rows);
      else if (t < panels) gemm_panel_avx2(prepared, m, w, c0, c0 + panel_rows, y, w.rows, level == 2);
      else if (!zmm_panels || !quant_panel_avx512(view, 0, m, w, full, w.rows, y, w.rows))
        quant_panel_avx2(view, 0, m, w, full, w.rows, y, w.rows);
    });
    return;
  }
  // Panels of weight rows small enough to stay in L2 while the batch passes over them, and
  // enough of them to balance the threads; the split never changes what an element computes.
  const size_t row_bytes = ggml_row_bytes(w.source_type, w.cols);
  const size_t l2_rows = std::max<size_t>(4, 512 * 1024 / row_bytes);
  const size_t balanced = (w.rows + 8 * pool->threads() - 1) / (8 * pool->threads());
  const uint32_t step = static_cast<uint32_t>(std::max<size_t>(4, (std::min(l2_rows, balanced) + 3) / 4 * 4));
  const size_t n_tasks = (w.rows + step - 1) / step;
  pool->parallel_for(n_tasks, [&](size_t t) {
    const uint32_t c0 = static_cast<uint32_t>(t) * step;
    const uint32_t c1 = std::min(w.rows, c0 + step);
    if (level == 3 && quant_panel_avx512(view, 0, m, w, c0, c1, y, w.rows)) return;
    quant_panel_avx2(view, 0, m, w, c0, c1, y, w.rows);
  });
}

const char* quant_kernel_isa() {
  switch (isa()) {
    case 3: return "avx512vnni";
    case 2: return "avxvnni";
    case 1: return "avx2";
    default: return "scalar";
  }
}

void set_quant_kernel_isa_limit(int level) { g_isa_limit.store(level); }

}  // namespace tandem::engine::detail
