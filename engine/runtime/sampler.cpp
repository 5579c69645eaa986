#include "engine/sampler.h"

#include "engine/constraint.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

namespace tandem::engine {

namespace {

struct Candidate {
  TokenId id;
  float logit;
};

bool better(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

TokenId argmax(std::span<const float> logits) {
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<TokenId>(best);
}

// Softmax of candidate logits divided by `temperature`, into `probs` (sums to 1).
void softmax(const std::vector<Candidate>& candidates, float temperature, std::vector<double>& probs) {
  probs.resize(candidates.size());
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const auto& c : candidates) max_logit = std::max(max_logit, c.logit);
  double sum = 0.0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    probs[i] = std::exp(static_cast<double>(candidates[i].logit - max_logit) / temperature);
    sum += probs[i];
  }
  for (double& p : probs) p /= sum;
}

// Sorts candidates best first, partially when only a short head can matter for top-p.
void sort_for_top_p(std::vector<Candidate>& candidates, float top_p) {
  const size_t head = 1024;
  if (candidates.size() > head * 2) {
    std::partial_sort(candidates.begin(), candidates.begin() + head, candidates.end(), better);
    std::vector<double> probs;
    softmax(candidates, 1.0f, probs);
    double mass = 0.0;
    for (size_t i = 0; i < head; ++i) mass += probs[i];
    if (mass >= top_p) return;  // the cut falls inside the sorted head
  }
  std::sort(candidates.begin(), candidates.end(), better);
}

}  // namespace

double log_sum_exp(std::span<const float> logits) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (float l : logits) max_logit = std::max(max_logit, l);
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max_logit);
  return max_logit + std::log(sum);
}

std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, size_t n) {
  n = std::min(n, logits.size());
  if (n == 0) return {};
  std::vector<Candidate> candidates(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) candidates[i] = {static_cast<TokenId>(i), logits[i]};
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(n), candidates.end(), better);
  double norm = log_sum_exp(logits);
  std::vector<TokenLogprob> out(n);
  for (size_t i = 0; i < n; ++i)
    out[i] = {candidates[i].id, static_cast<float>(candidates[i].logit - norm)};
  return out;
}

Sampler::Sampler(const SamplingParams& params) : params_(params) {
  rng_state_ = params.seed ? *params.seed : (static_cast<uint64_t>(std::random_device{}()) << 32 | std::random_device{}());
  if (params.constraint) constraint_ = std::make_unique<ConstraintState>(params.constraint);
}

Sampler::~Sampler() = default;
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;

void Sampler::add_history(std::span<const TokenId> tokens) {
  if (params_.penalize_prompt) history_.insert(history_.end(), tokens.begin(), tokens.end());
}

void Sampler::accept(TokenId token) { history_.push_back(token); }

double Sampler::next_uniform() {
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

void Sampler::apply_penalties(std::vector<float>& logits) const {
  bool any = params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f ||
             params_.frequency_penalty != 0.0f;
  if (!any || history_.empty() || params_.penalty_last_n == 0) return;
  size_t window = params_.penalty_last_n < 0 ? history_.size()
                                             : std::min(history_.size(), static_cast<size_t>(params_.penalty_last_n));
  std::unordered_map<TokenId, int> counts;
  for (size_t i = history_.size() - window; i < history_.size(); ++i) ++counts[history_[i]];
  for (const auto& [id, count] : counts) {
    if (id < 0 || static_cast<size_t>(id) >= logits.size()) continue;
    float& l = logits[static_cast<size_t>(id)];
    if (params_.repetition_penalty != 1.0f)
      l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
    l -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
  }
}

void Sampler::apply_logit_bias(std::vector<float>& logits) const {
  for (const auto& [id, bias] : params_.logit_bias) {
    if (id < 0 || static_cast<size_t>(id) >= logits.size()) continue;
    float& l = logits[static_cast<size_t>(id)];
    l = bias <= -100.0f ? -std::numeric_limits<float>::infinity() : l + bias;
  }
}

SampleResult Sampler::sample(std::span<const float> raw_logits) {
  std::vector<float> logits(raw_logits.begin(), raw_logits.end());
  apply_penalties(logits);
  apply_logit_bias(logits);

  // With a constraint only its allowed tokens are candidates (never empty: see allowed()).
  const TokenMask* allowed = constraint_ ? &constraint_->allowed() : nullptr;
  std::vector<Candidate> candidates;
  if (allowed) {
    const auto& words = allowed->words();
    for (size_t w = 0; w < words.size(); ++w)
      for (uint64_t bits = words[w]; bits != 0; bits &= bits - 1) {
        const size_t i = w * 64 + static_cast<size_t>(std::countr_zero(bits));
        if (i < logits.size()) candidates.push_back({static_cast<TokenId>(i), logits[i]});
      }
    if (candidates.empty()) candidates.push_back({argmax(logits), 0.0f});  // a mask wider than the model's rows
  }

  TokenId chosen;
  if (params_.temperature <= 0.0f) {
    if (allowed) {
      chosen = std::min_element(candidates.begin(), candidates.end(), better)->id;
    } else {
      chosen = argmax(logits);
    }
  } else {
    if (!allowed) {
      candidates.resize(logits.size());
      for (size_t i = 0; i < logits.size(); ++i) candidates[i] = {static_cast<TokenId>(i), logits[i]};
    }
    // Filters in llama.cpp's order: top-k, top-p, min-p on the untempered distribution, then
    // temperature, then the draw.
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < candidates.size()) {
      std::partial_sort(candidates.begin(), candidates.begin() + params_.top_k, candidates.end(), better);
      candidates.resize(static_cast<size_t>(params_.top_k));
    }
    std::vector<double> probs;
    if (params_.top_p < 1.0f && candidates.size() > 1) {
      sort_for_top_p(candidates, params_.top_p);
      softmax(candidates, 1.0f, probs);
      double mass = 0.0;
      size_t keep = 0;
      while (keep < candidates.size()) {
        mass += probs[keep++];
        if (mass >= params_.top_p) break;
      }
      candidates.resize(std::max<size_t>(keep, 1));
    }
    if (params_.min_p > 0.0f && candidates.size() > 1) {
      float max_logit = -std::numeric_limits<float>::infinity();
      for (const auto& c : candidates) max_logit = std::max(max_logit, c.logit);
      // p >= min_p * p_max  <=>  logit >= max_logit + log(min_p)
      float threshold = max_logit + std::log(params_.min_p);
      std::erase_if(candidates, [&](const Candidate& c) { return c.logit < threshold; });
    }
    softmax(candidates, params_.temperature, probs);
    double u = next_uniform();
    size_t pick = candidates.size() - 1;
    double cumulative = 0.0;
    for (size_t i = 0; i < candidates.size(); ++i) {
      cumulative += probs[i];
      if (u < cumulative) {
        pick = i;
        break;
      }
    }
    chosen = candidates[pick].id;
  }

  SampleResult result;
  result.token = chosen;
  double norm = log_sum_exp(raw_logits);
  result.logprob = static_cast<float>(raw_logits[static_cast<size_t>(chosen)] - norm);
  if (params_.top_logprobs > 0) result.top = top_logprobs(raw_logits, static_cast<size_t>(params_.top_logprobs));
  accept(chosen);
  if (constraint_) constraint_->accept(chosen);
  return result;
}

SampleResult Sampler::take(std::span<const float> raw_logits, TokenId token) {
  SampleResult result;
  result.token = token;
  result.logprob = static_cast<float>(raw_logits[static_cast<size_t>(token)] - log_sum_exp(raw_logits));
  if (params_.top_logprobs > 0) result.top = top_logprobs(raw_logits, static_cast<size_t>(params_.top_logprobs));
  accept(token);
  if (constraint_) constraint_->accept(token);
  return result;
}

}  // namespace tandem::engine
