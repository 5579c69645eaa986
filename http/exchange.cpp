// One request/response: API-key check, routing (404/405), the handler, SSE, the access log.
#include "http/detail/connection.h"

#include "http/logging.h"
#include "schemas/protocol.h"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tandem::http::detail {
namespace {

namespace bhttp = beast::http;

// Known methods only, so a client cannot grow the metrics label set.
std::string_view method_label(std::string_view method) {
  for (std::string_view known : {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "other";
}

// Appends `payload` as one chunk of a chunked body (never empty: that is the end marker).
void append_chunk(std::string& out, std::string_view payload) {
  fmt::format_to(std::back_inserter(out), "{:x}\r\n", payload.size());
  out.append(payload).append("\r\n");
}

constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace

void log_access(const Exchange* exchange, std::string_view method, std::string_view target,
                int status, std::chrono::steady_clock::time_point started,
                const std::string& request_id) {
  // Below info (e.g. --log-level warn on a busy gateway) the line is never written: skip
  // building its fields and formatting its numbers.
  if (!spdlog::should_log(spdlog::level::info)) return;
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count();
  // Only what the handler noted: the backend, the model asked for, token counts, TTFT. Never a
  // header value or a body (keys, prompt text).
  const RequestNotes empty;
  const RequestNotes& notes = exchange ? exchange->notes_view() : empty;
  auto text_or_null = [](const std::string& key, const std::string& value) {
    return value.empty() ? LogField::null(key) : LogField::text(key, value);
  };
  auto count_or_null = [](const std::string& key, const std::optional<std::int64_t>& value) {
    return value ? LogField::num(key, std::to_string(*value)) : LogField::null(key);
  };
  std::vector<LogField> fields;
  fields.push_back(LogField::text("method", std::string(method)));
  fields.push_back(LogField::text("target", std::string(target)));
  fields.push_back(LogField::num("status", std::to_string(status)));
  fields.push_back(LogField::num("duration_ms", fmt::format("{:.1f}", ms)));
  for (auto& field : fields) field.json_only = true;  // the text message says them already
  fields.push_back(text_or_null("backend", notes.backend));
  fields.push_back(text_or_null("model", notes.model));
  fields.push_back(count_or_null("tokens_in", notes.tokens_in));
  fields.push_back(count_or_null("tokens_out", notes.tokens_out));
  const auto ttft = exchange ? exchange->first_token_seconds() : std::nullopt;
  fields.push_back(ttft ? LogField::num("ttft_ms", fmt::format("{:.1f}", *ttft * 1000)) : LogField::null("ttft_ms"));
  log_with_fields(spdlog::level::info, request_id, fmt::format("{} {} {} {:.1f}ms", method, target, status, ms),
                  fields);
}

Exchange::Exchange(Connection& connection, Request request, unsigned http_version,
                   bool keep_alive)
    : connection_(connection),
      request_(std::move(request)),
      http_version_(http_version),
      keep_alive_(keep_alive),
      request_id_(choose_request_id(request_.header("x-request-id"))),
      log_prefix_("[" + request_id_ + "] "),
      protocol_(detect_protocol(request_)) {}

std::string_view Exchange::path_param(std::string_view name) const {
  for (const auto& [key, value] : match_.params) {
    if (key == name) return value;
  }
  return {};
}

bool Exchange::authorized() const {
  const auto& keys = connection_.state().options.api_keys;
  std::string_view presented;
  if (auto bearer = request_.header("authorization")) {
    constexpr std::string_view kScheme = "Bearer ";
    if (bearer->size() > kScheme.size() &&
        std::equal(kScheme.begin(), kScheme.end(), bearer->begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      presented = bearer->substr(kScheme.size());
    }
  }
  if (presented.empty()) {
    if (auto header = request_.header("x-api-key")) presented = *header;
  }
  if (presented.empty()) return false;
  bool match = false;
  for (const auto& key : keys) match |= constant_time_equals(presented, key);  // no early exit
  return match;
}

std::string_view Exchange::protocol_label() const {
  if (request_.path != "/v1" && !request_.path.starts_with("/v1/")) return "none";
  return schemas::protocol_name(protocol_);
}

void Exchange::tokens_sent(std::size_t tokens) {
  if (tokens == 0) return;
  const auto now = std::chrono::steady_clock::now();
  auto* metrics = connection_.state().metrics.get();
  if (!last_token_at_) {
    first_token_seconds_ = std::chrono::duration<double>(now - started_).count();
    if (metrics) metrics->observe_first_token(protocol_label(), notes_.backend, *first_token_seconds_);
    // Tokens written with the first one reached the client with it: gaps of 0.
    if (metrics) {
      for (std::size_t i = 1; i < tokens; ++i) metrics->observe_inter_token(protocol_label(), notes_.backend, 0.0);
    }
  } else if (metrics) {
    const double gap = std::chrono::duration<double>(now - *last_token_at_).count() / static_cast<double>(tokens);
    for (std::size_t i = 0; i < tokens; ++i) metrics->observe_inter_token(protocol_label(), notes_.backend, gap);
  }
  last_token_at_ = now;
}

asio::awaitable<void> Exchange::run() {
  started_ = std::chrono::steady_clock::now();
  const auto started = started_;
  const auto& options = connection_.state().options;
  bool needs_key = !options.api_keys.empty() &&
                   (request_.path == "/v1" || request_.path.starts_with("/v1/"));
  bool handler_failed = false;
  std::string failure;

  if (options.cors.enabled() && CorsPolicy::is_preflight(request_)) {
    // Before the key check: a browser's preflight never carries credentials.
    match_.route = "cors_preflight";
    auto preflight = options.cors.preflight_headers(request_);
    if (preflight) {
      co_await respond(204, std::string(), std::move(*preflight), "text/plain");
    } else {
      std::string message = "Origin " + std::string(request_.header("origin").value_or("")) +
                            " is not allowed (see --cors-origins).";
      co_await respond_error(403, std::move(message), "");
    }
  } else if (needs_key && !authorized()) {
    match_.route = "unauthorized";
    // (A named string, not a ?: of literals inside co_await: GCC 12 miscompiles that.)
    std::string message = "Invalid API key.";
    if (!request_.header("authorization") && !request_.header("x-api-key")) {
      message = "Missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`.";
    }
    co_await respond_error(401, std::move(message), "invalid_api_key");
  } else if (match_ = connection_.state().router.match(request_.method, request_.path);
             !match_.handler) {
    if (!match_.allowed_methods.empty()) {
      Headers allow;
      allow.emplace_back("allow", match_.allowed_methods);
      co_await respond(405,
                       error_body(protocol_, 405,
                                  "Method " + request_.method + " is not allowed for " +
                                      request_.path + " (allowed: " + match_.allowed_methods +
                                      ")."),
                       std::move(allow), "application/json");
    } else {
      match_.route = "unmatched";
      co_await respond_error(404, "Not found: " + request_.method + " " + request_.path, "");
    }
  } else {
    RequestContext context(*this);
    try {
      co_await (*match_.handler)(context);
    } catch (const std::exception& error) {
      handler_failed = true;
      failure = error.what();
    }
    if (handler_failed) spdlog::error("{}handler failed: {}", log_prefix_, failure);
    if (sse_open_) {
      co_await close_sse();
    } else if (!responded()) {
      if (!handler_failed) spdlog::error("{}handler returned without a response", log_prefix_);
      co_await respond_error(500, "Internal server error.", "");
    }
  }

  if (connection_.state().shutting_down) keep_alive_ = false;
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (auto* metrics = connection_.state().metrics.get()) {
    metrics->observe_request(match_.route, method_label(request_.method), status_, seconds, protocol_label());
  }
  log_access(this, request_.method, request_.target, status_, started, request_id_);
}

asio::awaitable<void> Exchange::respond_error(int status, std::string message,
                                              std::string_view code) {
  co_await respond(status, error_body(protocol_, status, message, code), {}, "application/json");
}

void Exchange::set_common_headers(bhttp::fields& fields, const Headers& extra_headers) {
  fields.set(bhttp::field::server, "tandem");
  fields.set("x-request-id", request_id_);
  fields.set("request-id", request_id_);
  for (const auto& [name, value] : connection_.state().options.cors.response_headers(request_)) {
    fields.set(name, value);
  }
  for (const auto& [name, value] : extra_headers) fields.set(name, value);
}

asio::awaitable<void> Exchange::respond(int status, std::string body, Headers extra_headers,
                                        std::string_view content_type) {
  if (responded()) throw std::logic_error("respond() called twice for one request");
  status_ = status;
  if (connection_.state().shutting_down) keep_alive_ = false;
  bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(status),
                                               http_version_};
  response.set(bhttp::field::content_type, content_type);
  set_common_headers(response, extra_headers);
  response.keep_alive(keep_alive_);
  const bool bodyless = status < 200 || status == 204 || status == 304;  // HTTP allows these no body
  if (bodyless) {
    response.content_length(boost::none);
  } else {
    response.content_length(body.size());
  }
  // Status line, fields and body as one string, one write: what Beast's serializer sends, without
  // its buffer sequence machinery (~2 % of the instructions of a proxied request).
  std::string bytes;
  bytes.reserve(256 + body.size());
  bytes += http_version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  bytes += std::to_string(status);
  bytes += ' ';
  bytes += response.reason();
  bytes += "\r\n";
  for (const auto& field : response) {
    bytes += field.name_string();
    bytes += ": ";
    bytes += field.value();
    bytes += "\r\n";
  }
  bytes += "\r\n";
  if (!bodyless) bytes += body;
  bool written = co_await connection_.write_bytes(std::move(bytes));
  if (!written) {
    client_gone_ = true;
    keep_alive_ = false;
  }
}

asio::awaitable<void> Exchange::begin_sse(Headers extra_headers, bool hold_header) {
  if (responded()) throw std::logic_error("begin_sse() after a response was sent");
  status_ = 200;
  sse_open_ = true;
  if (connection_.state().shutting_down) keep_alive_ = false;
  bhttp::response<bhttp::empty_body> response{bhttp::status::ok, http_version_};
  response.set(bhttp::field::content_type, "text/event-stream");
  response.set(bhttp::field::cache_control, "no-cache");
  response.set("x-accel-buffering", "no");  // tell proxies not to buffer the stream
  set_common_headers(response, extra_headers);
  response.keep_alive(keep_alive_);
  response.chunked(true);
  bhttp::response_serializer<bhttp::empty_body> serializer{response};
  std::string header;
  // The header alone, formatted by Beast; the body is written chunk by chunk below.
  beast::error_code ec;
  serializer.split(true);
  while (!serializer.is_header_done()) {
    serializer.next(ec, [&](beast::error_code&, const auto& buffers) {
      for (auto buffer : beast::buffers_range_ref(buffers)) {
        header.append(static_cast<const char*>(buffer.data()), buffer.size());
      }
      serializer.consume(beast::buffer_bytes(buffers));
    });
    if (ec) throw beast::system_error(ec);
  }
  if (hold_header) {
    held_ = std::move(header);
    co_return;
  }
  bool written = co_await connection_.write_bytes(std::move(header));
  if (!written) {
    client_gone_ = true;
    keep_alive_ = false;
  }
}

asio::awaitable<bool> Exchange::send_sse(std::string payload, bool last) {
  if (!sse_open_) throw std::logic_error("SSE event sent before begin_sse()");
  if (last) sse_open_ = false;
  if (client_gone_) co_return false;
  std::string out = std::exchange(held_, {});
  out.reserve(out.size() + payload.size() + 16 + kLastChunk.size());
  append_chunk(out, payload);
  if (last) out.append(kLastChunk);
  bool written = co_await connection_.write_bytes(std::move(out));
  if (!written) {
    client_gone_ = true;
    keep_alive_ = false;
    spdlog::info("{}client closed the event stream", log_prefix_);
  }
  co_return !client_gone_;
}

asio::awaitable<bool> Exchange::flush_sse() {
  if (held_.empty() || client_gone_) co_return !client_gone_;
  bool written = co_await connection_.write_bytes(std::exchange(held_, {}));
  if (!written) {
    client_gone_ = true;
    keep_alive_ = false;
  }
  co_return !client_gone_;
}

asio::awaitable<void> Exchange::close_sse() {
  if (!sse_open_) co_return;
  sse_open_ = false;
  if (client_gone_) co_return;
  std::string out = std::exchange(held_, {});
  out.append(kLastChunk);
  bool written = co_await connection_.write_bytes(std::move(out));
  if (!written) {
    client_gone_ = true;
    keep_alive_ = false;
  }
}

bool Exchange::peer_closed() {
  if (client_gone_) return true;
  // MSG_PEEK leaves any pipelined bytes for the next request; 0 means the peer sent FIN.
  char byte = 0;
  const auto n = ::recv(connection_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) client_gone_ = true;
  return client_gone_;
}

}  // namespace tandem::http::detail

namespace tandem::http {

const Request& RequestContext::request() const { return exchange_.request(); }
const std::string& RequestContext::request_id() const { return exchange_.request_id(); }
std::chrono::steady_clock::time_point RequestContext::started() const { return exchange_.started(); }
const std::string& RequestContext::log_prefix() const { return exchange_.log_prefix(); }
Protocol RequestContext::protocol() const { return exchange_.protocol(); }
std::string_view RequestContext::path_param(std::string_view name) const {
  return exchange_.path_param(name);
}
bool RequestContext::shutting_down() const { return exchange_.shutting_down(); }
bool RequestContext::responded() const { return exchange_.responded(); }
bool RequestContext::client_gone() const { return exchange_.peer_closed(); }
RequestNotes& RequestContext::notes() { return exchange_.notes(); }
void RequestContext::tokens_sent(std::size_t tokens) { exchange_.tokens_sent(tokens); }

struct ClientWatch::State {
  asio::cancellation_signal stop;
  bool active = true;  // touched only on the connection's strand
  std::function<void()> on_gone;
};

void ClientWatch::stop() {
  if (!state_) return;
  state_->active = false;
  state_->stop.emit(asio::cancellation_type::terminal);
  state_.reset();
}

ClientWatch RequestContext::watch_client(std::function<void()> on_gone) {
  auto state = std::make_shared<ClientWatch::State>();
  state->on_gone = std::move(on_gone);
  auto* exchange = &exchange_;
  // A wait for readability consumes nothing: the next request's bytes stay for the next read.
  exchange_.socket().async_wait(
      asio::ip::tcp::socket::wait_read,
      asio::bind_cancellation_slot(state->stop.slot(), [state, exchange](const boost::system::error_code& ec) {
        // After stop() the exchange may be gone: touch nothing.
        if (ec || !state->active) return;
        state->active = false;
        if (exchange->peer_closed()) state->on_gone();
      }));
  return ClientWatch(std::move(state));
}


asio::awaitable<void> RequestContext::respond(int status, std::string body, Headers extra_headers,
                                              std::string_view content_type) {
  co_await exchange_.respond(status, std::move(body), std::move(extra_headers), content_type);
}

asio::awaitable<void> RequestContext::respond_error(int status, std::string_view message,
                                                    std::string_view code) {
  co_await exchange_.respond(status, error_body(exchange_.protocol(), status, message, code), {},
                             "application/json");
}

asio::awaitable<SseStream> RequestContext::begin_sse(Headers extra_headers, SseStart start) {
  co_await exchange_.begin_sse(std::move(extra_headers), start == SseStart::with_first_write);
  co_return SseStream(exchange_);
}

asio::awaitable<bool> SseStream::send(std::string_view event, std::string_view data) {
  std::string payload;
  if (!event.empty()) payload.append("event: ").append(event).append("\n");
  std::size_t start = 0;
  for (;;) {
    auto newline = data.find('\n', start);
    auto line = data.substr(start, newline == std::string_view::npos ? data.size() - start
                                                                        : newline - start);
    payload.append("data: ").append(line).append("\n");
    if (newline == std::string_view::npos) break;
    start = newline + 1;
  }
  payload.append("\n");
  bool sent = co_await exchange_->send_sse(std::move(payload), false);
  co_return sent;
}

asio::awaitable<bool> SseStream::send_frames(std::string frames, bool last) {
  if (frames.empty()) {
    if (last) co_await exchange_->close_sse();
    co_return !exchange_->client_gone();
  }
  bool sent = co_await exchange_->send_sse(std::move(frames), last);
  co_return sent;
}

asio::awaitable<bool> SseStream::flush() {
  bool sent = co_await exchange_->flush_sse();
  co_return sent;
}

asio::awaitable<bool> SseStream::comment(std::string_view text) {
  std::string payload = ": ";
  payload.append(text).append("\n\n");
  bool sent = co_await exchange_->send_sse(std::move(payload), false);
  co_return sent;
}

asio::awaitable<void> SseStream::close() { co_await exchange_->close_sse(); }

bool SseStream::client_gone() const { return exchange_->client_gone(); }

}  // namespace tandem::http
