// One generation through the seam: ask the router once, then relay the backend's events —
// StreamEvents through the protocol's StreamWriter straight onto the socket (streaming) or into
// a ResultBuilder (complete answer); passthrough bytes as they came.
#include "app/api/endpoints.h"

#include "actors/bridge.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/responses.h"
#include "schemas/sse.h"
#include "schemas/stream_writer.h"
#include "schemas/writers.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include <strings.h>

namespace tandem::api {

namespace {

using backend::BackendEvent;

// The headers a provider may forward upstream. Credentials (Authorization, x-api-key) are
// tandem's own and never leave it.
constexpr std::string_view kForwardedHeaders[] = {"anthropic-version", "anthropic-beta"};
// Frames waiting to be written are sent together up to this size (see stream_answer).
constexpr std::size_t kMaxBatchBytes = 64 * 1024;

// Why the event stream itself failed (client too slow, backend gone...), as the error to tell.
schemas::ApiError stream_failure(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
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

// What the relay needs of the request once the backend has it.
struct AnswerShape {
  schemas::Protocol protocol = schemas::Protocol::openai;
  schemas::Endpoint endpoint = schemas::Endpoint::chat_completions;
  bool stream = false;
  bool include_usage = false;
  int choices = 1;  // OpenAI chat / legacy `n`: a local backend answers with that many ChoiceEvent streams
  // Responses API only: the request its answer echoes, and the store `store: true` keeps it in.
  std::shared_ptr<const schemas::InternalRequest> responses_request;
  schemas::ResponseStore* store = nullptr;
  // x-tandem-backend / x-tandem-fallbacks: who answered, and what was tried before it.
  http::Headers routing_headers;
};

// `headers` plus the routing headers, for every way the answer starts.
http::Headers with_routing(const AnswerShape& shape, http::Headers headers = {}) {
  for (const auto& header : shape.routing_headers) headers.push_back(header);
  return headers;
}

http::Headers routing_headers_of(const backend::GenerateReply& reply) {
  http::Headers headers;
  if (!reply.backend.empty()) headers.emplace_back("x-tandem-backend", reply.backend);
  if (!reply.fallbacks.empty()) {
    std::string joined;
    for (const auto& tried : reply.fallbacks) joined += (joined.empty() ? "" : ",") + tried;
    headers.emplace_back("x-tandem-fallbacks", std::move(joined));
  }
  return headers;
}

void store_response(const AnswerShape& shape, const schemas::TextResult& result, boost::json::object response) {
  if (!shape.store || !shape.responses_request || !shape.responses_request->responses.store) return;
  shape.store->put(schemas::make_stored_response(*shape.responses_request, result, std::move(response)));
}

// A Responses request passed through to an OpenAI-protocol upstream: the upstream's response
// object is kept as it came, so GET /v1/responses/{id} and previous_response_id reach it too.
void store_passthrough_response(const AnswerShape& shape, const boost::json::object& response) {
  if (!shape.store || !shape.responses_request || !shape.responses_request->responses.store) return;
  auto result = schemas::responses_result_from_json(response);
  if (result) shape.store->put(schemas::make_stored_response(*shape.responses_request, *result, response));
}

void store_passthrough_body(const AnswerShape& shape, int status, std::string_view body) {
  if (!shape.responses_request || status != 200) return;
  boost::system::error_code ec;
  auto parsed = boost::json::parse(body, ec);
  if (!ec && parsed.is_object()) store_passthrough_response(shape, parsed.get_object());
}

std::string complete_body(const AnswerShape& request, const schemas::TextResult& result) {
  if (request.responses_request) {
    auto response = schemas::responses_response(*request.responses_request, result);
    std::string body = boost::json::serialize(response);
    store_response(request, result, std::move(response));
    return body;
  }
  switch (request.endpoint) {
    case schemas::Endpoint::messages: return boost::json::serialize(schemas::anthropic_message_response(result));
    case schemas::Endpoint::completions: return boost::json::serialize(schemas::openai_completion_response(result));
    default: return boost::json::serialize(schemas::openai_chat_response(result));
  }
}

std::string content_type_of(const backend::HeaderList& headers, std::string fallback) {
  for (const auto& [name, value] : headers) {
    if (name.size() == 12 && strncasecmp(name.c_str(), "content-type", 12) == 0) return value;
  }
  return fallback;
}

http::Headers without_content_type(const backend::HeaderList& headers) {
  http::Headers out;
  for (const auto& [name, value] : headers) {
    if (!(name.size() == 12 && strncasecmp(name.c_str(), "content-type", 12) == 0)) out.emplace_back(name, value);
  }
  return out;
}

// Whether a stream event carries generated tokens (text, reasoning or tool-call arguments).
bool carries_tokens(const schemas::StreamEvent& event) {
  if (auto* text = std::get_if<schemas::TextDelta>(&event)) return !text->text.empty();
  if (auto* thinking = std::get_if<schemas::ThinkingDelta>(&event)) return !thinking->thinking.empty();
  if (auto* arguments = std::get_if<schemas::ToolCallDelta>(&event)) return !arguments->arguments.empty();
  return false;
}

// Passthrough SSE frames that carry generated tokens: Anthropic content_block_delta events,
// OpenAI chunks with a non-empty content / reasoning / arguments string. Looked up as text: the
// frames are forwarded untouched, never parsed. Only the caller's protocol's markers are looked
// for (a passthrough stream is in the caller's protocol), the most frequent first.
std::size_t token_frames(std::string_view frames, schemas::Protocol protocol) {
  const bool anthropic = protocol == schemas::Protocol::anthropic;
  std::size_t count = 0;
  while (!frames.empty()) {
    const auto end = frames.find("\n\n");
    const auto frame = frames.substr(0, end);
    frames = end == std::string_view::npos ? std::string_view{} : frames.substr(end + 2);
    if (anthropic) {
      if (schemas::contains_text(frame, "content_block_delta")) ++count;
      continue;
    }
    for (std::string_view key : {"\"content\":\"", "\"reasoning_content\":\"", "\"arguments\":\""}) {
      const auto at = schemas::find_text(frame, key);
      const auto after = at == std::string_view::npos ? frame.size() : at + key.size();
      if (after < frame.size() && frame[after] != '"') {
        ++count;
        break;
      }
    }
  }
  return count;
}

// Token counts for the access log, from the usage a stream or an answer reports.
void note_usage(http::RequestContext& ctx, const schemas::Usage& usage) {
  ctx.notes().tokens_in = usage.prompt_tokens();
  ctx.notes().tokens_out = usage.output_tokens;
}

// Waits for the next event; nullopt at the end; a failure of the stream itself in `failure`.
asio::awaitable<std::optional<BackendEvent>> wait_event(actors::EventReceiver<BackendEvent>& rx,
                                                        std::exception_ptr& failure) {
  std::optional<BackendEvent> event;
  try {
    event = co_await rx.next();
  } catch (...) {
    failure = std::current_exception();
  }
  co_return event;
}

// wait_event, without the round through the executor when the event or the end is there already.
asio::awaitable<std::optional<BackendEvent>> next_event(actors::EventReceiver<BackendEvent>& rx,
                                                        std::exception_ptr& failure) {
  if (auto ready = rx.try_next()) co_return std::move(*ready);
  auto event = co_await wait_event(rx, failure);
  co_return event;
}

asio::awaitable<void> stream_answer(http::RequestContext& ctx, const AnswerShape& request,
                                    actors::EventReceiver<BackendEvent>& rx) {
  const auto protocol = request.protocol;
  schemas::StreamWriterOptions options;
  options.include_usage = request.include_usage;
  auto writer = request.responses_request ? schemas::make_stream_writer(*request.responses_request, options)
                                          : schemas::make_stream_writer(protocol, request.endpoint, options);
  bool per_choice_writer = false;  // remade for `request.choices` at the first ChoiceEvent
  std::optional<http::SseStream> sse;
  std::optional<backend::ResponseHead> raw_head;  // passthrough that is not an event stream
  std::string raw_body;
  std::optional<schemas::ApiError> early_end;
  bool alive = true;
  // Frames of events that were already waiting are written together, translated or passed
  // through: a burst from the backend (one upstream read often carries many events) costs one
  // write and one suspension, not one each. A backend that keeps the queue full from another
  // thread still gets a write every kMaxBatchBytes.
  std::string batch;
  std::size_t batch_token_events = 0;
  std::optional<BackendEvent> ready;  // taken by try_pop / try_next, handled before waiting again
  while (alive && !writer->finished()) {
    std::exception_ptr failure;
    std::optional<BackendEvent> event;
    if (ready) {
      event = std::move(ready);
      ready.reset();
      if (!batch.empty() && !std::holds_alternative<schemas::StreamEvent>(*event) &&
          !std::holds_alternative<backend::ChoiceEvent>(*event) && !std::holds_alternative<backend::RawBytes>(*event)) {
        alive = co_await sse->send_frames(std::exchange(batch, {}));  // in order, before anything else
        if (alive) ctx.tokens_sent(std::exchange(batch_token_events, 0));
        if (!alive) break;
      }
    } else if (auto now = rx.try_next()) {
      event = std::move(*now);
    } else {
      if (sse) {  // about to wait: a header held for the first frames goes out now
        alive = co_await sse->flush();
        if (!alive) break;
      }
      event = co_await wait_event(rx, failure);
    }
    if (failure) {
      auto error = stream_failure(failure);
      spdlog::warn("{}stream ended early: {}", ctx.log_prefix(), error.message);
      if (raw_head) {  // a passthrough body that did not arrive whole is not sent at all
        raw_head.reset();
        early_end = std::move(error);
        break;
      }
      if (!sse) {
        auto opened = co_await ctx.begin_sse(with_routing(request), http::SseStart::with_first_write);
        sse.emplace(opened);
      }
      std::string frames = writer->write(schemas::StreamError{std::move(error)});
      co_await sse->send_frames(std::move(frames), /*last=*/true);
      break;
    }
    if (!event) break;
    if (auto* head = std::get_if<backend::ResponseHead>(&*event)) {
      if (sse || raw_head) continue;  // one head per answer
      if (head->event_stream) {
        http::Headers forwarded = with_routing(request, without_content_type(head->headers));
        auto opened = co_await ctx.begin_sse(std::move(forwarded), http::SseStart::with_first_write);
        sse.emplace(opened);
      } else {
        raw_head = std::move(*head);
      }
      continue;
    }
    if (auto* bytes = std::get_if<backend::RawBytes>(&*event)) {
      if (raw_head) {
        raw_body += bytes->bytes;
        continue;
      }
      if (!sse) {
        auto opened = co_await ctx.begin_sse(with_routing(request), http::SseStart::with_first_write);
        sse.emplace(opened);
      }
      if (request.responses_request) {
        if (auto response = schemas::responses_final_response(bytes->bytes)) store_passthrough_response(request, *response);
      }
      batch_token_events += token_frames(bytes->bytes, protocol);
      batch += bytes->bytes;
      bool last = false;
      if (batch.size() < kMaxBatchBytes) {
        if (auto now = rx.try_next()) {
          if (*now) {
            ready = std::move(*now);
            continue;
          }
          last = true;  // the stream's end is already known: the body's end goes in the same write
        }
      }
      alive = co_await sse->send_frames(std::exchange(batch, {}), last);
      if (alive) ctx.tokens_sent(std::exchange(batch_token_events, 0));
      if (last) break;
      continue;
    }
    if (!sse) {
      auto opened = co_await ctx.begin_sse(with_routing(request), http::SseStart::with_first_write);
      sse.emplace(opened);
    }
    if (auto* waiting = std::get_if<backend::QueueWaiting>(&*event)) {
      // Queued: keep the client's connection warm (and find out whether it is still there).
      if (protocol == schemas::Protocol::anthropic) {
        alive = co_await sse->send("ping", R"({"type": "ping"})");
      } else {
        alive = co_await sse->comment("waiting for a free slot, position " + std::to_string(waiting->position + 1));
      }
      continue;
    }
    std::string frames;
    const schemas::StreamEvent* stream_event = nullptr;
    if (auto* choice = std::get_if<backend::ChoiceEvent>(&*event)) {
      // A backend that serves n > 1 itself (the local one) tags each choice's events: the stream
      // then interleaves `request.choices` choices (its first event is a choice's MessageStart).
      if (!per_choice_writer) {
        per_choice_writer = true;
        options.choices = request.choices;
        writer = schemas::make_stream_writer(protocol, request.endpoint, options);
      }
      stream_event = &choice->event;
      frames = writer->write_choice(choice->index, choice->event);
    } else {
      stream_event = &std::get<schemas::StreamEvent>(*event);
      frames = writer->write(*stream_event);
    }
    if (auto* finish = std::get_if<schemas::Finish>(stream_event)) note_usage(ctx, finish->usage);
    if (!frames.empty()) {
      batch += frames;
      if (carries_tokens(*stream_event)) ++batch_token_events;
    }
    if (batch.empty()) continue;
    if (!writer->finished() && batch.size() < kMaxBatchBytes) {
      ready = rx.try_pop();
      if (ready) continue;
    }
    alive = co_await sse->send_frames(std::exchange(batch, {}), /*last=*/writer->finished());
    if (alive) ctx.tokens_sent(std::exchange(batch_token_events, 0));
  }
  if (raw_head) {
    auto content_type = content_type_of(raw_head->headers, "application/json");
    http::Headers forwarded = with_routing(request, without_content_type(raw_head->headers));
    co_await ctx.respond(raw_head->status, std::move(raw_body), std::move(forwarded), content_type);
    co_return;
  }
  if (!sse) {  // the backend ended without a single event
    auto error = early_end ? *early_end
                           : schemas::make_error(schemas::ErrorKind::api_error, "generation ended without a result");
    co_await respond_error(ctx, protocol, error, with_routing(request));
    co_return;
  }
  if (auto* responses = dynamic_cast<schemas::ResponsesStreamWriter*>(writer.get()); responses && writer->finished()) {
    store_response(request, responses->result(), responses->response());
  }
  if (!alive) {
    spdlog::info("{}client left mid-stream; cancelling its generation", ctx.log_prefix());
    rx.cancel();  // the backend stops (a local sequence leaves the batch at the next step)
  }
}

asio::awaitable<void> complete_answer(http::RequestContext& ctx, const AnswerShape& request,
                                      actors::EventReceiver<BackendEvent>& rx) {
  schemas::ResultBuilder builder;
  std::vector<schemas::ResultBuilder> choices;  // n > 1 served as ChoiceEvents: one per choice
  auto all_finished = [&] {
    if (choices.empty()) return builder.finished();
    for (const auto& choice : choices)
      if (!choice.finished() && !choice.error()) return false;
    return true;
  };
  std::optional<backend::ResponseHead> raw_head;
  std::string raw_body;
  std::exception_ptr failure;
  while (!all_finished()) {
    auto event = co_await next_event(rx, failure);
    if (failure || !event) break;
    if (auto* head = std::get_if<backend::ResponseHead>(&*event)) {
      if (!raw_head) raw_head = std::move(*head);
      continue;
    }
    if (auto* bytes = std::get_if<backend::RawBytes>(&*event)) {
      raw_body += bytes->bytes;
      continue;
    }
    if (std::get_if<backend::QueueWaiting>(&*event)) {
      // A queued request's heartbeat: if the client has left, drop the request (the backend
      // cancels it when the receiver goes away) instead of computing an answer nobody reads.
      if (ctx.client_gone()) {
        spdlog::info("{}client left while queued; request cancelled", ctx.log_prefix());
        rx.cancel();
        co_return;
      }
      continue;
    }
    if (auto* choice = std::get_if<backend::ChoiceEvent>(&*event)) {
      if (choices.empty()) choices.resize(std::max(request.choices, 1));
      if (choice->index >= 0 && static_cast<size_t>(choice->index) < choices.size()) {
        choices[choice->index].add(choice->event);
        if (choices[choice->index].error()) builder.add(choice->event);  // one failed choice fails the answer
      }
      continue;
    }
    builder.add(std::get<schemas::StreamEvent>(*event));
  }
  if (!choices.empty() && !builder.error() && !failure && all_finished()) {
    std::vector<schemas::TextResult> results;
    for (const auto& choice : choices) results.push_back(choice.result());
    const auto body = request.endpoint == schemas::Endpoint::completions ? schemas::openai_completion_response(results)
                                                                        : schemas::openai_chat_response(results);
    co_await ctx.respond(200, boost::json::serialize(body), with_routing(request));
    co_return;
  }
  if (raw_head && !failure) {
    store_passthrough_body(request, raw_head->status, raw_body);
    auto content_type = content_type_of(raw_head->headers, "application/json");
    http::Headers forwarded = with_routing(request, without_content_type(raw_head->headers));
    co_await ctx.respond(raw_head->status, std::move(raw_body), std::move(forwarded), content_type);
    co_return;
  }
  if (builder.error() || failure || !builder.finished()) {
    auto error = builder.error() ? *builder.error()
                 : failure      ? stream_failure(failure)
                                : schemas::make_error(schemas::ErrorKind::api_error, "generation ended without a result");
    co_await respond_error(ctx, request.protocol, error, with_routing(request));
    co_return;
  }
  note_usage(ctx, builder.result().usage);
  co_await ctx.respond(200, complete_body(request, builder.result()), with_routing(request));
}

}  // namespace

schemas::Protocol caller_protocol(const http::RequestContext& ctx) { return ctx.protocol(); }

asio::awaitable<void> respond_error(http::RequestContext& ctx, schemas::Protocol protocol,
                                    const schemas::ApiError& error, http::Headers headers) {
  const int status = error.http_status(protocol);
  std::string body = schemas::render_error(error, protocol);
  if (error.retry_after > 0) headers.emplace_back("retry-after", std::to_string(error.retry_after));
  co_await ctx.respond(status, std::move(body), std::move(headers));
}

backend::BackendRequest backend_request(const http::RequestContext& ctx, schemas::InternalRequest request) {
  backend::BackendRequest out;
  out.requested_model = request.model;
  out.request = std::move(request);
  out.request_id = ctx.request_id();
  out.raw_body = ctx.request().body;
  out.received_at = ctx.started();
  for (auto name : kForwardedHeaders) {
    if (auto value = ctx.request().header(name)) out.forward_headers.emplace_back(std::string(name), std::string(*value));
  }
  return out;
}

asio::awaitable<void> relay_generation(ApiState& api, http::RequestContext& ctx, schemas::InternalRequest request) {
  AnswerShape shape;
  shape.protocol = request.protocol;
  shape.endpoint = request.endpoint;
  shape.stream = request.stream;
  shape.include_usage = request.include_usage;
  const bool several = request.endpoint == schemas::Endpoint::chat_completions ||
                       request.endpoint == schemas::Endpoint::completions;
  if (several && request.sampling.n > 1) {
    shape.choices = static_cast<int>(request.sampling.n);
  }
  if (request.endpoint == schemas::Endpoint::responses) {
    shape.responses_request = std::make_shared<const schemas::InternalRequest>(request);
    shape.store = api.responses.get();
  }
  const auto protocol = request.protocol;
  ctx.notes().model = request.model;
  auto channel = actors::make_event_stream<BackendEvent>(kStreamCapacity);
  actors::EventReceiver<BackendEvent> rx = std::move(channel.second);
  // A client that leaves while the backend is silent (not replied yet, or an upstream still
  // thinking) cancels the work at once: the backend's on_cancel fires (a cloud transfer is
  // aborted, a local sequence leaves the batch) instead of at the next write.
  auto* receiver = &rx;
  const std::string log_prefix = ctx.log_prefix();
  http::ClientWatch watch = ctx.watch_client([receiver, log_prefix] {
    spdlog::info("{}client closed the connection; cancelling its request", log_prefix);
    receiver->cancel();
  });
  std::optional<backend::GenerateReply> reply;
  std::string failure;
  {
    // Only the backend keeps the sink: when it drops it the stream ends.
    backend::EventSink sink(std::move(channel.first));
    backend::BackendRequest forwarded = backend_request(ctx, std::move(request));
    try {
      auto operation = actors::ask<backend::GenerateReply>(*api.runtime, api.router, api.backend_timeout,
                                                           backend::generate_atom::value, std::move(forwarded),
                                                           std::move(sink));
      reply = co_await std::move(operation);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (!reply) {
    spdlog::error("{}no backend answered: {}", ctx.log_prefix(), failure);
    auto error = schemas::make_error(schemas::ErrorKind::unavailable, "the model is not available: " + failure);
    error.retry_after = 5;
    co_await respond_error(ctx, protocol, error);
    co_return;
  }
  ctx.notes().backend = reply->backend;
  shape.routing_headers = routing_headers_of(*reply);
  if (!reply->accepted) {
    co_await respond_error(ctx, protocol, reply->error, shape.routing_headers);
    co_return;
  }
  if (shape.stream) {
    co_await stream_answer(ctx, shape, rx);
  } else {
    co_await complete_answer(ctx, shape, rx);
  }
}

}  // namespace tandem::api
