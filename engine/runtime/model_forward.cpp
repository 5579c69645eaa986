// The forward pass, llama2.c's run.c batched: activations are [n_tokens x dim] across every
// sequence of the step, each weight matmul is one sgemm over all rows, and attention runs per
// sequence (and per row) against that sequence's paged K/V.
#include "engine/runtime/model_forward.h"
#include "engine/quant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace tandem::engine {

using namespace detail;

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
  for (uint32_t i = 0; i < pairs; ++i) {
    double theta = static_cast<double>(pos) * inv_freq[i];
    float cos_t = static_cast<float>(std::cos(theta)), sin_t = static_cast<float>(std::sin(theta));
    // normal: adjacent pairs (2i, 2i+1); neox: halves (i, i + rope_dims/2)
    const uint32_t a = neox ? i : 2 * i;
    const uint32_t b = neox ? i + pairs : 2 * i + 1;
    for (uint32_t h = 0; h < n_heads; ++h) {
      float* head = vec + static_cast<size_t>(h) * hd;
      float x0 = head[a], x1 = head[b];
      head[a] = x0 * cos_t - x1 * sin_t;
      head[b] = x0 * sin_t + x1 * cos_t;
    }
  }
}

// Attention with llama.cpp's CPU flash-attention numerics: q rounded to fp16, scores against the
// fp16 keys, online softmax, and the weighted sum of fp16 values accumulated in fp16.
void Model::Impl::attention(const ForwardSequence& seq, size_t first_row, uint32_t layer, const KvCache& cache) {
  const ModelConfig& c = config;
  const uint32_t hd = c.head_dim;
  const size_t q_dim = static_cast<size_t>(c.n_head) * hd;
  const uint32_t group = c.n_head / c.n_head_kv;
  const uint32_t bt = cache.block_tokens();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<uint16_t>& acc = att_acc;
  acc.resize(hd);
  std::vector<float>& qr = att_q;
  qr.resize(hd);

  for (uint32_t i = 0; i < seq.n_tokens; ++i) {
    const size_t row = first_row + i;
    const uint32_t n_keys = seq.start_pos + i + 1;  // causal: positions 0..pos
    for (uint32_t h = 0; h < c.n_head; ++h) {
      const float* qh = q.data() + row * q_dim + static_cast<size_t>(h) * hd;
      for (uint32_t d = 0; d < hd; ++d) qr[d] = fp16_to_fp32(fp32_to_fp16(qh[d]));
      const size_t kv_off = static_cast<size_t>(h / group) * hd;
      std::fill(acc.begin(), acc.end(), uint16_t{0});
      float max_score = -std::numeric_limits<float>::infinity();
      float sum = 0.0f;
      for (uint32_t t = 0; t < n_keys; ++t) {
        const BlockId block = seq.blocks->blocks[t / bt];
        const float s = dot_f16(qr.data(), cache.key(layer, block, t % bt) + kv_off, hd) * scale;
        float old_scale = 1.0f, weight = 1.0f;
        if (s > max_score) {
          old_scale = std::exp(max_score - s);
          max_score = s;
          for (auto& a : acc) a = fp32_to_fp16(fp16_to_fp32(a) * old_scale);
        } else {
          weight = std::exp(s - max_score);
        }
        mad_f16(acc.data(), cache.value(layer, block, t % bt) + kv_off, weight, hd);
        sum = sum * old_scale + weight;
      }
      float* out = att_out.data() + row * q_dim + static_cast<size_t>(h) * hd;
      const float inv_sum = 1.0f / sum;
      for (uint32_t d = 0; d < hd; ++d) out[d] = fp16_to_fp32(acc[d]) * inv_sum;
    }
  }
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

  grow(x, n * dim);
  grow(xb, n * dim);
  grow(q, n * q_dim);
  grow(k, n * kv_dim);
  grow(v, n * kv_dim);
  grow(att_out, n * q_dim);
  grow(hb, n * c.n_ff);
  grow(hb2, n * c.n_ff);

  const Matrix& embd = weights.token_embd;
  for (size_t r = 0; r < n; ++r)
    std::copy_n(embd.data + static_cast<size_t>(batch.tokens[r]) * dim, dim, x.data() + r * dim);

  for (uint32_t l = 0; l < c.n_layer; ++l) {
    const Layer& w = weights.layers[l];
    for (size_t r = 0; r < n; ++r) rmsnorm(xb.data() + r * dim, x.data() + r * dim, w.attn_norm.data, dim, c.norm_eps);

    matmul(backend, xb.data(), n, w.wq, q.data(), q8_rows, rounding);
    matmul(backend, xb.data(), n, w.wk, k.data(), q8_rows, rounding);
    matmul(backend, xb.data(), n, w.wv, v.data(), q8_rows, rounding);
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
    row = 0;
    for (const auto& seq : batch.sequences) {
      attention(seq, row, l, cache);
      row += seq.n_tokens;
    }

    matmul(backend, att_out.data(), n, w.wo, xb.data(), q8_rows, rounding);
    add_into(x, xb, n * dim);

    for (size_t r = 0; r < n; ++r) rmsnorm(xb.data() + r * dim, x.data() + r * dim, w.ffn_norm.data, dim, c.norm_eps);
    matmul(backend, xb.data(), n, w.w_gate, hb.data(), q8_rows, rounding);
    matmul(backend, xb.data(), n, w.w_up, hb2.data(), q8_rows, rounding);
    for (size_t i = 0; i < n * c.n_ff; ++i) hb[i] = hb[i] / (1.0f + std::exp(-hb[i])) * hb2[i];  // SwiGLU
    matmul(backend, hb.data(), n, w.w_down, xb.data(), q8_rows, rounding);
    add_into(x, xb, n * dim);
  }

  // Logits only for the rows that will be sampled or scored.
  std::vector<size_t> logit_rows_idx;
  row = 0;
  for (const auto& seq : batch.sequences) {
    if (seq.logits == ForwardSequence::Logits::all) {
      for (uint32_t i = 0; i < seq.n_tokens; ++i) logit_rows_idx.push_back(row + i);
    } else if (seq.logits == ForwardSequence::Logits::last && seq.n_tokens > 0) {
      logit_rows_idx.push_back(row + seq.n_tokens - 1);
    }
    row += seq.n_tokens;
  }
  const size_t m = logit_rows_idx.size();
  grow(logit_rows, m * dim);
  for (size_t i = 0; i < m; ++i)
    rmsnorm(logit_rows.data() + i * dim, x.data() + logit_rows_idx[i] * dim, weights.output_norm.data, dim, c.norm_eps);
  logits.resize(m * c.n_vocab);
  matmul(backend, logit_rows.data(), m, weights.output_matrix(), logits.data(), q8_rows, rounding);
}

void Model::forward(const ForwardBatch& batch, KvCache& cache, std::vector<float>& logits) {
  impl_->forward(batch, cache, logits);
}

}  // namespace tandem::engine
