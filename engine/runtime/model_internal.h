// Internals shared by the model loader, the forward pass and the kernels.
#pragma once

#include "engine/model.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::engine::detail {

// A weight matrix [rows = out features][cols = in features]: row-major F32 pointing into the
// mapping (F32 tensors) or into `owned` (dequantized copies), and/or the file's quantized blocks
// used directly by the integer kernels (q8_0 for Q8_0, quant for Q4_0/Q4_K/Q5_K/Q6_K).
struct Matrix {
  const float* data = nullptr;
  uint32_t rows = 0;
  uint32_t cols = 0;
  std::vector<float> owned;
  GgmlType source_type = GgmlType::F32;
  const uint8_t* q8_0 = nullptr;  // the Q8_0 blocks when kept for the small-batch fast path
  const uint8_t* quant = nullptr;  // Q4_0 / K-quant blocks (type source_type), kept instead of F32
};

struct Vector {
  const float* data = nullptr;
  uint32_t size = 0;
  std::vector<float> owned;
};

struct Layer {
  Vector attn_norm, ffn_norm;
  Matrix wq, wk, wv, wo;
  Vector bq, bk, bv;            // qwen2 (empty otherwise)
  Vector q_norm, k_norm;        // qwen3 (empty otherwise)
  Matrix w_gate, w_up, w_down;
};

struct Weights {
  Matrix token_embd;  // [n_vocab][n_embd]
  std::vector<Layer> layers;
  Vector output_norm;
  Matrix output;      // separate output projection; token_embd when tied
  bool tied = false;
  const Matrix& output_matrix() const { return tied ? token_embd : output; }
};

// Kernels (kernels.cpp). Each fast path has a scalar reference next to it.
void axpy(float a, const float* x, float* y, size_t n);  // y += a * x
void rmsnorm(float* out, const float* x, const float* weight, size_t n, float eps);
// fp16 helpers for the K/V cache: q (fp32) . k (fp16); acc (fp16) += s * v (fp16), rounded
// to fp16 after each step like llama.cpp's flash-attention accumulator.
float dot_f16(const float* q, const uint16_t* k, size_t n);
float dot_f16_reference(const float* q, const uint16_t* k, size_t n);
void mad_f16(uint16_t* acc, const uint16_t* v, float s, size_t n);
void mad_f16_reference(uint16_t* acc, const uint16_t* v, float s, size_t n);
void to_f16(const float* x, uint16_t* out, size_t n);
void round_activations_like_llamacpp(GgmlType weight_type, const float* x, size_t n, float* out);
// llama.cpp's two F32 summation orders (kernels_f32.cpp): `prompt` for the rows of a sequence
// contributing >= 2 rows to the matmul (tinyBLAS), `decode` for a lone row (ggml_vec_dot_f32).
enum class F32Order : uint8_t { prompt, decode };
// Y[m x w.rows] = X[m x w.cols] * W^T; orders[r] is row r's order (F32 and dequantized weights).
void matmul(MatmulBackend backend, const float* x, size_t m, const Matrix& w, float* y, uint32_t q8_max_rows,
            bool round_like_llamacpp, const F32Order* orders);
// The threaded AVX2 GEMM in those orders and its plain-loop reference, which must agree bit for
// bit; a row's result depends only on its own order, never on the other rows or the threads.
void matmul_f32_ggml(const float* x, size_t m, const F32Order* orders, const Matrix& w, float* y);
void matmul_f32_ggml_reference(const float* x, size_t m, const F32Order* orders, const Matrix& w, float* y);
float dot_f32_ggml_reference(const float* a, const float* b, size_t k, F32Order order);
const char* f32_kernel_isa();  // "avx512", "avx2" or "scalar"
// For tests: use at most this ISA level (0 scalar, 1 avx2, 2 avx512 = best available, the
// default); a level the CPU lacks falls back to the next one down.
void set_f32_kernel_isa_limit(int level);
// Q8_0 rows x fp32 vector, exact products summed in fp32 (no activation rounding).
void matmul_q8_0(const float* x, size_t m, const Matrix& w, float* y);
void matmul_q8_0_reference(const float* x, size_t m, const Matrix& w, float* y);

}  // namespace tandem::engine::detail
