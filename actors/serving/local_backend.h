// The local backend: one backend_actor (actors/backend/backend.h) per loaded GGUF model. It
// renders and tokenizes the prompt (chat template or legacy completion prompt), submits it to
// the model's continuous-batching Scheduler, and turns the scheduler's events into the protocol-
// neutral StreamEvents — reasoning split from the answer, tool calls parsed out of the model's text, logprobs, echo, usage —
// on a thread of its own (a detached worker actor) and the step thread, never on an HTTP I/O thread.
#pragma once

#include "actors/backend/backend.h"
#include "actors/serving/local_prompt.h"
#include "actors/serving/reasoning.h"
#include "actors/serving/scheduler.h"
#include "engine/constraint.h"
#include "engine/loaded_model.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tandem::local {

struct LocalModel {
  std::string id;                    // the name clients use
  std::vector<std::string> aliases;  // further names that route here
  int64_t created = 0;               // unix seconds (load time)
  uint32_t context_size = 0;         // per sequence
  std::shared_ptr<const engine::LoadedModel> model;
  std::shared_ptr<actors::Scheduler> scheduler;
  // Structured output / forced tool calls: compiled constraints over this model's vocabulary
  // (the vocabulary tables are built once, by spawn_local_backend when left null).
  std::shared_ptr<engine::ConstraintCache> constraints;
  size_t max_schema_bytes = engine::ConstraintOptions{}.max_schema_bytes;  // --max-schema-bytes
};

// The actor stops the scheduler when it exits (pending streams end with `unavailable`). Its
// handlers run on a thread of their own (a detached worker behind the returned front actor).
backend::backend_actor spawn_local_backend(caf::actor_system& system, LocalModel model);

// Submits a prepared generation to `model`'s scheduler, its events going into `sink`: one answer,
// or for an OpenAI chat or legacy completions `n` > 1 that many choices sharing the prompt (seed + i per choice), all
// queued or none. The reply to send back (accepted, or the refusal).
backend::GenerateReply submit_generation(const LocalModel& model, PreparedGeneration prepared, int choices,
                                         backend::EventSink sink);

// What describe answers for `model`.
backend::ModelInfo describe_local_model(const LocalModel& model);

// A scheduler refusal as the error to answer with (the one table maps it per protocol):
// overloaded -> queue_full (retry-after 1), too_long -> context_length_exceeded (param
// max_tokens), invalid -> invalid_request, shutting_down -> unavailable (retry-after 5).
schemas::ApiError submit_refusal(actors::SubmitStatus status, const std::string& message);

// The choices of one n > 1 request (OpenAI chat or legacy completions): they share the client's
// sink. Each choice's events go out as ChoiceEvents with its index; the sink closes after the
// last choice closes, or fails once with the first error (the other choices then stop: their
// consumer is gone).
class ChoiceGroup : public std::enable_shared_from_this<ChoiceGroup> {
 public:
  ChoiceGroup(backend::EventSink sink, int choices, schemas::Endpoint endpoint);

  const backend::EventSink& sink() const { return sink_; }
  const std::string& message_id() const { return message_id_; }
  bool push(int choice, schemas::StreamEvent event);
  void close_choice();
  void fail(schemas::ApiError error);
  bool gone() const;
  // A cancel of the client's request reaches every choice's callback.
  void on_cancel(std::function<void()> callback);

 private:
  const backend::EventSink sink_;
  const std::string message_id_;
  mutable std::mutex mutex_;
  int open_;
  bool ended_ = false;
  bool cancelled_ = false;
  std::vector<std::function<void()>> cancel_callbacks_;
};

// Scheduler events of one generation -> BackendEvents into `sink` (pure except for the sink;
// exposed for tests). start() sends MessageStart (and a plain echo); events the scheduler sends
// earlier are held until then, so the order is always MessageStart first.
class LocalAnswer final : public actors::GenerationSink::Target {
 public:
  LocalAnswer(OutputPlan plan, std::shared_ptr<const engine::LoadedModel> model, backend::EventSink sink);
  // Choice `choice` of a group (n > 1).
  LocalAnswer(OutputPlan plan, std::shared_ptr<const engine::LoadedModel> model, std::shared_ptr<ChoiceGroup> group,
              int choice);

  void start();
  bool try_push(actors::GenerationEvent&& event) override;
  void close() override;
  void close_with_error(std::exception_ptr error) override;
  void on_cancel(std::function<void(actors::BridgeErrc)> callback) override;
  bool accepting() const override;
  // The end-of-reasoning marker once the thinking budget is spent (see ReasoningBudget).
  std::vector<engine::TokenId> take_forced_tokens() override;

  // The echoed prompt; with scores, each token's logprob (the first token has none: null).
  schemas::TextDelta echo_delta(const std::vector<engine::Engine::ScoredPosition>* scored) const;

 private:
  bool deliver_locked(actors::GenerationEvent& event);
  void convert(actors::GenerationEvent& event, std::vector<schemas::StreamEvent>& out);
  void convert_output(actors::GenerationEvent& event, std::vector<schemas::StreamEvent>& out);
  bool push_all(std::vector<schemas::StreamEvent>& events);
  bool push_one(schemas::StreamEvent event);
  void end_with(std::optional<std::exception_ptr> failure);  // sink close / fail (or the group's)

  const OutputPlan plan_;
  const std::shared_ptr<const engine::LoadedModel> model_;
  const backend::EventSink sink_;
  const std::shared_ptr<ChoiceGroup> group_;  // null for a single answer
  const int choice_ = 0;
  std::optional<ReasoningRewriter> reasoning_;  // before tool calls: reasoning is never a call
  std::optional<ReasoningBudget> budget_;       // reasoning templates: counts (and bounds) the block
  std::optional<ToolCallRewriter> tool_calls_;

  mutable std::mutex mutex_;  // the CAF worker (start) and the step thread (the rest)
  bool started_ = false;
  bool closed_ = false;
  std::vector<actors::GenerationEvent> early_;  // arrived before start()
  std::optional<std::exception_ptr> early_end_;   // closed before start(): null = clean close
  std::vector<engine::TokenId> forced_;           // for take_forced_tokens
};

}  // namespace tandem::local
