// Choosing the next token from a row of logits: penalties, temperature, top-k, top-p, min-p,
// a per-request seeded RNG, and the log-probabilities OpenAI's `logprobs` reports.
#pragma once

#include "engine/tokenizer.h"

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace tandem::engine {

struct SamplingParams {
  float temperature = 1.0f;       // 0 = greedy
  int32_t top_k = 0;              // 0 = off
  float top_p = 1.0f;             // 1 = off
  float min_p = 0.0f;             // 0 = off; keeps tokens with p >= min_p * p_max
  std::optional<uint64_t> seed;   // same seed + same request -> same output; none = random
  float repetition_penalty = 1.0f;  // llama.cpp/CTRL style: logit / p if > 0 else logit * p
  float presence_penalty = 0.0f;    // OpenAI: minus this once a token has appeared
  float frequency_penalty = 0.0f;   // OpenAI: minus this times the token's count
  int32_t penalty_last_n = 64;      // window of recent tokens the penalties look at; -1 = all
  bool penalize_prompt = true;      // whether prompt tokens count for the penalties
  int32_t top_logprobs = 0;         // alternatives to report per token (0 = chosen token only)
};

struct TokenLogprob {
  TokenId id = -1;
  float logprob = 0.0f;  // natural log, full softmax over the raw logits
};

struct SampleResult {
  TokenId token = -1;
  float logprob = 0.0f;              // of the chosen token, raw distribution
  std::vector<TokenLogprob> top;     // best first, params.top_logprobs entries
};

// The `n` most likely tokens under log-softmax of the raw logits, best first (ties: lower id).
std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, size_t n);
// log-softmax normaliser: log(sum(exp(logits))) computed stably in double.
double log_sum_exp(std::span<const float> logits);

// One sampler per sequence: holds its RNG and the penalty window.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Tokens the penalties should see (the prompt, when params.penalize_prompt).
  void add_history(std::span<const TokenId> tokens);
  void accept(TokenId token);  // a generated token (sample() calls this itself)

  // Picks a token from `logits` (vocab-sized; not modified) and records it in the history.
  SampleResult sample(std::span<const float> logits);

  const SamplingParams& params() const { return params_; }

 private:
  double next_uniform();  // [0, 1), from splitmix64 so the stream is the same on every platform
  void apply_penalties(std::vector<float>& logits) const;

  SamplingParams params_;
  uint64_t rng_state_;
  std::vector<TokenId> history_;
};

}  // namespace tandem::engine
