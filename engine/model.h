// The transformer forward pass (llama, qwen2, qwen3), batched over tokens of many sequences:
// activations are [n_tokens x dim] and every weight matmul is one sgemm over the whole batch;
// attention runs per sequence against its own paged KV cache.
#pragma once

#include "engine/gguf.h"
#include "engine/kv_cache.h"
#include "engine/model_config.h"
#include "engine/tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tandem::engine {

enum class MatmulBackend {
  invariant,  // own AVX2 GEMM: a row's result never depends on the rest of the batch
  blas,       // cblas_sgemm (OpenBLAS): faster on big batches, but its blocking makes a row's
              // rounding depend on the batch, which fp16 K/V then amplifies (~1e-3 in logprobs)
  reference,  // plain loops; the ground truth the fast paths are tested against
};

struct ModelLoadOptions {
  // Threads for the matmuls (the step thread plus threads - 1 pool workers) and for OpenBLAS,
  // set at load for the whole process (see set_compute_threads). Results do not depend on it.
  // On 2 cores that also serve HTTP, 2 is fastest (bench/engine): tasks are claimed dynamically,
  // so a busy second core slows a step down instead of collapsing it.
  int threads = 1;
  MatmulBackend backend = MatmulBackend::invariant;
  // Keep Q8_0 weights quantized as well and use an int8 x fp32 kernel for batches of at most
  // this many rows (decode at low concurrency is memory-bound). 0 disables the fast path.
  uint32_t q8_fast_path_max_rows = 0;
  // Keep Q8_0, Q4_0, Q4_K, Q5_K and Q6_K matrices in the file's format only (mapped, no F32 copy):
  // every matmul on them is an integer dot product with the activations quantized like llama.cpp
  // (Q8_0 / Q8_K); reads 0.56-1.06 bytes per weight instead of 4. false: dequantize to F32 at load
  // (q8_fast_path_max_rows then picks the int8 kernel for Q8_0 by size).
  bool keep_quantized = true;
  // Round activations before each matmul the way llama.cpp's CPU backend does (to Q8_0 / Q8_K /
  // fp16 by weight type) so quantized models agree with llama.cpp; F32 weights are unaffected.
  bool llamacpp_activation_rounding = true;
};

// The matmul thread pool is one per process, like OpenBLAS's thread count: Model::load sets it
// from ModelLoadOptions::threads; this changes it (call it between forward passes).
void set_compute_threads(int threads);

// What loading cost, for the load log.
struct LoadReport {
  uint64_t file_bytes = 0;          // tensor data in the file
  uint64_t mapped_f32_bytes = 0;    // F32 tensors used in place from the mapping
  uint64_t dequantized_bytes = 0;   // F32 copies made of F16/BF16/quantized tensors
  uint64_t quantized_kept_bytes = 0;  // quantized tensors used directly by the integer kernels
  uint64_t n_params = 0;
  std::string summary() const;  // one line, human-readable
};

// One sequence's slice of a batch: rows [first_row, first_row + n_tokens) hold its tokens at
// positions start_pos, start_pos + 1, ...; positions before start_pos are already in the cache.
struct ForwardSequence {
  const BlockTable* blocks = nullptr;  // must cover start_pos + n_tokens positions
  uint32_t start_pos = 0;
  uint32_t n_tokens = 0;
  enum class Logits { none, last, all } logits = Logits::last;
};

struct ForwardBatch {
  std::vector<TokenId> tokens;              // all rows, sequence after sequence
  std::vector<ForwardSequence> sequences;   // in row order
};

class Model {
 public:
  // Builds the weights from the file (kept alive by the shared pointer: F32 tensors are used in
  // place). Throws GgufError naming a missing tensor or a wrong shape.
  static std::unique_ptr<Model> load(std::shared_ptr<const GgufFile> file, const ModelConfig& config,
                                     const ModelLoadOptions& options = {});
  ~Model();

  const ModelConfig& config() const;
  const LoadReport& load_report() const;
  KvCacheShape kv_shape(uint32_t total_tokens, uint32_t block_tokens = 16) const;

  // Runs the batch: stores K/V of every row in the cache and returns the logits rows the
  // sequences asked for, in row order, as [n_logit_rows x n_vocab] in `logits`.
  // Not thread-safe (uses internal scratch); one caller thread per model.
  void forward(const ForwardBatch& batch, KvCache& cache, std::vector<float>& logits);

  // Floating-point operations of one token at context length `context` (matmuls + attention).
  double flops_per_token(uint32_t context) const;

  void set_backend(MatmulBackend backend);

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::engine
