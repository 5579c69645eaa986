// Running one generation: submit to the model's scheduler, turn its events into the protocol-
// neutral StreamEvents, and write them as SSE (streaming) or fold them into the complete answer.
#include "app/api/local_generation.h"

#include "engine/loaded_model.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/sse.h"
#include "schemas/stream_writer.h"

#include <boost/json/serialize.hpp>

#include <spdlog/spdlog.h>

#include <cmath>
#include <iterator>
#include <limits>
#include <optional>

namespace tandem::api {

namespace {

using actors::GenerationEvent;

schemas::FinishReason finish_reason(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::length: return schemas::FinishReason::length;
    case engine::FinishReason::stop_string: return schemas::FinishReason::stop_sequence;
    default: return schemas::FinishReason::stop;
  }
}

// Scheduler events -> StreamEvents for one request.
class OutputConverter {
 public:
  OutputConverter(const GenerationPlan& plan, const engine::Tokenizer& tokenizer, schemas::Protocol protocol)
      : plan_(plan), tokenizer_(tokenizer) {
    if (plan.tool_calls != ToolCallFormat::none) tool_calls_.emplace(plan.tool_calls, protocol);
  }

  void convert(GenerationEvent& event, std::vector<schemas::StreamEvent>& out) {
    const size_t first = out.size();
    convert_text(event, out);
    if (!tool_calls_ || out.size() == first) return;
    std::vector<schemas::StreamEvent> produced(std::make_move_iterator(out.begin() + first),
                                               std::make_move_iterator(out.end()));
    out.resize(first);
    for (auto& e : produced) tool_calls_->add(std::move(e), out);
  }

 private:
  void convert_text(GenerationEvent& event, std::vector<schemas::StreamEvent>& out) {
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
        const bool ends = output.finished && output.reason == engine::FinishReason::eos &&
                          i + 1 == output.tokens.size();
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
      finish.usage.input_tokens = static_cast<int64_t>(plan_.request.prompt.size());
      finish.usage.output_tokens = output.completion_tokens;
      out.push_back(std::move(finish));
    }
  }


 public:
  // The echoed prompt; with scores, each token's logprob (the first token has none: null).
  schemas::TextDelta echo_delta(const std::vector<engine::Engine::ScoredPosition>* scored) const {
    schemas::TextDelta delta;
    for (const auto& piece : plan_.prompt_pieces) delta.text += piece;
    if (!plan_.logprobs || scored == nullptr) return delta;
    for (size_t i = 0; i < plan_.prompt_pieces.size(); ++i) {
      schemas::TokenLogprob entry;
      entry.token = plan_.prompt_pieces[i];
      entry.logprob = std::numeric_limits<double>::quiet_NaN();
      if (i > 0 && i - 1 < scored->size()) {
        const auto& row = (*scored)[i - 1];
        entry.logprob = row.actual_logprob;
        for (const auto& alternative : row.top) {
          entry.top.push_back(
              schemas::TopLogprob{tokenizer_.token_to_piece(alternative.id, true), alternative.logprob});
        }
      }
      delta.logprobs.push_back(std::move(entry));
    }
    return delta;
  }

 private:
  const GenerationPlan& plan_;
  const engine::Tokenizer& tokenizer_;
  std::optional<ToolCallRewriter> tool_calls_;
};

struct Refusal {
  schemas::ApiError error;
  int status = 0;  // overrides the error kind's status when set
  http::Headers headers;
};

Refusal refusal(actors::SubmitStatus status, const std::string& message, schemas::Protocol protocol) {
  using schemas::ErrorKind;
  Refusal r;
  switch (status) {
    case actors::SubmitStatus::overloaded:
      // OpenAI clients back off on 429 rate_limit_error; Anthropic's on 529 overloaded_error.
      r.error = schemas::make_error(
          protocol == schemas::Protocol::openai ? ErrorKind::rate_limit : ErrorKind::overloaded, message);
      r.headers.emplace_back("retry-after", "1");
      break;
    case actors::SubmitStatus::too_long:
      r.error = schemas::make_error(ErrorKind::invalid_request, message, "max_tokens");
      if (protocol == schemas::Protocol::openai) r.error.code = "context_length_exceeded";
      break;
    case actors::SubmitStatus::invalid:
      r.error = schemas::make_error(ErrorKind::invalid_request, message);
      break;
    case actors::SubmitStatus::shutting_down:
      r.error = schemas::make_error(ErrorKind::overloaded, message);
      r.status = 503;
      r.headers.emplace_back("retry-after", "5");
      break;
    case actors::SubmitStatus::accepted:
      r.error = schemas::make_error(ErrorKind::api_error, "internal error: refusal of an accepted request");
      break;
  }
  return r;
}

asio::awaitable<void> respond_refusal(http::RequestContext& ctx, schemas::Protocol protocol,
                                      Refusal r) {
  const int status = r.status ? r.status : r.error.http_status(protocol);
  std::string body = schemas::render_error(r.error, protocol);
  co_await ctx.respond(status, std::move(body), std::move(r.headers));
}

// Why a stream ended early, as the error to tell the client.
schemas::ApiError stream_failure(std::exception_ptr failure, schemas::Protocol protocol) {
  try {
    std::rethrow_exception(failure);
  } catch (const actors::SchedulerError& e) {
    return refusal(e.status(), e.what(), protocol).error;
  } catch (const actors::BridgeError& e) {
    if (e.code() == actors::BridgeErrc::overflow) {
      return schemas::make_error(schemas::ErrorKind::api_error,
                                 "the client did not read the stream fast enough; request cancelled");
    }
    return schemas::make_error(schemas::ErrorKind::api_error, std::string("generation failed: ") + e.what());
  } catch (const std::exception& e) {
    return schemas::make_error(schemas::ErrorKind::api_error, std::string("generation failed: ") + e.what());
  }
}

// Re-sends a stream writer's SSE bytes event by event through the HTTP layer's SSE stream.
class SseRelay {
 public:
  SseRelay(http::SseStream& sse, schemas::StreamWriter& writer) : sse_(sse), writer_(writer) {}

  // False once the client is gone.
  asio::awaitable<bool> send(const std::vector<schemas::StreamEvent>& events) {
    for (const auto& event : events) {
      auto parsed = parser_.feed(writer_.write(event));
      for (const auto& frame : parsed) {
        if (!co_await sse_.send(frame.event, frame.data)) co_return false;
      }
    }
    co_return true;
  }

 private:
  http::SseStream& sse_;
  schemas::StreamWriter& writer_;
  schemas::SseParser parser_;
};

schemas::MessageStart message_start(const schemas::InternalRequest& request, const GenerationPlan& plan) {
  schemas::MessageStart start;
  start.id = schemas::generate_id(request.endpoint == schemas::Endpoint::messages      ? "msg_"
                                  : request.endpoint == schemas::Endpoint::completions ? "cmpl-"
                                                                                       : "chatcmpl-");
  start.model = plan.model->id;
  start.created = schemas::unix_time_now();
  start.usage.input_tokens = static_cast<int64_t>(plan.request.prompt.size());
  return start;
}

asio::awaitable<void> stream_output(http::RequestContext& ctx, const schemas::InternalRequest& request,
                                    const GenerationPlan& plan,
                                    actors::EventReceiver<GenerationEvent>& rx) {
  const auto protocol = request.protocol;
  schemas::StreamWriterOptions options;
  options.include_usage = request.include_usage;
  auto writer = schemas::make_stream_writer(protocol, request.endpoint, options);
  auto sse = co_await ctx.begin_sse();
  SseRelay relay(sse, *writer);
  OutputConverter converter(plan, plan.model->model->tokenizer(), request.protocol);

  std::vector<schemas::StreamEvent> events;
  events.push_back(message_start(request, plan));
  if (plan.echo && !plan.request.score_prompt) events.push_back(converter.echo_delta(nullptr));
  bool alive = co_await relay.send(events);
  while (alive && !writer->finished()) {
    std::optional<GenerationEvent> event;
    std::exception_ptr failure;
    try {
      event = co_await rx.next();
    } catch (...) {
      failure = std::current_exception();
    }
    events.clear();
    if (failure) {
      auto error = stream_failure(failure, protocol);
      spdlog::warn("{}stream ended early: {}", ctx.log_prefix(), error.message);
      events.push_back(schemas::StreamError{std::move(error)});
      co_await relay.send(events);
      break;
    }
    if (!event) break;  // closed right after the finishing event
    if (event->kind == GenerationEvent::Kind::waiting) {
      // Queued: keep the client's connection warm (and find out whether it is still there).
      if (protocol == schemas::Protocol::anthropic) {
        alive = co_await sse.send("ping", R"({"type": "ping"})");
      } else {
        alive = co_await sse.comment("waiting for a free slot, position " +
                                     std::to_string(event->queue_position + 1));
      }
      continue;
    }
    converter.convert(*event, events);
    alive = co_await relay.send(events);
  }
  if (!alive) {
    spdlog::info("{}client left mid-stream; cancelling its generation", ctx.log_prefix());
    rx.cancel();  // the scheduler drops the sequence and frees its KV blocks at its next step
  }
}

std::string complete_body(const schemas::InternalRequest& request, const schemas::TextResult& result) {
  switch (request.endpoint) {
    case schemas::Endpoint::messages: return boost::json::serialize(schemas::anthropic_message_response(result));
    case schemas::Endpoint::completions: return boost::json::serialize(schemas::openai_completion_response(result));
    default: return boost::json::serialize(schemas::openai_chat_response(result));
  }
}

asio::awaitable<void> complete_output(http::RequestContext& ctx, const schemas::InternalRequest& request,
                                      const GenerationPlan& plan,
                                      actors::EventReceiver<GenerationEvent>& rx) {
  schemas::ResultBuilder builder;
  OutputConverter converter(plan, plan.model->model->tokenizer(), request.protocol);
  builder.add(message_start(request, plan));
  if (plan.echo && !plan.request.score_prompt) builder.add(converter.echo_delta(nullptr));
  std::vector<schemas::StreamEvent> events;
  std::exception_ptr failure;
  while (!builder.finished()) {
    std::optional<GenerationEvent> event;
    try {
      event = co_await rx.next();
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure || !event) break;
    // A queued request's heartbeat: if the client has left, drop the request (the scheduler
    // cancels it when the receiver goes away) instead of computing an answer nobody reads.
    if (event->kind == GenerationEvent::Kind::waiting && ctx.client_gone()) {
      spdlog::info("{}client left while queued; request cancelled", ctx.log_prefix());
      rx.cancel();
      co_return;
    }
    events.clear();
    converter.convert(*event, events);
    for (const auto& e : events) builder.add(e);
  }
  if (!builder.finished()) {
    auto error = failure ? stream_failure(failure, request.protocol)
                         : schemas::make_error(schemas::ErrorKind::api_error, "generation ended without a result");
    // A scheduler refusal after queueing (shutdown, ...) keeps its status and retry-after.
    Refusal r;
    r.error = std::move(error);
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const actors::SchedulerError& e) {
        r = refusal(e.status(), e.what(), request.protocol);
      } catch (...) {
      }
    }
    co_await respond_refusal(ctx, request.protocol, std::move(r));
    co_return;
  }
  co_await ctx.respond(200, complete_body(request, builder.result()));
}

}  // namespace

asio::awaitable<void> run_generation(ApiState& api, http::RequestContext& ctx,
                                     const schemas::InternalRequest& request, GenerationPlan plan) {
  auto stream = actors::make_event_stream<GenerationEvent>(kStreamCapacity);
  actors::EventReceiver<GenerationEvent> rx = std::move(stream.second);
  std::optional<actors::SubmitResult> submitted;
  std::string failure;
  {
    // Only the scheduler keeps a sender: when it drops its copy the stream ends.
    actors::EventSender<GenerationEvent> tx = std::move(stream.first);
    try {
      auto operation = actors::ask<actors::SubmitResult>(*api.runtime, plan.model->scheduler, api.ask_timeout,
                                                         actors::submit_atom::value, plan.request, tx);
      submitted = co_await std::move(operation);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (!submitted) {
    spdlog::error("{}scheduler of {} did not answer: {}", ctx.log_prefix(), plan.model->id, failure);
    Refusal r = refusal(actors::SubmitStatus::shutting_down, "the model is not available: " + failure, request.protocol);
    co_await respond_refusal(ctx, request.protocol, std::move(r));
    co_return;
  }
  if (!submitted->accepted()) {
    co_await respond_refusal(ctx, request.protocol, refusal(submitted->status, submitted->message, request.protocol));
    co_return;
  }
  if (request.stream) {
    co_await stream_output(ctx, request, plan, rx);
  } else {
    co_await complete_output(ctx, request, plan, rx);
  }
}

}  // namespace tandem::api
