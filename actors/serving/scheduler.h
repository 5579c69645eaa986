// The continuous-batching scheduler of one local model: owns the model's Engine and runs its
// step loop on a thread of its own (a step blocks for milliseconds, so it must never run on an
// I/O thread or a shared CAF worker). Requests are submitted from any thread; they wait in a
// bounded queue, join the running batch between steps, and stream their output back through an
// EventSender (actors/event_stream.h). A consumer that goes away, or falls too far behind,
// cancels its request; the sequence leaves the batch and its KV blocks return to the pool at the
// start of the next step.
//
// The local backend (local_backend.h) drives it from its actor; this part is plain C++ so it can be tested
// without an actor system.
#pragma once

#include "actors/event_stream.h"
#include "engine/engine.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace tandem::actors {

struct GenerationRequest {
  std::vector<engine::TokenId> prompt;
  engine::SamplingParams sampling;
  uint32_t max_tokens = 256;
  std::vector<std::string> stop_strings;
  bool ignore_eos = false;
  std::string request_id;  // for logs
  // The client's request body size, reported back when the request finishes so the load model
  // learns how many prompt tokens a body of that size renders to (0: unknown).
  size_t request_bytes = 0;
  // Seconds from the HTTP request being read to this submit (routing, template, tokenizer),
  // reported back likewise: the load model adds it to its predictions (0: unknown).
  double seconds_before_submit = 0;
  // Teacher-forced logprobs of the prompt itself (legacy completions' echo + logprobs): computed
  // on the step thread before generation starts and delivered as one `scored` event. With
  // scoring, max_tokens may be 0 (score only).
  bool score_prompt = false;
  uint32_t score_top_n = 0;
  // Choices of one request (OpenAI `n` > 1) share its prompt: the first choice sets
  // `shared_prompt` once its prompt is computed (its first token is out); the others, submitted
  // with `waits_for_shared_prompt`, stay queued until then and join with the prompt's full KV
  // blocks taken from the prefix cache (ref-counted, not copied), computing only the rest.
  std::shared_ptr<std::atomic<bool>> shared_prompt;
  bool waits_for_shared_prompt = false;
};

// What flows back to the HTTP session, in order: zero or more `waiting` heartbeats while the
// request is queued (so a session can ping its client and notice a disconnect), then `output`
// events (preceded by one `scored` event when the request asked for prompt scoring); the stream
// is closed after the event with `finished` set, or closed with a SchedulerError.
struct GenerationEvent {
  enum class Kind { waiting, scored, output };
  Kind kind = Kind::output;
  size_t queue_position = 0;     // for `waiting`: requests ahead of this one
  engine::SequenceEvent output;  // for `output`
  // For `scored`: row j is the prediction of prompt token j+1 (prompt size - 1 rows).
  std::vector<engine::Engine::ScoredPosition> scored;
};

enum class SubmitStatus {
  accepted,
  overloaded,     // the waiting queue is full: OpenAI 429 / Anthropic 529, or fall back
  too_long,       // prompt + max_tokens can never fit the context: 400 naming the limit
  invalid,        // e.g. empty prompt or a token outside the vocabulary
  shutting_down,  // the scheduler is stopping
};

struct SubmitResult {
  SubmitStatus status = SubmitStatus::accepted;
  std::string message;
  bool accepted() const { return status == SubmitStatus::accepted; }
};

// Why a stream ended early (delivered through EventSender::close_with_error).
class SchedulerError : public std::runtime_error {
 public:
  SchedulerError(SubmitStatus status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  SubmitStatus status() const { return status_; }

 private:
  SubmitStatus status_;
};

// Where one request's events go: an in-process stream (EventSender, implicitly), or a Target
// that converts them on the way (the local backend turns them into the protocol-neutral
// StreamEvents of actors/backend). Same contract as EventSender: try_push() false means the
// consumer is gone; a sink dropped without close() ends its stream as producer_gone.
class GenerationSink {
 public:
  struct Target {
    virtual ~Target() = default;
    virtual bool try_push(GenerationEvent&& event) = 0;
    virtual void close() = 0;
    virtual void close_with_error(std::exception_ptr error) = 0;
    virtual void on_cancel(std::function<void(BridgeErrc)> callback) = 0;
    virtual bool accepting() const = 0;
    // Asked on the step thread after each delivered output event: tokens the sequence must
    // generate next instead of sampling (Engine::force), e.g. the end-of-reasoning marker once a
    // thinking budget is spent. Empty: keep sampling.
    virtual std::vector<engine::TokenId> take_forced_tokens() { return {}; }
  };

  GenerationSink() = default;
  GenerationSink(EventSender<GenerationEvent> sender);  // NOLINT: a plain stream is a sink
  explicit GenerationSink(std::shared_ptr<Target> target) : target_(std::move(target)) {}

  bool try_push(GenerationEvent event) const { return target_ && target_->try_push(std::move(event)); }
  void close() const {
    if (target_) target_->close();
  }
  void close_with_error(std::exception_ptr error) const {
    if (target_) target_->close_with_error(std::move(error));
  }
  void on_cancel(std::function<void(BridgeErrc)> callback) const {
    if (target_) target_->on_cancel(std::move(callback));
  }
  bool accepting() const { return target_ && target_->accepting(); }
  std::vector<engine::TokenId> take_forced_tokens() const {
    return target_ ? target_->take_forced_tokens() : std::vector<engine::TokenId>{};
  }

 private:
  std::shared_ptr<Target> target_;
};

struct SchedulerOptions {
  size_t max_running = 4;        // --parallel: sequences in the batch at once
  size_t max_waiting = 64;       // --max-queue: queued requests before "overloaded"
  size_t step_token_budget = 256;  // --batch-tokens: rows per forward pass (prefill chunks + decodes)
  engine::StepPolicy step_policy;  // how a step shares that budget (--prefill-order, ...)
  size_t stream_capacity = 512;  // events a client may lag behind before it loses its request
  std::chrono::milliseconds waiting_heartbeat{2000};
  // Test-only: a pause after every engine step, so a generation provably outlasts a test's
  // checks however fast the CPU (0 in production).
  std::chrono::milliseconds step_delay{0};
  engine::EngineConfig engine;
};

struct SchedulerStats {
  size_t running = 0;
  size_t waiting = 0;
  uint32_t kv_blocks_used = 0;
  uint32_t kv_blocks_total = 0;
  uint64_t steps = 0;
  size_t max_batch_sequences = 0;  // largest number of sequences seen in one step
  uint64_t prompt_tokens = 0;      // totals since start
  uint64_t generated_tokens = 0;
  uint64_t cancelled = 0;
  // KV reuse (engine.h): the prefix cache's hits and misses in prompt tokens, cached blocks no
  // sequence holds, blocks evicted from the cache, and sequences preempted for lack of blocks.
  uint64_t prefix_hit_tokens = 0;
  uint64_t prefix_miss_tokens = 0;
  uint32_t kv_blocks_cached = 0;
  uint64_t kv_evictions = 0;
  uint64_t preemptions = 0;
  size_t preempted = 0;  // sequences waiting (inside the batch) to be recomputed
  // Each running sequence's progress, so a load model can tell when slots will free up.
  struct Progress {
    uint32_t generated = 0;
    uint32_t max_tokens = 0;
  };
  std::vector<Progress> running_progress;
};

// One engine step, for the metrics layer: its forward-pass time and its rows split into prompt
// rows (prefill chunks, recomputes) and decode rows.
struct StepTiming {
  double seconds = 0;
  size_t prefill_tokens = 0;
  size_t decode_tokens = 0;
};

// One generation that ended (finished, not cancelled), for the load model.
struct FinishedRequest {
  uint64_t prompt_tokens = 0;
  uint64_t cached_tokens = 0;  // of prompt_tokens, served by the prefix cache
  uint64_t generated_tokens = 0;
  size_t request_bytes = 0;    // GenerationRequest::request_bytes
  double seconds_before_submit = 0;  // GenerationRequest::seconds_before_submit
};

// Callbacks the metrics layer hooks into; invoked on the step thread.
struct SchedulerObserver {
  std::function<void(const SchedulerStats&)> on_stats;  // after every loop iteration
  std::function<void(size_t sequences, size_t tokens)> on_step;
  std::function<void(uint64_t prompt_tokens, uint64_t generated_tokens)> on_tokens;
  std::function<void(const StepTiming&)> on_step_timing;
  std::function<void(const FinishedRequest&)> on_finished;  // once per generation that ended
  // Per request, in seconds: submit -> joining the batch; submit -> its first generated token;
  // the gap between consecutive generated tokens (once per token after the first).
  std::function<void(double)> on_queue_wait;
  std::function<void(double)> on_first_token;
  std::function<void(double)> on_inter_token;
};

class Scheduler {
 public:
  // `model` and `tokenizer` must outlive the scheduler; `keepalive` may own them.
  Scheduler(engine::Model& model, const engine::Tokenizer* tokenizer, SchedulerOptions options,
            SchedulerObserver observer = {}, std::shared_ptr<void> keepalive = nullptr);
  ~Scheduler();  // stop()s
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Thread-safe and quick: checks admission, queues the request, returns. On `accepted` the
  // output arrives through `sink`; otherwise `sink` is left untouched.
  SubmitResult submit(GenerationRequest request, GenerationSink sink);
  // Several requests (the choices of one n > 1 request), all queued in order or none.
  SubmitResult submit_all(std::vector<std::pair<GenerationRequest, GenerationSink>> requests);

  // Ends the step thread: running and queued requests get a shutting_down error. Idempotent.
  void stop();

  SchedulerStats stats() const;
  uint32_t context_size() const { return context_size_; }
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Pending {
    uint64_t ticket = 0;
    GenerationRequest request;
    GenerationSink sink;
    std::chrono::steady_clock::time_point last_heartbeat;
    bool scored = false;
    std::chrono::steady_clock::time_point submitted_at;
  };
  struct Running {
    uint64_t ticket = 0;
    GenerationSink sink;
    std::shared_ptr<std::atomic<bool>> shares_prompt;  // set on this sequence's first event
    std::chrono::steady_clock::time_point submitted_at;
    std::optional<std::chrono::steady_clock::time_point> last_token_at;  // none before the first
    size_t request_bytes = 0;
    double seconds_before_submit = 0;
    uint32_t max_tokens = 0;
    uint32_t generated = 0;
  };
  // Time to first token / inter-token gaps for `running`, which got `tokens` new tokens `now`.
  void observe_tokens(Running& running, size_t tokens, std::chrono::steady_clock::time_point now);

  void run();
  void take_inbox(std::vector<uint64_t>& cancels);
  void apply_cancels(const std::vector<uint64_t>& cancels);
  void admit();
  enum class ScoreOutcome { done, wait, dropped };
  ScoreOutcome score_prompt(Pending& pending);
  void send_heartbeats();
  void step_once();
  void fail_all(const std::string& why);
  void publish_stats();

  std::shared_ptr<void> keepalive_;
  SchedulerOptions options_;
  SchedulerObserver observer_;
  engine::Engine engine_;
  uint32_t context_size_ = 0;

  // Shared with submitters and with cancel callbacks, which may outlive the scheduler (a
  // stream's consumer can go away after shutdown), hence the shared ownership.
  struct Shared {
    std::mutex mutex;
    std::condition_variable wake;
    std::vector<uint64_t> cancel_inbox;  // tickets whose consumer went away
    bool stopping = false;
  };
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::deque<Pending> inbox_;  // submitted, not yet seen by the step thread (under shared_->mutex)
  size_t queued_ = 0;          // inbox_ + waiting_, for admission (under shared_->mutex)
  uint64_t next_ticket_ = 1;   // under shared_->mutex
  SchedulerStats stats_;       // under shared_->mutex

  // Step-thread only.
  std::deque<Pending> waiting_;
  std::unordered_map<engine::SequenceId, Running> running_;
  std::unordered_map<uint64_t, engine::SequenceId> sequence_of_ticket_;

  std::thread thread_;
};

}  // namespace tandem::actors
