#include "actors/serving/scheduler.h"

#include <optional>

#include <algorithm>
#include <thread>

namespace tandem::actors {

namespace {

SubmitStatus submit_status_of(engine::AddStatus status) {
  switch (status) {
    case engine::AddStatus::too_long: return SubmitStatus::too_long;
    case engine::AddStatus::invalid: return SubmitStatus::invalid;
    default: return SubmitStatus::invalid;
  }
}

}  // namespace

Scheduler::Scheduler(engine::Model& model, const engine::Tokenizer* tokenizer, SchedulerOptions options,
                     SchedulerObserver observer, std::shared_ptr<void> keepalive)
    : keepalive_(std::move(keepalive)),
      options_(std::move(options)),
      observer_(std::move(observer)),
      engine_(model, tokenizer, options_.engine),
      context_size_(engine_.context_size()) {
  options_.max_running = std::max<size_t>(1, options_.max_running);
  // Room for every decode plus a prefill slice of 2+ rows (the engine never leaves a prompt a
  // lone row, engine.h), so a new prompt always starts within a step.
  options_.step_token_budget = std::max<size_t>(options_.step_token_budget, options_.max_running + 2);
  stats_.kv_blocks_total = engine_.stats().kv_blocks_total;
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { stop(); }

namespace {

class StreamTarget final : public GenerationSink::Target {
 public:
  explicit StreamTarget(EventSender<GenerationEvent> sender) : sender_(std::move(sender)) {}
  bool try_push(GenerationEvent&& event) override { return sender_.try_push(std::move(event)); }
  void close() override { sender_.close(); }
  void close_with_error(std::exception_ptr error) override { sender_.close_with_error(std::move(error)); }
  void on_cancel(std::function<void(BridgeErrc)> callback) override { sender_.on_cancel(std::move(callback)); }
  bool accepting() const override { return sender_.accepting(); }

 private:
  EventSender<GenerationEvent> sender_;
};

}  // namespace

GenerationSink::GenerationSink(EventSender<GenerationEvent> sender)
    : target_(sender ? std::make_shared<StreamTarget>(std::move(sender)) : nullptr) {}

namespace {

// Requests that can never fit are refused before they queue, so the client gets its 400 now.
std::optional<SubmitResult> refusal_of(const GenerationRequest& request, uint32_t context_size) {
  const size_t needed = request.prompt.size() + request.max_tokens;
  if (request.prompt.empty()) return SubmitResult{SubmitStatus::invalid, "the prompt is empty"};
  if (request.max_tokens == 0 && !request.score_prompt) {
    return SubmitResult{SubmitStatus::invalid, "max_tokens must be at least 1"};
  }
  if (needed > context_size) {
    return SubmitResult{SubmitStatus::too_long,
                        "prompt (" + std::to_string(request.prompt.size()) + " tokens) + max_tokens (" +
                            std::to_string(request.max_tokens) + ") exceeds the context size (" +
                            std::to_string(context_size) + " tokens)"};
  }
  return std::nullopt;
}

}  // namespace

SubmitResult Scheduler::submit(GenerationRequest request, GenerationSink sink) {
  std::vector<std::pair<GenerationRequest, GenerationSink>> one;
  one.emplace_back(std::move(request), std::move(sink));
  return submit_all(std::move(one));
}

SubmitResult Scheduler::submit_all(std::vector<std::pair<GenerationRequest, GenerationSink>> requests) {
  for (const auto& [request, sink] : requests) {
    if (auto refused = refusal_of(request, context_size_)) return *refused;
  }
  std::vector<uint64_t> tickets;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopping) return {SubmitStatus::shutting_down, "the model is shutting down"};
    if (queued_ + requests.size() > options_.max_waiting) {
      return {SubmitStatus::overloaded, "the model's queue is full (" + std::to_string(queued_) +
                                            " requests waiting); retry later"};
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto& [request, sink] : requests) {
      tickets.push_back(next_ticket_++);
      ++queued_;
      inbox_.push_back(Pending{tickets.back(), std::move(request), sink, now, false, now});
    }
  }
  // A client that disconnects (or falls behind) cancels its ticket; the step thread frees the
  // sequence at the start of its next iteration. The callback may run on any thread.
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].second.on_cancel([weak = std::weak_ptr<Shared>(shared_), ticket = tickets[i]](BridgeErrc) {
      auto shared = weak.lock();
      if (!shared) return;
      {
        std::lock_guard lock(shared->mutex);
        if (shared->stopping) return;
        shared->cancel_inbox.push_back(ticket);
      }
      shared->wake.notify_one();
    });
  }
  shared_->wake.notify_one();
  return {};
}

void Scheduler::stop() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
  }
  shared_->wake.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(shared_->mutex);
  return stats_;
}

void Scheduler::run() {
  std::vector<uint64_t> cancels;
  for (;;) {
    {
      std::unique_lock lock(shared_->mutex);
      const bool busy = engine_.has_work();
      auto& sh = *shared_;
      auto has_news = [&] { return sh.stopping || !inbox_.empty() || !sh.cancel_inbox.empty(); };
      if (!busy && !has_news()) {
        // Idle, or only queued requests that can't be admitted yet: sleep until something
        // happens, waking for the queued requests' heartbeats.
        if (waiting_.empty()) {
          sh.wake.wait(lock, has_news);
        } else {
          sh.wake.wait_for(lock, options_.waiting_heartbeat, has_news);
        }
      }
      if (sh.stopping) break;
    }
    take_inbox(cancels);
    apply_cancels(cancels);
    admit();
    send_heartbeats();
    if (engine_.has_work()) step_once();
    publish_stats();
  }
  fail_all("the server is shutting down");
  publish_stats();
}

void Scheduler::take_inbox(std::vector<uint64_t>& cancels) {
  std::lock_guard lock(shared_->mutex);
  for (auto& pending : inbox_) waiting_.push_back(std::move(pending));
  inbox_.clear();
  cancels.clear();
  cancels.swap(shared_->cancel_inbox);
}

void Scheduler::apply_cancels(const std::vector<uint64_t>& cancels) {
  for (uint64_t ticket : cancels) {
    if (auto it = sequence_of_ticket_.find(ticket); it != sequence_of_ticket_.end()) {
      engine_.cancel(it->second);
      running_.erase(it->second);
      sequence_of_ticket_.erase(it);
      std::lock_guard lock(shared_->mutex);
      ++stats_.cancelled;
      continue;
    }
    auto waiting = std::find_if(waiting_.begin(), waiting_.end(),
                                [&](const Pending& p) { return p.ticket == ticket; });
    if (waiting != waiting_.end()) {
      waiting_.erase(waiting);
      std::lock_guard lock(shared_->mutex);
      --queued_;
      ++stats_.cancelled;
    }
  }
}

void Scheduler::admit() {
  while (!waiting_.empty() && running_.size() < options_.max_running) {
    Pending& next = waiting_.front();
    if (!next.sink.accepting()) {  // gone while queued; its cancel may still be in flight
      waiting_.pop_front();
      std::lock_guard lock(shared_->mutex);
      --queued_;
      continue;
    }
    if (next.request.score_prompt && !next.scored) {
      auto outcome = score_prompt(next);
      if (outcome == ScoreOutcome::wait) break;
      if (outcome == ScoreOutcome::dropped) {
        waiting_.pop_front();
        std::lock_guard lock(shared_->mutex);
        --queued_;
        continue;
      }
    }
    if (next.request.max_tokens == 0) {  // scoring only: done without joining the batch
      GenerationEvent event;
      event.output.finished = true;
      event.output.reason = engine::FinishReason::length;
      event.output.prompt_tokens = static_cast<uint32_t>(next.request.prompt.size());
      if (next.sink.try_push(std::move(event))) next.sink.close();
      const uint64_t prompt_tokens = next.request.prompt.size();
      waiting_.pop_front();
      {
        std::lock_guard lock(shared_->mutex);
        --queued_;
        stats_.prompt_tokens += prompt_tokens;
      }
      if (observer_.on_tokens) observer_.on_tokens(prompt_tokens, 0);
      continue;
    }
    // A choice of an n > 1 request waits (first in line) until the first choice's prompt is in
    // the prefix cache, then shares its blocks instead of computing the prompt again.
    if (next.request.waits_for_shared_prompt && next.request.shared_prompt && !next.request.shared_prompt->load()) break;
    engine::SequenceRequest sequence;
    sequence.prompt = next.request.prompt;  // a copy: a full pool leaves the request queued
    sequence.sampling = next.request.sampling;
    sequence.max_tokens = next.request.max_tokens;
    sequence.stop_strings = next.request.stop_strings;
    sequence.ignore_eos = next.request.ignore_eos;
    auto added = engine_.add(std::move(sequence));
    // A full pool: the request waits, first in line, until running sequences free blocks. With
    // nothing running, nothing will free blocks: the request can never fit this pool.
    if (added.status == engine::AddStatus::pool_full && !running_.empty()) break;
    if (added.status == engine::AddStatus::pool_full) {
      added.status = engine::AddStatus::too_long;
      added.error = "prompt + max_tokens needs more KV cache than the whole pool holds";
    }
    Pending admitted = std::move(next);
    waiting_.pop_front();
    {
      std::lock_guard lock(shared_->mutex);
      --queued_;
    }
    if (!added.ok()) {
      admitted.sink.close_with_error(
          std::make_exception_ptr(SchedulerError(submit_status_of(added.status), added.error)));
      continue;
    }
    if (observer_.on_queue_wait) {
      observer_.on_queue_wait(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - admitted.submitted_at).count());
    }
    running_.emplace(added.id,
                     Running{admitted.ticket, admitted.sink,
                             admitted.request.waits_for_shared_prompt ? nullptr : admitted.request.shared_prompt,
                             admitted.submitted_at, std::nullopt, admitted.request.request_bytes,
                             admitted.request.seconds_before_submit, admitted.request.max_tokens, 0});
    sequence_of_ticket_.emplace(admitted.ticket, added.id);
  }
}

Scheduler::ScoreOutcome Scheduler::score_prompt(Pending& pending) {
  const auto& prompt = pending.request.prompt;
  GenerationEvent event;
  event.kind = GenerationEvent::Kind::scored;
  if (prompt.size() >= 2) {  // a single token has nothing before it to be predicted from
    const auto& cache = engine_.cache();
    if (cache.free_blocks() < cache.blocks_for(prompt.size())) {
      // Running sequences will free blocks; with none running the prompt can never fit.
      if (!running_.empty()) return ScoreOutcome::wait;
      pending.sink.close_with_error(std::make_exception_ptr(SchedulerError(
          SubmitStatus::too_long, "the prompt (" + std::to_string(prompt.size()) +
                                      " tokens) needs more KV cache than the whole pool holds")));
      return ScoreOutcome::dropped;
    }
    try {
      event.scored = engine_.score(prompt, pending.request.score_top_n, options_.step_token_budget);
    } catch (const engine::EngineError& e) {
      pending.sink.close_with_error(
          std::make_exception_ptr(SchedulerError(SubmitStatus::invalid, e.what())));
      return ScoreOutcome::dropped;
    }
  }
  pending.scored = true;
  if (!pending.sink.try_push(std::move(event))) return ScoreOutcome::dropped;  // client gone
  return ScoreOutcome::done;
}

void Scheduler::send_heartbeats() {
  const auto now = std::chrono::steady_clock::now();
  size_t position = 0;
  for (auto& pending : waiting_) {
    if (now - pending.last_heartbeat >= options_.waiting_heartbeat) {
      pending.last_heartbeat = now;
      GenerationEvent event;
      event.kind = GenerationEvent::Kind::waiting;
      event.queue_position = position;
      pending.sink.try_push(std::move(event));  // a failed push arrives as a cancel
    }
    ++position;
  }
}

void Scheduler::observe_tokens(Running& running, size_t tokens, std::chrono::steady_clock::time_point now) {
  if (tokens == 0) return;
  running.generated += static_cast<uint32_t>(tokens);
  auto seconds = [](auto duration) { return std::chrono::duration<double>(duration).count(); };
  if (!running.last_token_at) {
    if (observer_.on_first_token) observer_.on_first_token(seconds(now - running.submitted_at));
    --tokens;
  } else if (observer_.on_inter_token) {
    // Tokens that arrive together share the gap since the previous one.
    const double gap = seconds(now - *running.last_token_at) / static_cast<double>(tokens);
    for (size_t i = 0; i < tokens; ++i) observer_.on_inter_token(gap);
  }
  running.last_token_at = now;
}

void Scheduler::step_once() {
  const auto step_started = std::chrono::steady_clock::now();
  auto events = engine_.step(options_.step_token_budget, options_.step_policy);
  const auto step_ended = std::chrono::steady_clock::now();
  if (options_.step_delay.count() > 0) std::this_thread::sleep_for(options_.step_delay);
  const auto engine_stats = engine_.stats();
  if (observer_.on_step_timing && engine_stats.last_step_tokens > 0) {
    observer_.on_step_timing(StepTiming{std::chrono::duration<double>(step_ended - step_started).count(),
                                        engine_stats.last_step_prefill_tokens,
                                        engine_stats.last_step_decode_tokens});
  }
  uint64_t prompt_tokens = 0;
  uint64_t generated = 0;
  uint64_t cancelled = 0;
  // Finishing events are delivered after the stats are published, so a client that has its
  // answer sees this request gone from the running count and the KV pool.
  std::vector<std::pair<GenerationSink, GenerationEvent>> finishing;
  std::vector<FinishedRequest> finished_requests;
  for (auto& output : events) {
    auto it = running_.find(output.id);
    if (it == running_.end()) continue;
    if (it->second.shares_prompt) {  // its prompt is computed and cached: the other choices may join
      it->second.shares_prompt->store(true);
      it->second.shares_prompt.reset();
    }
    generated += output.tokens.size();
    observe_tokens(it->second, output.tokens.size(), step_ended);
    GenerationEvent event;
    event.kind = GenerationEvent::Kind::output;
    if (output.finished) {
      prompt_tokens += output.prompt_tokens;
      finished_requests.push_back(FinishedRequest{output.prompt_tokens, output.cached_tokens,
                                                  output.completion_tokens, it->second.request_bytes,
                                                  it->second.seconds_before_submit});
      event.output = std::move(output);
      finishing.emplace_back(std::move(it->second.sink), std::move(event));
    } else {
      event.output = std::move(output);
      if (it->second.sink.try_push(std::move(event))) {
        auto forced = it->second.sink.take_forced_tokens();
        if (!forced.empty()) engine_.force(it->first, forced);
        continue;
      }
      engine_.cancel(it->first);  // the client went away or fell behind
      ++cancelled;
    }
    sequence_of_ticket_.erase(it->second.ticket);
    running_.erase(it);
  }
  {
    std::lock_guard lock(shared_->mutex);
    ++stats_.steps;
    stats_.max_batch_sequences = std::max(stats_.max_batch_sequences, engine_stats.last_step_sequences);
    stats_.prompt_tokens += prompt_tokens;
    stats_.generated_tokens += generated;
    stats_.cancelled += cancelled;
  }
  if (observer_.on_step) observer_.on_step(engine_stats.last_step_sequences, engine_stats.last_step_tokens);
  if (observer_.on_tokens && (prompt_tokens || generated)) observer_.on_tokens(prompt_tokens, generated);
  if (observer_.on_finished) {
    for (const auto& finished : finished_requests) observer_.on_finished(finished);
  }
  if (finishing.empty()) return;
  publish_stats();
  for (auto& [sink, event] : finishing) {
    if (sink.try_push(std::move(event))) sink.close();
  }
}

void Scheduler::fail_all(const std::string& why) {
  auto error = std::make_exception_ptr(SchedulerError(SubmitStatus::shutting_down, why));
  for (auto& [id, running] : running_) {
    engine_.cancel(id);
    running.sink.close_with_error(error);
  }
  running_.clear();
  sequence_of_ticket_.clear();
  std::deque<Pending> queued;
  {
    std::lock_guard lock(shared_->mutex);
    queued.swap(inbox_);
    queued_ = 0;
  }
  for (auto& pending : waiting_) pending.sink.close_with_error(error);
  for (auto& pending : queued) pending.sink.close_with_error(error);
  waiting_.clear();
}

void Scheduler::publish_stats() {
  const auto engine_stats = engine_.stats();
  SchedulerStats snapshot;
  {
    std::lock_guard lock(shared_->mutex);
    stats_.running = running_.size();
    stats_.waiting = queued_;
    stats_.kv_blocks_used = engine_stats.kv_blocks_used;
    stats_.kv_blocks_total = engine_stats.kv_blocks_total;
    stats_.kv_blocks_cached = engine_stats.kv_blocks_cached;
    stats_.prefix_hit_tokens = engine_stats.prefix_hit_tokens;
    stats_.prefix_miss_tokens = engine_stats.prefix_miss_tokens;
    stats_.kv_evictions = engine_stats.kv_evictions;
    stats_.preemptions = engine_stats.preemptions;
    stats_.preempted = engine_stats.preempted;
    stats_.running_progress.clear();
    for (const auto& [id, running] : running_) stats_.running_progress.push_back({running.generated, running.max_tokens});
    snapshot = stats_;
  }
  if (observer_.on_stats) observer_.on_stats(snapshot);
}

}  // namespace tandem::actors
