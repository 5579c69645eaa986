// Model::Impl: weights, rope tables and the forward pass scratch.
#pragma once

#include "engine/runtime/model_internal.h"

#include <memory>
#include <vector>

namespace tandem::engine {

struct Model::Impl {
  std::shared_ptr<const GgufFile> file;  // keeps the mapping (F32 weights point into it) alive
  ModelConfig config;
  ModelLoadOptions options;
  MatmulBackend backend = MatmulBackend::invariant;
  LoadReport report;
  detail::Weights weights;
  std::vector<float> inv_freq;  // rope: per rotated pair, frequency incl. scaling factors

  // Scratch, grown on demand and reused between calls.
  std::vector<float> x, xb, q, k, v, att_out, hb, hb2, logit_rows;
  struct AttentionRow {
    uint32_t sequence, index;  // batch.sequences[sequence], its index-th token
    uint32_t count;            // with the count - 1 tokens after it (one blocked-attention group)
    uint32_t row;              // its row in the batch
  };
  std::vector<AttentionRow> att_rows;
  std::vector<detail::F32Order> row_orders, logit_orders;  // per activation / logit row

  void init_rope();
  void rope(float* vec, uint32_t n_heads, uint32_t pos) const;
  void attention(const ForwardBatch& batch, uint32_t layer, const KvCache& cache);
  void forward(const ForwardBatch& batch, KvCache& cache, std::vector<float>& logits);
};

}  // namespace tandem::engine
