// What a local model's scheduler publishes for the router's SLO rules and for GET /v1/backends:
// queue depth and running sequences (the scheduler's own stats), what a step costs (learned
// from the step cadence, actors/routing/step_cost.h), and what recent requests were like (prompt
// length, the share the prefix cache served, tokens generated, prompt tokens per body byte).
// Fed by the scheduler's observer on its step thread; read by the router and the endpoint from
// any thread, cheaply.
#pragma once

#include "actors/backend/router.h"
#include "actors/routing/linear_fit.h"
#include "actors/routing/step_cost.h"
#include "actors/routing/ttft_predictor.h"
#include "actors/serving/scheduler.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

namespace tandem::api {

class LocalLoad {
 public:
  LocalLoad(std::string model_id, const actors::SchedulerOptions& options);

  // Wraps `inner` (the metrics observer) so both see every callback.
  actors::SchedulerObserver observe(actors::SchedulerObserver inner);

  routing::SchedulerLoad load() const;
  backend::BackendStatus status() const;

  // Step-thread callbacks (public for tests). A step with these prefill and decode rows ended at
  // `now`; the scheduler's stats after a loop iteration; a generation that ended.
  void on_step(size_t prefill_rows, size_t decode_rows, std::chrono::steady_clock::time_point now);
  void on_stats(const actors::SchedulerStats& stats, std::chrono::steady_clock::time_point now);
  void on_finished(const actors::FinishedRequest& request);

 private:
  std::string model_id_;
  size_t max_running_, max_waiting_, step_token_budget_;
  mutable std::mutex mutex_;
  routing::StepCostModel cost_;
  actors::SchedulerStats stats_;
  std::chrono::steady_clock::time_point last_step_{};
  bool busy_ = false;  // work was left after the last iteration: the next step started at once
  // Recent finished requests, each weighing the same (EWMA): whole prompt, tokens generated.
  double mean_prompt_tokens_ = 0;
  double mean_generated_tokens_ = 0;
  double seconds_before_submit_ = 0;
  // Prompt tokens served by the prefix cache and prompt tokens, both fading alike.
  double cached_tokens_ = 0, prompt_tokens_ = 0;
  routing::LinearFit<2> tokens_per_byte_{0.95};  // prompt tokens = base + per_byte x body bytes
  // Step thread only: the rows of the step whose end on_step is about to see.
  size_t step_prefill_rows_ = 0, step_decode_rows_ = 0;
};

}  // namespace tandem::api
