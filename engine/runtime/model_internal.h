// Internals shared by the model loader, the forward pass and the kernels.
#pragma once

#include "engine/model.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::engine::detail {

// A weight matrix [rows = out features][cols = in features], row-major F32, either pointing into
// the mapping (F32 tensors) or into `owned` (dequantized copies).
struct Matrix {
  const float* data = nullptr;
  uint32_t rows = 0;
  uint32_t cols = 0;
  std::vector<float> owned;
  GgmlType source_type = GgmlType::F32;
  const uint8_t* q8_0 = nullptr;  // the Q8_0 blocks when kept for the small-batch fast path
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
float dot(const float* a, const float* b, size_t n);
float dot_reference(const float* a, const float* b, size_t n);
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
// Y[m x w.rows] = X[m x w.cols] * W^T.
void matmul(MatmulBackend backend, const float* x, size_t m, const Matrix& w, float* y, uint32_t q8_max_rows,
            bool round_like_llamacpp);
void matmul_reference(const float* x, size_t m, const Matrix& w, float* y);
// Own AVX2 GEMM whose per-row results do not depend on the other rows of the batch.
void matmul_invariant(const float* x, size_t m, const Matrix& w, float* y);
// Q8_0 rows x fp32 vector, exact products summed in fp32 (no activation rounding).
void matmul_q8_0(const float* x, size_t m, const Matrix& w, float* y);
void matmul_q8_0_reference(const float* x, size_t m, const Matrix& w, float* y);

}  // namespace tandem::engine::detail
