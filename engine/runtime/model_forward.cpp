// The forward pass, llama2.c's run.c batched: activations are [n_tokens x dim] across every
// sequence of the step, each weight matmul is one sgemm over all rows, and attention runs per
// sequence (and per row) against that sequence's paged K/V.
#include "engine/runtime/model_forward.h"
#include "engine/quant.h"
#include "engine/runtime/kernels.h"
#include "engine/runtime/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace tandem::engine {

using namespace detail;

// The golden logprobs come from llama.cpp's CPU backend, whose fp16 K/V cache and fp16
// flash-attention accumulator turn ulp-level differences anywhere upstream into fp16 rounding
// flips (~5e-4 relative each) that the next layers carry on. So the element-wise pieces below
// reproduce ggml's AVX2 arithmetic operation for operation, not just the same math (rope here;
// attention and SwiGLU in kernels_attention.cpp / kernels_swiglu.cpp).

void Model::Impl::init_rope() {
  const ModelConfig& c = config;
  const RopeScaling& s = c.rope_scaling;
  const uint32_t pairs = c.rope_dims / 2;
  inv_freq.resize(pairs);
  const double freq_scale = s.type == "linear" ? 1.0 / s.factor : 1.0;
  for (uint32_t i = 0; i < pairs; ++i) {
    double freq = std::pow(static_cast<double>(c.rope_base), -2.0 * i / c.rope_dims);
    if (!s.freq_factors.empty()) {
      freq /= s.freq_factors[i];
    } else if (s.type == "llama3" && s.original_context > 0) {
      // Llama 3.1 frequency scaling (what rope_freqs.weight stores when the converter wrote it).
      const double pi = 3.14159265358979323846;
      double low_wavelen = s.original_context / s.low_freq_factor;
      double high_wavelen = s.original_context / s.high_freq_factor;
      double wavelen = 2.0 * pi / freq;
      if (wavelen > low_wavelen) {
        freq /= s.factor;
      } else if (wavelen >= high_wavelen) {
        double smooth = (s.original_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        freq = (1.0 - smooth) * freq / s.factor + smooth * freq;
      }
    }
    inv_freq[i] = static_cast<float>(freq * freq_scale);
  }
}

void Model::Impl::rope(float* vec, uint32_t n_heads, uint32_t pos) const {
  const uint32_t hd = config.head_dim;
  const uint32_t pairs = config.rope_dims / 2;
  const bool neox = config.rope_style == RopeStyle::neox;
  const RopeScaling& scaling = config.rope_scaling;
  // ggml's rope cache: theta starts at pos and is multiplied by base^(-2/n_dims) pair after pair,
  // all in float. Llama 3 scaling without a rope_freqs tensor has no ggml counterpart: it keeps
  // the exact per-pair frequencies of init_rope.
  const bool like_ggml = !(scaling.type == "llama3" && scaling.freq_factors.empty());
  const float theta_scale = std::pow(config.rope_base, -2.0f / static_cast<float>(config.rope_dims));
  const float freq_scale = scaling.type == "linear" ? 1.0f / scaling.factor : 1.0f;
  float theta_ggml = static_cast<float>(pos);
  for (uint32_t i = 0; i < pairs; ++i) {
    float cos_t, sin_t;
    if (like_ggml) {
      const float ff = scaling.freq_factors.empty() ? 1.0f : scaling.freq_factors[i];
      const float theta = freq_scale * (theta_ggml / ff);
      cos_t = std::cos(theta);
      sin_t = std::sin(theta);
      theta_ggml *= theta_scale;
    } else {
      const double theta = static_cast<double>(pos) * inv_freq[i];
      cos_t = static_cast<float>(std::cos(theta));
      sin_t = static_cast<float>(std::sin(theta));
    }
    // normal: adjacent pairs (2i, 2i+1); neox: halves (i, i + rope_dims/2)
    const uint32_t a = neox ? i : 2 * i;
    const uint32_t b = neox ? i + pairs : 2 * i + 1;
    for (uint32_t h = 0; h < n_heads; ++h) {
      float* head = vec + static_cast<size_t>(h) * hd;
      float x0 = head[a], x1 = head[b];
      // As GCC contracts ggml's rotate_pairs: the x1 products rounded, the x0 ones fused.
      head[a] = std::fma(cos_t, x0, -(x1 * sin_t));
      head[b] = std::fma(sin_t, x0, x1 * cos_t);
    }
  }
}

// Attention with llama.cpp's CPU flash-attention numerics (flash_attn_ext_f16_one_chunk, what it
// runs for batches under 64 rows and decodes under 512 cached cells): q rounded to fp16, scores by
// ggml_vec_dot_f16 against the fp16 keys, online softmax, and the weighted sum of fp16 values
// accumulated in fp16 (f16(fma(v, w, acc)), rescales f16(acc * ms)) — kernels_attention.cpp.
// From kBlockedAttentionMinKeys keys on, the blocked kernel (same scores, fp32 accumulation,
// vectorized exp) — kernels_attention_blocked.cpp.
// Every (row, head) is independent, so they are spread over the compute pool: which thread runs
// one, and which rows share a blocked group, changes nothing.
void Model::Impl::attention(const ForwardBatch& batch, uint32_t layer, const KvCache& cache) {
  const ModelConfig& c = config;
  const uint32_t hd = c.head_dim;
  const size_t q_dim = static_cast<size_t>(c.n_head) * hd;
  const uint32_t group = c.n_head / c.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  auto one_head = [&](const ForwardSequence& seq, size_t row, uint32_t i, uint32_t h) {
    const uint32_t n_keys = seq.start_pos + i + 1;  // causal: positions 0..pos
    const float* qh = q.data() + row * q_dim + static_cast<size_t>(h) * hd;
    const size_t kv_off = static_cast<size_t>(h / group) * hd;
    float* out = att_out.data() + row * q_dim + static_cast<size_t>(h) * hd;
    const BlockId* blocks = seq.blocks->blocks.data();
    if (n_keys >= kBlockedAttentionMinKeys)  // by position only: the same path in any batch
      return attend_head_blocked_reference(cache, layer, blocks, n_keys, kv_off, qh, hd, scale, out);
    if (backend != MatmulBackend::reference && attend_head_f16(cache, layer, blocks, n_keys, kv_off, qh, hd, scale, out))
      return;
    attend_head_f16_reference(cache, layer, blocks, n_keys, kv_off, qh, hd, scale, out);
  };
  // A unit of one sequence and head: one row, or consecutive long-context rows whose key blocks
  // the blocked kernel reads once for all of them (each row's bits as if alone).
  auto head_of_unit = [&](const AttentionRow& unit, uint32_t h) {
    const ForwardSequence& seq = batch.sequences[unit.sequence];
    const uint32_t first_keys = seq.start_pos + unit.index + 1;
    if (first_keys >= kBlockedAttentionMinKeys && backend != MatmulBackend::reference) {
      const size_t at = unit.row * q_dim + static_cast<size_t>(h) * hd;
      if (attend_heads_blocked(cache, layer, seq.blocks->blocks.data(), first_keys, unit.count,
                               static_cast<size_t>(h / group) * hd, q.data() + at, q_dim, hd, scale,
                               att_out.data() + at, q_dim))
        return;
    }
    for (uint32_t k = 0; k < unit.count; ++k) one_head(seq, unit.row + k, unit.index + k, h);
  };

  // Work items: (unit, head) over the whole batch, in chunks so the pool's task count stays
  // small; a unit is one row, or up to kMaxGroupQueries rows past kBlockedAttentionMinKeys keys.
  att_rows.clear();
  uint32_t row_of_first = 0;
  for (uint32_t s = 0; s < batch.sequences.size(); ++s) {
    const ForwardSequence& seq = batch.sequences[s];
    for (uint32_t i = 0; i < seq.n_tokens;) {
      uint32_t count = 1;
      if (seq.start_pos + i + 1 >= kBlockedAttentionMinKeys)
        count = std::min(kMaxGroupQueries, seq.n_tokens - i);
      att_rows.push_back({s, i, count, row_of_first + i});
      i += count;
    }
    row_of_first += seq.n_tokens;
  }
  const size_t n_items = att_rows.size() * c.n_head;
  const size_t n_tasks = std::min<size_t>(n_items, 4096);
  compute_pool()->parallel_for(n_tasks, [&](size_t task) {
    for (size_t item = task * n_items / n_tasks; item < (task + 1) * n_items / n_tasks; ++item)
      head_of_unit(att_rows[item / c.n_head], static_cast<uint32_t>(item % c.n_head));
  });
}

namespace {

void add_bias(float* rows, size_t n_rows, const Vector& bias) {
  if (!bias.data) return;
  for (size_t r = 0; r < n_rows; ++r)
    for (uint32_t i = 0; i < bias.size; ++i) rows[r * bias.size + i] += bias.data[i];
}

// qwen3: RMSNorm over each head's vector, before rope.
void head_norm(float* rows, size_t n_rows, uint32_t n_heads, uint32_t hd, const Vector& weight, float eps) {
  if (!weight.data) return;
  for (size_t h = 0; h < n_rows * n_heads; ++h) rmsnorm(rows + h * hd, rows + h * hd, weight.data, hd, eps);
}

void add_into(std::vector<float>& x, const std::vector<float>& delta, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] += delta[i];
}

void grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

void Model::Impl::forward(const ForwardBatch& batch, KvCache& cache, std::vector<float>& logits) {
  const ModelConfig& c = config;
  const size_t n = batch.tokens.size();
  const size_t dim = c.n_embd, hd = c.head_dim;
  const size_t q_dim = c.n_head * hd, kv_dim = c.n_head_kv * hd;
  const uint32_t q8_rows = options.q8_fast_path_max_rows;
  const bool rounding = options.llamacpp_activation_rounding;

  // Check the batch before touching the cache.
  std::vector<uint32_t> positions(n);
  size_t row = 0;
  for (const auto& seq : batch.sequences) {
    if (!seq.blocks) throw std::invalid_argument("forward: a sequence has no block table");
    if (seq.blocks->capacity_tokens(cache.block_tokens()) < size_t(seq.start_pos) + seq.n_tokens)
      throw std::invalid_argument("forward: block table too short for position " +
                                  std::to_string(seq.start_pos + seq.n_tokens - 1));
    for (uint32_t i = 0; i < seq.n_tokens; ++i) positions[row++] = seq.start_pos + i;
  }
  if (row != n) throw std::invalid_argument("forward: sequences cover " + std::to_string(row) + " rows, batch has " +
                                            std::to_string(n));
  for (size_t r = 0; r < n; ++r)
    if (batch.tokens[r] < 0 || static_cast<uint32_t>(batch.tokens[r]) >= c.n_vocab)
      throw std::out_of_range("forward: token id " + std::to_string(batch.tokens[r]) + " at row " + std::to_string(r) +
                              " is outside the vocabulary (" + std::to_string(c.n_vocab) + ")");

  // llama.cpp sums a lone row (decode) in another order than a matmul of several rows (prompt);
  // choosing by each sequence's own row count, not the batch's, keeps rows batch-invariant.
  row_orders.assign(n, F32Order::decode);
  row = 0;
  for (const auto& seq : batch.sequences) {
    std::fill_n(row_orders.begin() + row, seq.n_tokens, seq.n_tokens >= 2 ? F32Order::prompt : F32Order::decode);
    row += seq.n_tokens;
  }
  const F32Order* orders = row_orders.data();

  grow(x, n * dim);
  grow(xb, n * dim);
  grow(q, n * q_dim);
  grow(k, n * kv_dim);
  grow(v, n * kv_dim);
  grow(att_out, n * q_dim);
  grow(hb, n * c.n_ff);
  grow(hb2, n * c.n_ff);

  const Matrix& embd = weights.token_embd;
  for (size_t r = 0; r < n; ++r) {
    const size_t token = static_cast<size_t>(batch.tokens[r]);
    // A table kept quantized only: get_rows dequantizes the one row.
    weight_row(embd, static_cast<uint32_t>(token), x.data() + r * dim);
  }

  for (uint32_t l = 0; l < c.n_layer; ++l) {
    const Layer& w = weights.layers[l];
    for (size_t r = 0; r < n; ++r) rmsnorm(xb.data() + r * dim, x.data() + r * dim, w.attn_norm.data, dim, c.norm_eps);

    matmul(backend, xb.data(), n, w.wq, q.data(), q8_rows, rounding, orders);
    matmul(backend, xb.data(), n, w.wk, k.data(), q8_rows, rounding, orders);
    matmul(backend, xb.data(), n, w.wv, v.data(), q8_rows, rounding, orders);
    add_bias(q.data(), n, w.bq);
    add_bias(k.data(), n, w.bk);
    add_bias(v.data(), n, w.bv);
    head_norm(q.data(), n, c.n_head, c.head_dim, w.q_norm, c.norm_eps);
    head_norm(k.data(), n, c.n_head_kv, c.head_dim, w.k_norm, c.norm_eps);

    row = 0;
    for (const auto& seq : batch.sequences) {
      for (uint32_t i = 0; i < seq.n_tokens; ++i, ++row) {
        rope(q.data() + row * q_dim, c.n_head, positions[row]);
        rope(k.data() + row * kv_dim, c.n_head_kv, positions[row]);
        to_f16(k.data() + row * kv_dim, cache.key_at(l, *seq.blocks, positions[row]), kv_dim);
        to_f16(v.data() + row * kv_dim, cache.value_at(l, *seq.blocks, positions[row]), kv_dim);
      }
    }
    attention(batch, l, cache);

    matmul(backend, att_out.data(), n, w.wo, xb.data(), q8_rows, rounding, orders);
    add_into(x, xb, n * dim);

    for (size_t r = 0; r < n; ++r) rmsnorm(xb.data() + r * dim, x.data() + r * dim, w.ffn_norm.data, dim, c.norm_eps);
    matmul(backend, xb.data(), n, w.w_gate, hb.data(), q8_rows, rounding, orders);
    matmul(backend, xb.data(), n, w.w_up, hb2.data(), q8_rows, rounding, orders);
    for (size_t r = 0; r < n; ++r) swiglu_ggml(hb.data() + r * c.n_ff, hb2.data() + r * c.n_ff, c.n_ff);
    matmul(backend, hb.data(), n, w.w_down, xb.data(), q8_rows, rounding, orders);
    add_into(x, xb, n * dim);
  }

  // Logits only for the rows that will be sampled or scored.
  // The output matmul sees only these rows (llama.cpp selects them first too), so a sequence's
  // order there follows how many logit rows it has.
  std::vector<size_t> logit_rows_idx;
  logit_orders.clear();
  row = 0;
  for (const auto& seq : batch.sequences) {
    if (seq.logits == ForwardSequence::Logits::all) {
      for (uint32_t i = 0; i < seq.n_tokens; ++i) logit_rows_idx.push_back(row + i);
      logit_orders.insert(logit_orders.end(), seq.n_tokens, seq.n_tokens >= 2 ? F32Order::prompt : F32Order::decode);
    } else if (seq.logits == ForwardSequence::Logits::last && seq.n_tokens > 0) {
      logit_rows_idx.push_back(row + seq.n_tokens - 1);
      logit_orders.push_back(F32Order::decode);
    }
    row += seq.n_tokens;
  }
  const size_t m = logit_rows_idx.size();
  grow(logit_rows, m * dim);
  for (size_t i = 0; i < m; ++i)
    rmsnorm(logit_rows.data() + i * dim, x.data() + logit_rows_idx[i] * dim, weights.output_norm.data, dim, c.norm_eps);
  logits.resize(m * c.n_vocab);
  matmul(backend, logit_rows.data(), m, weights.output_matrix(), logits.data(), q8_rows, rounding, logit_orders.data());
}

void Model::forward(const ForwardBatch& batch, KvCache& cache, std::vector<float>& logits) {
  impl_->forward(batch, cache, logits);
}

}  // namespace tandem::engine
