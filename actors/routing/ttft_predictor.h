// Predicts how long a new request would wait for its first token on a local model, from the
// state its scheduler publishes, so the router can send it elsewhere when that is too long.
//
// The model. The scheduler runs engine steps of at most B rows (`--batch-tokens`): one decode
// row for each of the r running sequences, the rest prefill rows from the queue's head. A new
// request's first token comes when the prefill ahead of it and its own prompt are done:
//   W = prompt tokens still to prefill ahead of it (published, or waiting x recent mean prompt)
//       + its own prompt length
//   S = ceil(W / (B - r))            steps needed, r capped at B - 1
//   TTFT = W / prefill_rate          time spent on prefill rows
//        + S x r / decode_rate       time spent on the decode rows those steps also carry
// where prefill_rate and decode_rate are the scheduler's recent EWMAs in tokens per second
// (decode_rate over the whole batch). What it leaves out: when every slot is taken (running
// == max_running) the request also waits for a sequence to finish, which depends on
// generation lengths nobody knows in advance — the rule's `max_queue` bound covers that case.
// With no rates measured yet (a cold model) there is no prediction and the request stays local.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tandem::routing {

using Millis = std::chrono::milliseconds;

struct SchedulerLoad {
  size_t waiting = 0;                // requests queued, not yet in the batch
  size_t running = 0;                // sequences in the batch
  size_t max_running = 0;            // --parallel
  size_t max_waiting = 0;            // --max-queue
  size_t step_token_budget = 256;    // --batch-tokens: rows per engine step
  uint64_t queued_prompt_tokens = 0; // prompt tokens ahead still to prefill; 0 = not published
  double mean_prompt_tokens = 0;     // EWMA of recent prompt lengths (estimates the above)
  double prefill_tokens_per_s = 0;   // EWMA while prefilling; 0 = not measured yet
  double decode_tokens_per_s = 0;    // EWMA over the batch; 0 = not measured yet
};

// nullopt when the rates needed are not measured yet.
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
