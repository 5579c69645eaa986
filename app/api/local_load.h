// What a local model's scheduler publishes for the router's SLO rules and for GET /v1/backends:
// queue depth and running sequences (the scheduler's own stats), and recent prefill / decode
// rates learned from its step cadence (actors/routing/step_cost.h). Fed by the scheduler's
// observer on its step thread; read by the router and the endpoint from any thread, cheaply.
#pragma once

#include "actors/backend/router.h"
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

  // Step-thread callbacks (public for tests): a step of `sequences` sequences and `tokens` rows
  // ended at `now`; the scheduler's stats after a loop iteration; finished requests' prompts.
  void on_step(size_t sequences, size_t tokens, std::chrono::steady_clock::time_point now);
  void on_stats(const actors::SchedulerStats& stats, std::chrono::steady_clock::time_point now);
  void on_prompts(uint64_t prompt_tokens, uint64_t requests);

 private:
  std::string model_id_;
  size_t max_running_, max_waiting_, step_token_budget_;
  mutable std::mutex mutex_;
  routing::StepCostModel cost_;
  actors::SchedulerStats stats_;
  std::chrono::steady_clock::time_point last_step_{};
  bool busy_ = false;  // work was left after the last iteration: the next step started at once
  double mean_prompt_tokens_ = 0;
};

}  // namespace tandem::api
