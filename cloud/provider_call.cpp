// The per-request state of a provider's generate across its attempts (provider_call.h) and the
// public helpers that turn upstream answers into the caller's errors.
#include "cloud/provider_call.h"

#include "cloud/provider_actor.h"
#include "cloud/resilience/retry_policy.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

namespace json = boost::json;

namespace tandem::cloud {

using backend::GenerateReply;
using schemas::ApiError;
using schemas::ErrorKind;
using schemas::Protocol;
using resilience::FailureKind;

ApiError api_error(ErrorKind kind, std::string message, std::string param) {
  ApiError error;
  error.kind = kind;
  error.message = std::move(message);
  error.param = std::move(param);
  return error;
}

namespace {

bool is_success(int status) { return status >= 200 && status < 300; }

bool is_event_stream(const ResponseHead& head) {
  return head.header("content-type").starts_with("text/event-stream");
}

// An in-band error written in the caller's protocol as an SSE frame (passthrough streams).
std::string error_frame(const ApiError& error, Protocol protocol) {
  std::string body = schemas::render_error(error, protocol);
  if (protocol == Protocol::anthropic) return schemas::format_sse("error", body);
  return schemas::format_sse_data(body);
}

// A complete answer (an upstream that ignored `stream: true`) as the events of a stream.
std::vector<schemas::StreamEvent> events_of(const schemas::TextResult& result) {
  std::vector<schemas::StreamEvent> events;
  schemas::Usage start_usage;
  start_usage.input_tokens = result.usage.input_tokens;
  start_usage.cache_read_tokens = result.usage.cache_read_tokens;
  start_usage.cache_creation_tokens = result.usage.cache_creation_tokens;
  events.emplace_back(schemas::MessageStart{result.id, result.model, result.created, start_usage});
  int tool_index = 0;
  for (const auto& part : result.content) {
    if (const auto* text = std::get_if<schemas::TextPart>(&part)) {
      events.emplace_back(schemas::TextDelta{text->text, {}});
    } else if (const auto* thinking = std::get_if<schemas::ThinkingPart>(&part)) {
      events.emplace_back(schemas::ThinkingDelta{thinking->thinking, thinking->signature});
    } else if (const auto* call = std::get_if<schemas::ToolCallPart>(&part)) {
      events.emplace_back(schemas::ToolCallStart{tool_index, call->id, call->name});
      events.emplace_back(schemas::ToolCallDelta{tool_index, call->arguments});
      ++tool_index;
    }
  }
  events.emplace_back(schemas::Finish{result.finish_reason, result.stop_sequence, result.usage});
  return events;
}

int retry_after_seconds(const ResponseHead& head) {
  auto parse = [](std::string_view text) -> long long {
    long long value = 0;
    if (text.empty()) return -1;
    for (char c : text) {
      if (c < '0' || c > '9') return -1;
      value = value * 10 + (c - '0');
      if (value > 86400000) return -1;
    }
    return value;
  };
  long long ms = parse(head.header("retry-after-ms"));
  if (ms >= 0) return static_cast<int>((ms + 999) / 1000);
  long long seconds = parse(head.header("retry-after"));
  return seconds > 0 ? static_cast<int>(std::min<long long>(seconds, 86400)) : 0;
}

}  // namespace


// ---------------------------------------------------------------- classification

FailureKind failure_of(const TransferResult& result) {
  switch (result.error) {
    case TransferError::none: return FailureKind::none;
    case TransferError::resolve_failed:
    case TransferError::connect_failed:
    case TransferError::tls_failed: return FailureKind::connect_error;
    case TransferError::connect_timeout:
    case TransferError::headers_timeout:
    case TransferError::idle_timeout:
    case TransferError::total_timeout: return FailureKind::timeout;
    case TransferError::connection_reset:
      return result.headers_received ? FailureKind::stream_cut : FailureKind::connect_error;
    case TransferError::cancelled: return FailureKind::cancelled;
    case TransferError::protocol_error:
    case TransferError::other: return FailureKind::server_error;
  }
  return FailureKind::server_error;
}

std::string status_label(const TransferResult& result) {
  switch (result.error) {
    case TransferError::none: return std::to_string(result.status);
    case TransferError::resolve_failed:
    case TransferError::connect_failed:
    case TransferError::tls_failed: return "connect_error";
    case TransferError::connect_timeout:
    case TransferError::headers_timeout:
    case TransferError::idle_timeout:
    case TransferError::total_timeout: return "timeout";
    case TransferError::connection_reset: return "reset";
    case TransferError::cancelled: return "cancelled";
    case TransferError::protocol_error:
    case TransferError::other: return "error";
  }
  return "error";
}

// ---------------------------------------------------------------- one generate call

void GenerateCall::begin_attempt() {
  head = ResponseHead{};
  streaming = false;
  body.clear();
  frames = SseFrameSplitter{};
  adapter.reset();
  if (provider->protocol == Protocol::anthropic) decoder.emplace<schemas::AnthropicStreamDecoder>();
  else decoder.emplace<schemas::OpenAiStreamDecoder>();
  terminal = false;
  first_content = false;
  started = std::chrono::steady_clock::now();
  headers_latency = resilience::Millis{0};
}

TransferCallbacks GenerateCall::callbacks(const std::shared_ptr<GenerateCall>& self) {
  TransferCallbacks callbacks;
  callbacks.on_headers = [self](const ResponseHead& response) { self->on_headers(response); };
  callbacks.on_body = [self](std::string_view bytes) { self->on_body(bytes); };
  callbacks.on_done = [self](const TransferResult& result) {
    if (!result.ok())
      spdlog::info("[{}] upstream {}: {}", self->request_id, self->provider->name, result.message);
    self->monitor->attempt_finished(status_label(result));
    self->on_done(result);
  };
  return callbacks;
}

std::optional<AttemptReport> GenerateCall::take_report() {
  std::lock_guard lock(mutex_);
  if (reports_.empty()) return std::nullopt;
  AttemptReport out = std::move(reports_.front());
  reports_.pop_front();
  return out;
}

void GenerateCall::report(AttemptReport report) {
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    first = reports_.empty();
    reports_.push_back(std::move(report));
  }
  // The actor takes every queued report per notification, so only the first needs one.
  if (first) notify();
}

void GenerateCall::commit() {
  if (committed) return;
  committed = true;
  AttemptReport report;
  report.kind = AttemptReport::Kind::committed;
  this->report(std::move(report));
}

void GenerateCall::abort_transfer() {
  if (auto owner = client.lock()) owner->cancel(transfer.load());
}

void GenerateCall::push(backend::BackendEvent event) {
  if (closed) return;
  if (!sink.push(std::move(event))) {
    closed = true;  // the client left: nothing more to say
    client_gone = true;
    abort_transfer();
  }
}

void GenerateCall::close() {
  if (closed) return;
  closed = true;
  sink.close();
}

void GenerateCall::fail(ApiError error) {
  if (closed) return;
  if (passthrough) {
    push(backend::RawBytes{error_frame(error, caller)});
    close();
  } else {
    closed = true;
    sink.fail(std::move(error));
  }
}

void GenerateCall::content_sent() {
  if (first_content) return;
  first_content = true;
  monitor->first_token_after(std::chrono::steady_clock::now() - started);
}

HeaderList GenerateCall::passthrough_headers() const {
  HeaderList headers = forwarded_response_headers(head);
  auto type = head.header("content-type");
  if (!type.empty()) headers.emplace_back("content-type", std::string(type));
  return headers;
}

void GenerateCall::on_headers(const ResponseHead& response) {
  head = response;
  headers_latency = std::chrono::duration_cast<resilience::Millis>(std::chrono::steady_clock::now() - started);
  monitor->headers_after(headers_latency);
  if (!is_success(head.status) || !is_event_stream(head)) return;  // collect the body, decide at the end
  if (passthrough && !client_stream) return;
  streaming = true;
  commit();
  if (passthrough) {
    push(backend::ResponseHead{head.status, passthrough_headers(), true});
  } else {
    adapter.emplace([this](schemas::SseEvent&& event) { on_event(event); });
  }
}

void GenerateCall::on_event(const schemas::SseEvent& event) {
  if (terminal || closed) return;
  auto events = std::visit([&](auto& decoder) { return decoder.decode(event); }, decoder);
  forward(events);
}

void GenerateCall::forward(std::vector<schemas::StreamEvent>& events) {
  for (auto& event : events) {
    if (terminal || closed) return;
    if (auto* start = std::get_if<schemas::MessageStart>(&event)) {
      // Anthropic answers carry no creation time and the other protocol's id prefix.
      if (start->created == 0) start->created = schemas::unix_time_now();
      start->id = schemas::convert_message_id(start->id, caller);
    } else {
      content_sent();
    }
    if (const auto* finish = std::get_if<schemas::Finish>(&event))
      monitor->tokens(model, static_cast<uint64_t>(std::max<int64_t>(0, finish->usage.input_tokens)),
                      static_cast<uint64_t>(std::max<int64_t>(0, finish->usage.output_tokens)));
    bool ends = std::holds_alternative<schemas::Finish>(event) || std::holds_alternative<schemas::StreamError>(event);
    push(backend::BackendEvent(std::move(event)));
    if (ends) terminal = true;
  }
}

void GenerateCall::on_body(std::string_view bytes) {
  if (closed) return;
  if (!streaming) {
    body.append(bytes);
    return;
  }
  if (passthrough) {
    std::string complete = frames.feed(bytes);
    if (!complete.empty()) {
      content_sent();
      passthrough_usage.frames(complete);
      push(backend::RawBytes{std::move(complete)});
    }
    return;
  }
  if (!adapter->feed(bytes)) {
    fail(api_error(ErrorKind::upstream_error,
                   "upstream '" + provider->name + "' sent a malformed event stream: " + adapter->error()));
    abort_transfer();
  }
}

void GenerateCall::on_done(const TransferResult& result) {
  if (!streaming) return finish_collected(result);
  // Committed: whatever happens now is told in-band. The breaker hears how it ended before the
  // client sees the end, so whoever reads the breaker after an answer sees it counted.
  FailureKind ended = FailureKind::none;
  std::optional<ApiError> error;
  if (!result.ok()) {
    ended = failure_of(result);
    if (ended == FailureKind::cancelled && terminal) {
      // The answer was complete (its Finish went out) and the client left before the upstream's
      // last bytes: a success, never a failure the breaker counts.
      ended = FailureKind::none;
    } else if (ended == FailureKind::cancelled && (closed || client_gone)) {
      // The client left (or a malformed stream was aborted above): nothing more to send.
      if (!client_gone) ended = FailureKind::stream_cut;
    } else {
      ended = FailureKind::stream_cut;
      error = transfer_failure_error(*provider, result);
    }
  } else if (passthrough) {
    if (!frames.pending().empty()) {
      ended = FailureKind::stream_cut;
      error = api_error(ErrorKind::upstream_error,
                        "upstream '" + provider->name + "' ended its stream in the middle of an event");
    }
    count_passthrough_usage();
  } else {
    if (!terminal) {
      auto events = std::visit([](auto& decoder) { return decoder.finish(); }, decoder);
      forward(events);
    }
    if (!terminal) {
      ended = FailureKind::stream_cut;
      error = api_error(ErrorKind::upstream_error,
                        "upstream '" + provider->name + "' ended its stream before the answer was complete");
    }
  }
  if (closed && !terminal && !client_gone && !passthrough && ended == FailureKind::none) ended = FailureKind::stream_cut;
  AttemptReport report;
  report.kind = AttemptReport::Kind::ended;
  report.outcome.failure = ended;
  report.outcome.latency = headers_latency;
  this->report(std::move(report));
  if (error) fail(std::move(*error));
  close();
}

void GenerateCall::failed_before_commit(FailureKind kind, ApiError error, bool has_answer) {
  AttemptReport report;
  report.kind = AttemptReport::Kind::failed;
  report.outcome.failure = kind;
  if (head.status > 0)
    report.outcome.retry_after = resilience::parse_retry_headers(head.header("retry-after"), head.header("retry-after-ms"),
                                                                 std::chrono::system_clock::now());
  report.error = std::move(error);
  report.has_answer = has_answer;
  this->report(std::move(report));
}

void GenerateCall::count_passthrough_usage() {
  if (!passthrough_usage.found()) return;
  monitor->tokens(model, static_cast<uint64_t>(passthrough_usage.input_tokens()),
                  static_cast<uint64_t>(passthrough_usage.output_tokens()));
}

// The usage is read after the answer is on its way: reading a whole JSON body is work the
// client's reply need not wait for.
void GenerateCall::emit_answer() {
  const bool count_usage = is_success(head.status);
  std::string counted = count_usage ? body : std::string();
  push(backend::ResponseHead{head.status, passthrough_headers(), false});
  push(backend::RawBytes{std::move(body)});
  close();
  if (!count_usage) return;
  auto count = [self = shared_from_this(), counted = std::move(counted)] {
    self->passthrough_usage.body(counted);
    self->count_passthrough_usage();
  };
  if (auto owner = client.lock()) {
    owner->after_callback(std::move(count));
  } else {
    count();
  }
}

void GenerateCall::emit_error(const ApiError& error) {
  if (passthrough) {
    push(backend::ResponseHead{error.http_status(caller), {{"content-type", "application/json"}}, false});
    push(backend::RawBytes{schemas::render_error(error, caller)});
    close();
  } else {
    fail(error);
  }
}

// Nothing was streamed: the whole answer (or error) is in `body`.
void GenerateCall::finish_collected(const TransferResult& result) {
  if (!result.ok()) {
    if (client_gone) return failed_before_commit(FailureKind::cancelled, transfer_failure_error(*provider, result), false);
    return failed_before_commit(failure_of(result), transfer_failure_error(*provider, result), false);
  }
  if (!is_success(head.status)) {
    return failed_before_commit(resilience::classify_status(head.status), upstream_status_error(*provider, head, body),
                                passthrough);
  }
  AttemptReport ended;
  ended.kind = AttemptReport::Kind::ended;
  ended.outcome.latency = headers_latency;
  if (passthrough) {
    commit();
    content_sent();
    report(std::move(ended));
    emit_answer();
  } else {
    // A translated request is always sent with stream: true; an upstream that answered with one
    // JSON body anyway is folded into events all the same.
    auto parsed = provider->protocol == Protocol::anthropic ? schemas::parse_anthropic_message_response(body)
                                                            : schemas::parse_openai_chat_response(body);
    if (!parsed.ok()) {
      return failed_before_commit(
          FailureKind::server_error,
          api_error(ErrorKind::upstream_error,
                    "upstream '" + provider->name + "' sent an unreadable answer: " + parsed.error().message),
          false);
    }
    commit();
    auto events = events_of(*parsed);
    forward(events);
    report(std::move(ended));
    close();
  }
}

// ---------------------------------------------------------------- public helpers

ApiError transfer_failure_error(const ProviderConfig& provider, const TransferResult& result) {
  ErrorKind kind = ErrorKind::upstream_error;
  switch (result.error) {
    case TransferError::resolve_failed:
    case TransferError::connect_failed:
    case TransferError::tls_failed:
    case TransferError::cancelled: kind = ErrorKind::unavailable; break;
    case TransferError::connect_timeout:
    case TransferError::headers_timeout:
    case TransferError::idle_timeout:
    case TransferError::total_timeout: kind = ErrorKind::timeout; break;
    default: kind = ErrorKind::upstream_error; break;
  }
  return api_error(kind, "upstream '" + provider.name + "' failed: " + result.message);
}

ApiError upstream_status_error(const ProviderConfig& provider, const ResponseHead& head, std::string_view body) {
  ApiError error;
  error.kind = schemas::error_kind_for_status(head.status);
  error.retry_after = retry_after_seconds(head);
  boost::system::error_code ec;
  auto parsed = json::parse(body, ec);
  if (!ec && parsed.is_object()) {
    const auto* inner = parsed.as_object().if_contains("error");
    if (inner && inner->is_object()) {
      if (const auto* message = inner->as_object().if_contains("message"); message && message->is_string())
        error.message = std::string(message->as_string());
      if (const auto* param = inner->as_object().if_contains("param"); param && param->is_string())
        error.param = std::string(param->as_string());
    } else if (inner && inner->is_string()) {
      error.message = std::string(inner->as_string());  // vLLM / llama.cpp style {"error": "..."}
    }
  }
  if (error.message.empty())
    error.message = "upstream '" + provider.name + "' answered HTTP " + std::to_string(head.status) +
                    (body.empty() ? std::string() : ": " + std::string(body.substr(0, 300)));
  return error;
}

std::string SseFrameSplitter::feed(std::string_view bytes) {
  // Usually nothing is left over from the last read: scan the new bytes where they are and copy
  // only what is kept.
  const bool continued = !buffer_.empty();
  if (continued) buffer_.append(bytes);
  const std::string_view text = continued ? std::string_view(buffer_) : bytes;
  // Lines end in LF, CRLF or CR; an empty line ends a frame.
  std::size_t line_start = 0;
  std::size_t frames_end = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t at = schemas::sse_line_end(text, i);
    if (at == std::string_view::npos) break;
    std::size_t length = 1;
    if (text[at] == '\r') {
      if (at + 1 >= text.size()) break;  // CR LF may straddle two reads: decide with the next one
      if (text[at + 1] == '\n') length = 2;
    }
    const bool empty_line = at == line_start;
    i = at + length;
    line_start = i;
    if (empty_line) frames_end = i;
  }
  if (!continued) {
    buffer_.assign(bytes.substr(frames_end));
    return std::string(bytes.substr(0, frames_end));
  }
  if (frames_end == 0) return {};
  std::string complete = buffer_.substr(0, frames_end);
  buffer_.erase(0, frames_end);
  return complete;
}

}  // namespace tandem::cloud
