#include "app/api/local_load.h"

#include <algorithm>

namespace tandem::api {

namespace {
// Weight of the newest finished request in the recent means.
constexpr double kRequestAlpha = 0.2;

double ewma(double mean, double value) { return mean == 0 ? value : (1 - kRequestAlpha) * mean + kRequestAlpha * value; }
}  // namespace

LocalLoad::LocalLoad(std::string model_id, const actors::SchedulerOptions& options)
    : model_id_(std::move(model_id)),
      max_running_(options.max_running),
      max_waiting_(options.max_waiting),
      step_token_budget_(options.step_token_budget) {}

actors::SchedulerObserver LocalLoad::observe(actors::SchedulerObserver inner) {
  // Everything the inner observer watches still reaches it; the ones below are shared. The
  // scheduler reports a step's rows (on_step_timing) just before its end (on_step).
  actors::SchedulerObserver out = inner;
  out.on_step_timing = [this, next = inner.on_step_timing](const actors::StepTiming& timing) {
    step_prefill_rows_ = timing.prefill_tokens;
    step_decode_rows_ = timing.decode_tokens;
    if (next) next(timing);
  };
  out.on_step = [this, next = inner.on_step](size_t sequences, size_t tokens) {
    on_step(step_prefill_rows_, step_decode_rows_, std::chrono::steady_clock::now());
    step_prefill_rows_ = step_decode_rows_ = 0;
    if (next) next(sequences, tokens);
  };
  out.on_stats = [this, next = inner.on_stats](const actors::SchedulerStats& stats) {
    on_stats(stats, std::chrono::steady_clock::now());
    if (next) next(stats);
  };
  out.on_finished = [this, next = inner.on_finished](const actors::FinishedRequest& request) {
    on_finished(request);
    if (next) next(request);
  };
  return out;
}

void LocalLoad::on_step(size_t prefill_rows, size_t decode_rows, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  // The time between the ends of two steps of a busy scheduler is one step's whole cost: its
  // forward pass and the loop around it (an idle scheduler waited instead, which is no cost).
  if (busy_ && last_step_ != std::chrono::steady_clock::time_point{}) {
    cost_.observe(prefill_rows, decode_rows, std::chrono::duration<double>(now - last_step_).count());
  }
  last_step_ = now;
}

void LocalLoad::on_stats(const actors::SchedulerStats& stats, std::chrono::steady_clock::time_point) {
  std::lock_guard lock(mutex_);
  stats_ = stats;
  busy_ = stats.running > 0 || stats.waiting > 0;
}

void LocalLoad::on_finished(const actors::FinishedRequest& request) {
  if (request.prompt_tokens == 0) return;
  std::lock_guard lock(mutex_);
  mean_prompt_tokens_ = ewma(mean_prompt_tokens_, double(request.prompt_tokens));
  mean_generated_tokens_ = ewma(mean_generated_tokens_, double(std::max<uint64_t>(1, request.generated_tokens)));
  if (request.seconds_before_submit > 0) {
    seconds_before_submit_ = ewma(seconds_before_submit_, request.seconds_before_submit);
  }
  cached_tokens_ = (1 - kRequestAlpha) * cached_tokens_ + double(std::min(request.cached_tokens, request.prompt_tokens));
  prompt_tokens_ = (1 - kRequestAlpha) * prompt_tokens_ + double(request.prompt_tokens);
  if (request.request_bytes > 0) {
    tokens_per_byte_.observe({1.0, double(request.request_bytes)}, double(request.prompt_tokens));
  }
}

routing::SchedulerLoad LocalLoad::load() const {
  std::lock_guard lock(mutex_);
  routing::SchedulerLoad load;
  load.waiting = stats_.waiting;
  load.running = stats_.running;
  load.max_running = max_running_;
  load.max_waiting = max_waiting_;
  load.step_token_budget = step_token_budget_;
  load.step_cost = cost_.cost();
  for (const auto& progress : stats_.running_progress) load.running_progress.push_back({progress.generated, progress.max_tokens});
  load.mean_prompt_tokens = mean_prompt_tokens_;
  load.mean_generated_tokens = mean_generated_tokens_;
  load.seconds_before_submit = seconds_before_submit_;
  load.cached_prompt_share = prompt_tokens_ > 0 ? cached_tokens_ / prompt_tokens_ : 0;
  if (tokens_per_byte_.seen(1)) {
    auto fit = tokens_per_byte_.solve();
    load.prompt_tokens_base = fit[0];
    load.prompt_tokens_per_byte = fit[1];
  }
  return load;
}

backend::BackendStatus LocalLoad::status() const {
  auto published = load();
  std::lock_guard lock(mutex_);
  backend::BackendStatus status;
  status.name = "local";
  status.kind = "local";
  status.models = {model_id_};
  status.state = "ready";
  status.in_flight = static_cast<int64_t>(stats_.running + stats_.waiting);
  status.queue = static_cast<int64_t>(stats_.waiting);
  status.running = static_cast<int64_t>(stats_.running);
  status.kv_used = static_cast<int64_t>(stats_.kv_blocks_used);
  status.kv_capacity = static_cast<int64_t>(stats_.kv_blocks_total);
  double decode = published.decode_tokens_per_s();
  if (decode > 0) status.tokens_per_second = decode;
  return status;
}

}  // namespace tandem::api
