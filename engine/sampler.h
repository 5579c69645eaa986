// Choosing the next token from a row of logits: penalties, temperature, top-k, top-p, min-p,
// a per-request seeded RNG, and the log-probabilities OpenAI's `logprobs` reports.
#pragma once

#include "engine/tokenizer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tandem::engine {

class TokenConstraint;  // engine/constraint.h
class ConstraintState;

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
  // Structured output (JSON mode, JSON Schema, a forced tool call): each sequence's sampler
  // keeps its own state of this constraint, draws only tokens that keep the output a valid
  // prefix (end-of-generation only once the value is complete) and advances it with the chosen
  // token. Penalties, temperature and the top-k/p/min-p filters apply to the allowed tokens;
  // reported logprobs stay those of the unconstrained distribution. Null = unconstrained.
  std::shared_ptr<const TokenConstraint> constraint;
  // OpenAI logit_bias: added to the token's logit before penalties' filters and the draw;
  // -100 or less bans the token outright (its logit becomes -inf). Ids outside the vocabulary
  // are skipped (the server refuses them before they get here). Logprobs stay the raw ones.
  std::vector<std::pair<TokenId, float>> logit_bias;
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
  ~Sampler();
  Sampler(Sampler&&) noexcept;
  Sampler& operator=(Sampler&&) noexcept;

  // Tokens the penalties should see (the prompt, when params.penalize_prompt).
  void add_history(std::span<const TokenId> tokens);
  void accept(TokenId token);  // a generated token (sample() calls this itself)

  // Picks a token from `logits` (vocab-sized; not modified) and records it in the history.
  SampleResult sample(std::span<const float> logits);
  // Takes `token` without drawing (a forced continuation, see Engine::force): its raw logprob
  // and alternatives are reported as sample() would, the history records it, the RNG is untouched.
  SampleResult take(std::span<const float> logits, TokenId token);

  const SamplingParams& params() const { return params_; }
  // The constraint's state (null without one): whether the value is complete so far.
  const ConstraintState* constraint_state() const { return constraint_.get(); }

 private:
  double next_uniform();  // [0, 1), from splitmix64 so the stream is the same on every platform
  void apply_penalties(std::vector<float>& logits) const;
  void apply_logit_bias(std::vector<float>& logits) const;

  SamplingParams params_;
  uint64_t rng_state_;
  std::vector<TokenId> history_;
  std::unique_ptr<ConstraintState> constraint_;
};

}  // namespace tandem::engine
