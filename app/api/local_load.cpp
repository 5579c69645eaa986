#include "app/api/local_load.h"

namespace tandem::api {

LocalLoad::LocalLoad(std::string model_id, const actors::SchedulerOptions& options)
    : model_id_(std::move(model_id)),
      max_running_(options.max_running),
      max_waiting_(options.max_waiting),
      step_token_budget_(options.step_token_budget) {}

actors::SchedulerObserver LocalLoad::observe(actors::SchedulerObserver inner) {
  // Everything the inner observer watches still reaches it; the three below are shared.
  actors::SchedulerObserver out = inner;
  out.on_step = [this, next = inner.on_step](size_t sequences, size_t tokens) {
    on_step(sequences, tokens, std::chrono::steady_clock::now());
    if (next) next(sequences, tokens);
  };
  out.on_stats = [this, next = inner.on_stats](const actors::SchedulerStats& stats) {
    on_stats(stats, std::chrono::steady_clock::now());
    if (next) next(stats);
  };
  out.on_tokens = [this, next = inner.on_tokens](uint64_t prompt_tokens, uint64_t generated) {
    if (prompt_tokens) on_prompts(prompt_tokens, 1);
    if (next) next(prompt_tokens, generated);
  };
  return out;
}

void LocalLoad::on_step(size_t sequences, size_t tokens, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  // The time between two steps of a busy scheduler is one step's cost (an idle one waited).
  if (busy_ && last_step_ != std::chrono::steady_clock::time_point{} && sequences > 0 && tokens > 0) {
    // A step carries one decode row per running sequence and, when it has more rows than
    // sequences, a prompt chunk of the one being prefilled.
    uint64_t decode_rows = tokens > sequences ? sequences - 1 : sequences;
    uint64_t prefill_rows = tokens - decode_rows;
    cost_.observe(prefill_rows, decode_rows, std::chrono::duration<double>(now - last_step_).count());
  }
  last_step_ = now;
}

void LocalLoad::on_stats(const actors::SchedulerStats& stats, std::chrono::steady_clock::time_point) {
  std::lock_guard lock(mutex_);
  stats_ = stats;
  busy_ = stats.running > 0 || stats.waiting > 0;
}

void LocalLoad::on_prompts(uint64_t prompt_tokens, uint64_t requests) {
  std::lock_guard lock(mutex_);
  double mean = static_cast<double>(prompt_tokens) / static_cast<double>(std::max<uint64_t>(1, requests));
  mean_prompt_tokens_ = mean_prompt_tokens_ == 0 ? mean : 0.8 * mean_prompt_tokens_ + 0.2 * mean;
}

routing::SchedulerLoad LocalLoad::load() const {
  std::lock_guard lock(mutex_);
  routing::SchedulerLoad load;
  load.waiting = stats_.waiting;
  load.running = stats_.running;
  load.max_running = max_running_;
  load.max_waiting = max_waiting_;
  load.step_token_budget = step_token_budget_;
  load.mean_prompt_tokens = mean_prompt_tokens_;
  load.prefill_tokens_per_s = cost_.prefill_tokens_per_s();
  load.decode_tokens_per_s = cost_.decode_tokens_per_s();
  return load;
}

backend::BackendStatus LocalLoad::status() const {
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
  double decode = cost_.decode_tokens_per_s();
  if (decode > 0) status.tokens_per_second = decode;
  return status;
}

}  // namespace tandem::api
