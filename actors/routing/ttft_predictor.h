// Predicts how long a new request would wait for its first token on a local model, from the
// state its scheduler publishes, so the router can send it elsewhere when that is too long.
//
// The model. The scheduler runs engine steps of at most B rows (`--batch-tokens`): one decode
// row for each running sequence, the rest prefill rows from the prompts admitted, oldest first;
// a step costs c + a x prefill rows + b x decode rows (step_cost.h). A request's prompt is only
// partly computed: the prefix cache serves a share of prompt tokens (published as the recent
// share), so its own prefill is P x (1 - share) rows, P estimated from its body size by a fit
// the scheduler learns (tokens = base + per_byte x bytes).
//   1. When does it get a slot? Each of the R slots frees up when its sequence ends: a running
//      sequence that has generated g of its max_tokens ends after about min(max_tokens, G) - g
//      more steps (G: the recent mean of tokens generated; at least one step), a full batch's
//      step costing c + b R. The q requests queued before it take the slots that free up
//      first, in order, each holding its slot for its prefill (which yields its first token)
//      and G - 1 more steps; it takes the next.
//   2. Then its prefill. Joining at once (a slot was free), it is prefilled behind the prompts
//      admitted with it (the recent mean computed prompt each), beside the running decodes:
//      W rows in S = ceil(W / (B - r)) steps of c + b r, plus a W. Joining later, only its own
//      prompt, beside the R - 1 other sequences.
//   3. Plus the time before the scheduler sees it (reading, routing, the chat template, the
//      tokenizer): the recent mean.
// Not in it: the hop from the first token to the client's socket. A sequence that runs past G is assumed to end at the next step.
// Until the scheduler has measured what a case needs (a step with prefill rows; decode rows
// when some are running; a finished request when the request must wait for a slot) there is no
// prediction and the request stays local.
#pragma once

#include "actors/routing/step_cost.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tandem::routing {

using Millis = std::chrono::milliseconds;

struct SchedulerLoad {
  size_t waiting = 0;                // requests queued, not yet in the batch
  size_t running = 0;                // sequences in the batch
  size_t max_running = 0;            // --parallel
  size_t max_waiting = 0;            // --max-queue
  size_t step_token_budget = 256;    // --batch-tokens: rows per engine step
  // The running sequences' progress; fewer entries than `running`: the others are assumed half
  // way through a mean generation.
  struct Progress {
    uint32_t generated = 0;
    uint32_t max_tokens = 0;
  };
  std::vector<Progress> running_progress;
  StepCost step_cost;                // learned from the step cadence
  double mean_prompt_tokens = 0;     // recent finished requests' prompts, whole
  double cached_prompt_share = 0;    // of recent prompt tokens, the share the prefix cache served
  double mean_generated_tokens = 0;  // recent finished requests; 0 = none finished yet
  double seconds_before_submit = 0;  // recent mean: HTTP request read -> scheduler submit
  // Prompt tokens from the request body's size: base + per_byte x bytes. Both 0 = not learned.
  double prompt_tokens_base = 0;
  double prompt_tokens_per_byte = 0;

  // Rates for logs and /v1/backends: prefill rows a second in a long prefill, tokens a second
  // over a batch of `running` sequences (at least one). 0 = not measured yet.
  double prefill_tokens_per_s() const;
  double decode_tokens_per_s() const;
};

// The prompt tokens a request body of `bytes` bytes renders to: the learned fit, else 4 bytes a
// token (at least 1).
uint64_t estimate_prompt_tokens(const SchedulerLoad& load, size_t bytes);

// nullopt when what the case needs is not measured yet. `prompt_tokens`: the whole prompt.
std::optional<Millis> predict_ttft(const SchedulerLoad& load, uint64_t prompt_tokens);

// A local target's condition: "local unless predicted TTFT > max_ttft or queue > max_queue".
struct SloCondition {
  std::optional<Millis> max_ttft;
  std::optional<size_t> max_queue;
  bool empty() const { return !max_ttft && !max_queue; }
};

struct SloVerdict {
  bool stay_local = true;
  std::optional<Millis> predicted_ttft;
  std::string reason;  // e.g. "predicted TTFT 1830 ms > 800 ms"
};

SloVerdict evaluate_slo(const SloCondition& condition, const SchedulerLoad& load, uint64_t prompt_tokens);

}  // namespace tandem::routing
