#include "actors/serving/local_backend.h"

#include "actors/actor_metrics.h"

#include <algorithm>
#include <atomic>

#include <iterator>
#include <limits>
#include <utility>

namespace tandem::local {

namespace {

using actors::GenerationEvent;
using backend::BackendEvent;

schemas::FinishReason finish_reason(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::length: return schemas::FinishReason::length;
    case engine::FinishReason::stop_string: return schemas::FinishReason::stop_sequence;
    default: return schemas::FinishReason::stop;
  }
}

std::string message_id_prefix(schemas::Endpoint endpoint) {
  switch (endpoint) {
    case schemas::Endpoint::messages: return "msg_";
    case schemas::Endpoint::completions: return "cmpl-";
    case schemas::Endpoint::responses: return "resp_";
    default: return "chatcmpl-";
  }
}

// Why a stream ended early, as the in-band error.
schemas::ApiError stream_failure(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const actors::SchedulerError& e) {
    return submit_refusal(e.status(), e.what());
  } catch (const std::exception& e) {
    return schemas::make_error(schemas::ErrorKind::api_error, std::string("generation failed: ") + e.what());
  } catch (...) {
    return schemas::make_error(schemas::ErrorKind::api_error, "generation failed");
  }
}

}  // namespace

schemas::ApiError submit_refusal(actors::SubmitStatus status, const std::string& message) {
  using schemas::ErrorKind;
  schemas::ApiError error;
  switch (status) {
    case actors::SubmitStatus::overloaded:
      error = schemas::make_error(ErrorKind::queue_full, message);
      error.retry_after = 1;
      break;
    case actors::SubmitStatus::too_long:
      error = schemas::make_error(ErrorKind::context_length_exceeded, message, "max_tokens");
      break;
    case actors::SubmitStatus::invalid:
      error = schemas::make_error(ErrorKind::invalid_request, message);
      break;
    case actors::SubmitStatus::shutting_down:
      error = schemas::make_error(ErrorKind::unavailable, message);
      error.retry_after = 5;
      break;
    case actors::SubmitStatus::accepted:
      error = schemas::make_error(ErrorKind::api_error, "internal error: refusal of an accepted request");
      break;
  }
  return error;
}

// ---------------------------------------------------------------- ChoiceGroup

ChoiceGroup::ChoiceGroup(backend::EventSink sink, int choices, schemas::Endpoint endpoint)
    : sink_(std::move(sink)), message_id_(schemas::generate_id(message_id_prefix(endpoint))), open_(choices) {}

bool ChoiceGroup::push(int choice, schemas::StreamEvent event) {
  {
    std::lock_guard lock(mutex_);
    if (ended_) return false;
  }
  return sink_.push(BackendEvent(backend::ChoiceEvent{choice, std::move(event)}));
}

void ChoiceGroup::close_choice() {
  {
    std::lock_guard lock(mutex_);
    if (ended_ || --open_ > 0) return;
    ended_ = true;
  }
  sink_.close();
}

void ChoiceGroup::fail(schemas::ApiError error) {
  {
    std::lock_guard lock(mutex_);
    if (ended_) return;
    ended_ = true;
  }
  sink_.fail(std::move(error));
}

bool ChoiceGroup::gone() const {
  {
    std::lock_guard lock(mutex_);
    if (ended_) return true;
  }
  return sink_.consumer_gone();
}

void ChoiceGroup::on_cancel(std::function<void()> callback) {
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    if (!cancelled_) {
      first = cancel_callbacks_.empty();
      cancel_callbacks_.push_back(std::move(callback));
      callback = nullptr;
    }
  }
  if (callback) {  // already cancelled
    callback();
    return;
  }
  if (!first) return;
  // The sink runs one callback: it fans out to every choice's (registered before or after).
  sink_.on_cancel([weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(self->mutex_);
      self->cancelled_ = true;
      callbacks.swap(self->cancel_callbacks_);
    }
    for (auto& run : callbacks) run();
  });
}

// ---------------------------------------------------------------- LocalAnswer

LocalAnswer::LocalAnswer(OutputPlan plan, std::shared_ptr<const engine::LoadedModel> model, backend::EventSink sink)
    : plan_(std::move(plan)), model_(std::move(model)), sink_(std::move(sink)) {
  if (plan_.reasoning) {
    reasoning_.emplace(plan_.opens_reasoning);
    budget_.emplace(plan_.opens_reasoning, plan_.reasoning_budget, plan_.reasoning_end_marker);
  }
  if (plan_.tool_calls != ToolCallFormat::none) tool_calls_.emplace(plan_.tool_calls, plan_.protocol);
}

LocalAnswer::LocalAnswer(OutputPlan plan, std::shared_ptr<const engine::LoadedModel> model,
                         std::shared_ptr<ChoiceGroup> group, int choice)
    : plan_(std::move(plan)), model_(std::move(model)), sink_(group->sink()), group_(std::move(group)), choice_(choice) {
  if (plan_.reasoning) {
    reasoning_.emplace(plan_.opens_reasoning);
    budget_.emplace(plan_.opens_reasoning, plan_.reasoning_budget, plan_.reasoning_end_marker);
  }
  if (plan_.tool_calls != ToolCallFormat::none) tool_calls_.emplace(plan_.tool_calls, plan_.protocol);
}

void LocalAnswer::start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  started_ = true;
  schemas::MessageStart start;
  start.id = group_ ? group_->message_id() : schemas::generate_id(message_id_prefix(plan_.endpoint));
  start.model = plan_.model_id;
  start.created = schemas::unix_time_now();
  start.usage.input_tokens = plan_.prompt_tokens;
  std::vector<schemas::StreamEvent> events;
  events.push_back(std::move(start));
  if (plan_.echo && !plan_.score_prompt) events.push_back(echo_delta(nullptr));
  bool alive = push_all(events);
  for (auto& event : early_) {
    if (!alive) break;
    alive = deliver_locked(event);
  }
  early_.clear();
  if (early_end_) {
    closed_ = true;
    end_with(*early_end_ ? std::optional<std::exception_ptr>(*early_end_) : std::nullopt);
  }
}

void LocalAnswer::end_with(std::optional<std::exception_ptr> failure) {
  if (group_) {
    if (failure) {
      group_->fail(stream_failure(*failure));
    } else {
      group_->close_choice();
    }
    return;
  }
  if (failure) {
    sink_.fail(stream_failure(*failure));
  } else {
    sink_.close();
  }
}

bool LocalAnswer::try_push(GenerationEvent&& event) {
  std::lock_guard lock(mutex_);
  if (closed_ || early_end_) return false;
  // Counted as generated (the budget acts on the next step), whether delivered now or at start().
  if (budget_ && event.kind == GenerationEvent::Kind::output) {
    for (const auto& token : event.output.tokens) {
      auto forced = budget_->add(token.text);
      if (!forced.empty()) forced_ = std::move(forced);
    }
  }
  if (!started_) {
    early_.push_back(std::move(event));
    return group_ ? !group_->gone() : !sink_.consumer_gone();
  }
  return deliver_locked(event);
}

void LocalAnswer::close() {
  std::lock_guard lock(mutex_);
  if (closed_ || early_end_) return;
  if (!started_) {
    early_end_ = std::exception_ptr();
    return;
  }
  closed_ = true;
  end_with(std::nullopt);
}

void LocalAnswer::close_with_error(std::exception_ptr error) {
  std::lock_guard lock(mutex_);
  if (closed_ || early_end_) return;
  if (!started_) {
    early_end_ = std::move(error);
    return;
  }
  closed_ = true;
  end_with(error);
}

void LocalAnswer::on_cancel(std::function<void(actors::BridgeErrc)> callback) {
  auto run = [callback = std::move(callback)] { callback(actors::BridgeErrc::cancelled); };
  if (group_) {
    group_->on_cancel(std::move(run));
  } else {
    sink_.on_cancel(std::move(run));
  }
}

std::vector<engine::TokenId> LocalAnswer::take_forced_tokens() {
  std::lock_guard lock(mutex_);
  return std::exchange(forced_, {});
}

bool LocalAnswer::accepting() const {
  std::lock_guard lock(mutex_);
  return !closed_ && !early_end_ && !(group_ ? group_->gone() : sink_.consumer_gone());
}

bool LocalAnswer::deliver_locked(GenerationEvent& event) {
  if (event.kind == GenerationEvent::Kind::waiting) {
    if (group_ && choice_ > 0) return !group_->gone();  // the first choice keeps the client posted
    return sink_.push(BackendEvent(backend::QueueWaiting{static_cast<int64_t>(event.queue_position)}));
  }
  std::vector<schemas::StreamEvent> events;
  convert(event, events);
  return push_all(events);
}

bool LocalAnswer::push_all(std::vector<schemas::StreamEvent>& events) {
  for (auto& event : events) {
    if (!push_one(std::move(event))) return false;
  }
  return true;
}

bool LocalAnswer::push_one(schemas::StreamEvent event) {
  return group_ ? group_->push(choice_, std::move(event)) : sink_.push(std::move(event));
}

void LocalAnswer::convert(GenerationEvent& event, std::vector<schemas::StreamEvent>& out) {
  const size_t first = out.size();
  convert_output(event, out);
  // Each rewriter takes the events the previous stage produced for this engine event.
  auto rewrite = [&](auto& rewriter) {
    if (!rewriter || out.size() == first) return;
    std::vector<schemas::StreamEvent> produced(std::make_move_iterator(out.begin() + first),
                                               std::make_move_iterator(out.end()));
    out.resize(first);
    for (auto& e : produced) rewriter->add(std::move(e), out);
  };
  rewrite(reasoning_);
  rewrite(tool_calls_);
}

void LocalAnswer::convert_output(GenerationEvent& event, std::vector<schemas::StreamEvent>& out) {
  if (event.kind == GenerationEvent::Kind::scored) {
    out.push_back(echo_delta(&event.scored));
    return;
  }
  if (event.kind != GenerationEvent::Kind::output) return;
  auto& output = event.output;
  schemas::TextDelta delta;
  delta.text = std::move(output.text);
  if (plan_.logprobs) {
    for (size_t i = 0; i < output.tokens.size(); ++i) {
      const auto& token = output.tokens[i];
      schemas::TokenLogprob entry;
      // The end-of-generation token adds no text: its entry must not either, so the entries
      // still spell the text.
      const bool ends =
          output.finished && output.reason == engine::FinishReason::eos && i + 1 == output.tokens.size();
      entry.token = ends ? std::string() : token.text;
      entry.logprob = token.logprob;
      for (const auto& alternative : token.top) {
        entry.top.push_back(schemas::TopLogprob{alternative.text, alternative.logprob});
      }
      delta.logprobs.push_back(std::move(entry));
    }
  }
  if (!delta.text.empty() || !delta.logprobs.empty()) out.push_back(std::move(delta));
  if (output.finished) {
    schemas::Finish finish;
    finish.reason = finish_reason(output.reason);
    finish.stop_sequence = output.stop_string;
    // Prompt tokens served from the prefix cache are reported as cache reads, as the clouds do:
    // Anthropic's input_tokens excludes them, OpenAI's prompt_tokens (input + cached) does not.
    const int64_t cached = std::min<int64_t>(output.cached_tokens, plan_.prompt_tokens);
    finish.usage.input_tokens = plan_.prompt_tokens - cached;
    if (cached > 0) finish.usage.cache_read_tokens = cached;
    finish.usage.output_tokens = output.completion_tokens;
    // Chat answers say how many of them were reasoning (0 without a reasoning block), as OpenAI's
    // completion_tokens_details does; legacy completions never split the output.
    if (plan_.endpoint != schemas::Endpoint::completions) {
      finish.usage.reasoning_tokens = budget_ ? budget_->reasoning_tokens() : 0;
    }
    out.push_back(std::move(finish));
  }
}

schemas::TextDelta LocalAnswer::echo_delta(const std::vector<engine::Engine::ScoredPosition>* scored) const {
  schemas::TextDelta delta;
  for (const auto& piece : plan_.prompt_pieces) delta.text += piece;
  if (!plan_.logprobs || scored == nullptr) return delta;
  const auto& tokenizer = model_->tokenizer();
  for (size_t i = 0; i < plan_.prompt_pieces.size(); ++i) {
    schemas::TokenLogprob entry;
    entry.token = plan_.prompt_pieces[i];
    entry.logprob = std::numeric_limits<double>::quiet_NaN();
    if (i > 0 && i - 1 < scored->size()) {
      const auto& row = (*scored)[i - 1];
      entry.logprob = row.actual_logprob;
      for (const auto& alternative : row.top) {
        entry.top.push_back(schemas::TopLogprob{tokenizer.token_to_piece(alternative.id, true), alternative.logprob});
      }
    }
    delta.logprobs.push_back(std::move(entry));
  }
  return delta;
}

// ---------------------------------------------------------------- the actor

backend::GenerateReply submit_generation(const LocalModel& model, PreparedGeneration prepared, int choices,
                                         backend::EventSink sink) {
  if (choices <= 1) {
    auto answer = std::make_shared<LocalAnswer>(std::move(prepared.plan), model.model, std::move(sink));
    auto submitted = model.scheduler->submit(std::move(prepared.request), actors::GenerationSink(answer));
    if (!submitted.accepted()) return backend::GenerateReply::refuse(submit_refusal(submitted.status, submitted.message));
    answer->start();
    return backend::GenerateReply::accept();
  }
  // n choices of one prompt: the first computes it, the others wait for it in the queue and take
  // its KV blocks from the prefix cache. Each choice samples with its own seed (seed + i) so
  // they differ at T > 0 and repeat with the same seed.
  auto group = std::make_shared<ChoiceGroup>(std::move(sink), choices, prepared.plan.endpoint);
  auto shared_prompt = std::make_shared<std::atomic<bool>>(false);
  std::vector<std::shared_ptr<LocalAnswer>> answers;
  std::vector<std::pair<actors::GenerationRequest, actors::GenerationSink>> requests;
  for (int i = 0; i < choices; ++i) {
    actors::GenerationRequest request = prepared.request;
    if (request.sampling.seed) request.sampling.seed = *request.sampling.seed + static_cast<uint64_t>(i);
    request.shared_prompt = shared_prompt;
    request.waits_for_shared_prompt = i > 0;
    answers.push_back(std::make_shared<LocalAnswer>(prepared.plan, model.model, group, i));
    requests.emplace_back(std::move(request), actors::GenerationSink(answers.back()));
  }
  auto submitted = model.scheduler->submit_all(std::move(requests));
  if (!submitted.accepted()) return backend::GenerateReply::refuse(submit_refusal(submitted.status, submitted.message));
  for (auto& answer : answers) answer->start();
  return backend::GenerateReply::accept();
}

backend::ModelInfo describe_local_model(const LocalModel& model) {
  backend::ModelInfo info;
  info.id = model.id;
  info.aliases = model.aliases;
  info.owned_by = "tandem";
  info.display_name = model.model->config().name;
  info.context_window = model.context_size;
  info.created = model.created;
  info.capabilities.chat = true;
  info.capabilities.completions = true;
  info.capabilities.tools = tool_call_format(*model.model) != ToolCallFormat::none;
  info.capabilities.logprobs = true;
  info.capabilities.count_tokens = true;
  return info;
}

backend::backend_actor spawn_local_backend(caf::actor_system& system, LocalModel model) {
  if (!model.constraints) {
    model.constraints = std::make_shared<engine::ConstraintCache>(
        engine::ConstraintVocabulary::build(model.model->tokenizer()), 64, model.max_schema_bytes);
  }
  auto shared = std::make_shared<const LocalModel>(std::move(model));
  // The work — chat templates, tokenizing whole prompts (milliseconds for a long one) — runs on a
  // detached actor, a thread of its own: on a shared I/O thread (--actor-threads 0) it would stall
  // every HTTP session and upstream transfer of that shard. Only the front actor below holds the
  // worker's handle, so the worker goes (and its thread ends) when the front terminates, even if
  // somebody still holds the front's handle: CAF 0.17's system waits at shutdown for every
  // detached actor to be destroyed, not just terminated.
  auto worker = system.spawn<caf::detached>([shared](actors::metered_pointer<backend::backend_actor, actors::NoState> self)
                                                -> backend::backend_actor::behavior_type {
    self->meter("scheduler:" + shared->id);
    self->attach_functor([shared](const caf::error&) { shared->scheduler->stop(); });
    return {
        [shared](backend::generate_atom, backend::BackendRequest& request,
                 backend::EventSink& sink) -> backend::GenerateReply {
          const LocalModel& local = *shared;
          try {
            auto prepared = prepare_generation(*local.model, local.id, local.context_size, request.request,
                                               request.request_id, local.constraints.get());
            if (!prepared) return backend::GenerateReply::refuse(prepared.error());
            prepared->request.request_bytes = request.raw_body.size();
            if (request.received_at != std::chrono::steady_clock::time_point{}) {
              prepared->request.seconds_before_submit =
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - request.received_at).count();
            }
            const bool several = request.request.endpoint == schemas::Endpoint::chat_completions ||
                                 request.request.endpoint == schemas::Endpoint::completions;
            const int choices = several ? std::max(1, static_cast<int>(request.request.sampling.n)) : 1;
            return submit_generation(local, std::move(*prepared), choices, std::move(sink));
          } catch (const std::exception& e) {
            return backend::GenerateReply::refuse(
                schemas::make_error(schemas::ErrorKind::api_error, std::string("generation failed: ") + e.what()));
          }
        },
        [shared](backend::count_atom, backend::BackendRequest& request) -> backend::TokenCount {
          try {
            auto prompt = chat_prompt_tokens(*shared->model, request.request);
            if (!prompt) return backend::TokenCount::cannot(prompt.error());
            return backend::TokenCount::of(static_cast<int64_t>(prompt->size()));
          } catch (const std::exception& e) {
            return backend::TokenCount::cannot(
                schemas::make_error(schemas::ErrorKind::api_error, std::string("counting failed: ") + e.what()));
          }
        },
        [shared](backend::describe_atom) {
          backend::ModelList list;
          list.models.push_back(describe_local_model(*shared));
          return list;
        },
    };
  });
  // The front: forwards to the worker (its reply goes straight to the asker), and takes the
  // worker down with it.
  return system.spawn([worker](backend::backend_actor::pointer self) -> backend::backend_actor::behavior_type {
    self->link_to(worker);
    return {
        [self, worker](backend::generate_atom, backend::BackendRequest& request, backend::EventSink& sink) {
          return self->delegate(worker, backend::generate_atom::value, std::move(request), std::move(sink));
        },
        [self, worker](backend::count_atom, backend::BackendRequest& request) {
          return self->delegate(worker, backend::count_atom::value, std::move(request));
        },
        [self, worker](backend::describe_atom) { return self->delegate(worker, backend::describe_atom::value); },
    };
  });
}

}  // namespace tandem::local
