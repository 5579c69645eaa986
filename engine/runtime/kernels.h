// Kernels added for the fast paths (the older ones and the F32 GEMM are declared in
// model_internal.h): the int8 x int8 Q8_0 matmul with llama.cpp's activation quantization, the
// attention and SwiGLU kernels, and weight-row access that works whether a matrix is F32 or kept
// quantized.
#pragma once

#include "engine/runtime/model_internal.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::engine::detail {

constexpr size_t kQ8Block = 32;
constexpr size_t kQ8BlockBytes = 34;  // fp16 scale + 32 int8

// Activations quantized per 32-block like ggml's quantize_row_q8_0 (x86 path): d = amax / 127
// stored as fp16, q = round-to-nearest-even(x * 127 / amax).
struct Q8Rows {
  std::vector<int8_t> q;  // [rows][cols]
  std::vector<float> d;   // [rows][cols / 32], the fp16 scale widened
  size_t cols = 0;
};
void quantize_rows_q8_0(const float* x, size_t m, size_t cols, Q8Rows& out);
// Plain loops; quantize_rows_q8_0 runs AVX-512 when the CPU has it (and the Q8 ISA limit allows)
// and must give these bits.
void quantize_rows_q8_0_reference(const float* x, size_t m, size_t cols, Q8Rows& out);

// Y[m x w.rows] = X * W^T for a Q8_0-kept matrix, X quantized as above: per element the integer
// dot of each block pair, scaled by d_w * d_x and summed into 8 fp32 lanes in block order, then
// added across lanes — ggml's AVX2 vec_dot_q8_0_q8_0 order, whichever ISA path runs, so the
// result depends neither on the batch nor on the thread count.
void matmul_q8_0_q8(const Q8Rows& x, size_t m, const Matrix& w, float* y);
// Plain loops doing the same arithmetic in the same order: the fast paths must match it bit for bit.
void matmul_q8_0_q8_reference(const Q8Rows& x, size_t m, const Matrix& w, float* y);
const char* q8_kernel_isa();  // "avx512vnni", "avxvnni", "avx2" or "scalar"
// The starting ISA limit of every kernel family (0 scalar, 1 avx2, 2 avxvnni, 3 avx512vnni): the
// environment's TANDEM_ISA=scalar|avx2|avxvnni|avx512vnni, so a benchmark or a test run on one CPU
// can take the paths of a CPU with less; unset, empty or unknown: 3 (the best this CPU has).
int isa_level_from_env();
// Whether this CPU has the instructions of ISA level `level` (1: AVX2 + FMA + F16C; 2: those +
// AVX-VNNI; 3: those + AVX-512 F/BW/DQ/VL/VNNI). Each can be present without the one below it
// (Zen 4 has AVX-512 VNNI but not AVX-VNNI), so a limit falls back level by level.
bool cpu_has_isa_level(int level);
// The highest level at most `limit` (clamped to 0..3) that this CPU has: what a kernel family runs.
int usable_isa_level(int limit);
// Every kernel family (F32, Q8_0, the quant kernels) back to its starting level: what tests and
// benchmarks call after forcing a level, so the rest of a TANDEM_ISA run stays at TANDEM_ISA's.
void reset_kernel_isa_limits();
// For tests: use at most this ISA level (0 scalar, 1 avx2, 2 avxvnni, 3 avx512vnni = best
// available, the default); a level the CPU lacks falls back to the next one down.
void set_q8_kernel_isa_limit(int level);

// Attention of one query head (fp32, head_dim values) over positions 0..n_keys-1 of a sequence's
// paged fp16 K/V (`blocks` its block table, kv_off the head's offset in a cache row), writing the
// head's output with llama.cpp's flash-attention numerics (scale multiplies the raw scores).
// The fast path returns false (nothing written) when this CPU or head_dim has none; it must give
// the reference's bits.
bool attend_head_f16(const KvCache& cache, uint32_t layer, const BlockId* blocks, uint32_t n_keys, size_t kv_off,
                     const float* q, uint32_t head_dim, float scale, float* out);
void attend_head_f16_reference(const KvCache& cache, uint32_t layer, const BlockId* blocks, uint32_t n_keys,
                               size_t kv_off, const float* q, uint32_t head_dim, float scale, float* out);

// ggml_vec_dot_f16 of two fp16 vectors in its AVX-512 build's order (the scores of both paths).
float dot_f16_ggml(const uint16_t* a, const uint16_t* b, size_t n);

// The same attention for long contexts, blocked over keys (kernels_attention_blocked.cpp): scores
// of 64 keys, one softmax max per block, ggml_v_expf weights, fp32 accumulation with one rescale
// per block. Chosen by position alone (n_keys >= kBlockedAttentionMinKeys), never by the batch, so
// a position gives the same bits in a prompt slice, a decode step or after a prefix-cache hit.
// The per-key path above stays for shorter contexts (the golden files' prompts). The fast path
// returns false when this CPU or head_dim has none; it must give the reference's bits.
constexpr uint32_t kBlockedAttentionMinKeys = 128;
bool attend_head_blocked(const KvCache& cache, uint32_t layer, const BlockId* blocks, uint32_t n_keys, size_t kv_off,
                         const float* q, uint32_t head_dim, float scale, float* out);
void attend_head_blocked_reference(const KvCache& cache, uint32_t layer, const BlockId* blocks, uint32_t n_keys,
                                   size_t kv_off, const float* q, uint32_t head_dim, float scale, float* out);
// Up to kMaxGroupQueries queries of one head at consecutive positions at once (query i at
// q + i * q_stride sees first_keys + i keys, writes out + i * out_stride): each key block is read
// once for the group; every query gets attend_head_blocked's bits.
constexpr uint32_t kMaxGroupQueries = 16;
bool attend_heads_blocked(const KvCache& cache, uint32_t layer, const BlockId* blocks, uint32_t first_keys,
                          uint32_t n_queries, size_t kv_off, const float* q, size_t q_stride, uint32_t head_dim,
                          float scale, float* out, size_t out_stride);

// gate_out[i] = silu(gate_out[i]) * up[i] as ggml_vec_swiglu_f32 in llama.cpp's AVX-512 build
// (its ggml_v_expf on 16-wide blocks, libm's expf on the tail); the vector path must give the
// reference's bits.
void swiglu_ggml(float* gate_out, const float* up, size_t n);
void swiglu_ggml_reference(float* gate_out, const float* up, size_t n);

// One weight row as F32 (embedding lookups; the reference path for kept-quantized matrices).
void weight_row(const Matrix& w, uint32_t row, float* out);

}  // namespace tandem::engine::detail
