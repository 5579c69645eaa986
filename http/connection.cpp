// The per-connection coroutine: read a request under the read timeout, run its exchange,
// repeat while keep-alive holds; errors before a handler runs (408/413/431/400) end here.
#include "http/detail/connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <spdlog/spdlog.h>

// GCC 12 reports a false -Wmismatched-new-delete on Asio's awaitable frame allocator (it pairs
// the frame's custom operator new/delete itself); nothing in this file allocates by hand.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace tandem::http::detail {
namespace {

namespace bhttp = beast::http;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// After an early error reply the client may still be sending a body: keep reading (and
// discarding) for this long so the close does not reset the connection before it reads the reply.
constexpr std::chrono::milliseconds kLingerTime{500};
constexpr std::size_t kReadBufferBytes = 8 * 1024;

}  // namespace

Connection::Connection(tcp::socket socket, ServerState& state, bool counted)
    : socket_(std::move(socket)), state_(state), counted_(counted), deadline_(socket_.get_executor()) {
  // Beast reads max(512, free capacity) bytes at a time: a chat request of a few KB (a system
  // prompt, a history) took a system call per 512 bytes before the buffer had grown.
  buffer_.reserve(kReadBufferBytes);
  if (counted_ && state_.metrics) state_.metrics->connection_opened();
}

Connection::~Connection() {
  if (!counted_) return;
  if (state_.metrics) state_.metrics->connection_closed();
  std::lock_guard lock(state_.mutex);
  state_.connections.erase(registration);
  --state_.open_connections;
  state_.changed.notify_all();
}

void Connection::arm_deadline(std::chrono::milliseconds timeout) {
  deadline_at_ = std::chrono::steady_clock::now() + timeout;
  deadline_fired_ = false;
  if (deadline_waiting_ && deadline_.expiry() <= deadline_at_) return;  // wakes early, re-arms then
  wait_for_deadline();
}

void Connection::wait_for_deadline() {
  deadline_waiting_ = true;
  deadline_.expires_at(deadline_at_);  // cancels an existing (later) wait
  // The timer and the connection coroutine share the strand, so cancelling the socket here
  // cannot race with the I/O it cancels.
  deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;  // moved earlier (that wait owns it) or stopped
    self->deadline_waiting_ = false;
    const auto now = std::chrono::steady_clock::now();
    if (self->deadline_at_ == std::chrono::steady_clock::time_point::max()) return;  // nothing timed now
    if (now < self->deadline_at_) {
      self->wait_for_deadline();
      return;
    }
    self->deadline_fired_ = true;
    boost::system::error_code ignored;
    self->socket_.cancel(ignored);
  });
}

bool Connection::disarm_deadline() {
  deadline_at_ = std::chrono::steady_clock::time_point::max();
  return deadline_fired_;
}

void Connection::stop_deadline() {
  deadline_at_ = std::chrono::steady_clock::time_point::max();
  deadline_waiting_ = false;
  deadline_.cancel();  // its handler holds the connection: let it go now, not at the next wake-up
}

void Connection::close_if_idle() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->busy_) return;
    boost::system::error_code ignored;
    self->socket_.cancel(ignored);
  });
}

void Connection::close_now() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
    self->socket_.close(ignored);
  });
}

asio::awaitable<bool> Connection::write(bhttp::message_generator message) {
  arm_deadline(state_.options.write_timeout);
  auto [ec, bytes] = co_await beast::async_write(socket_, std::move(message), kTuple);
  bool timed_out = disarm_deadline();
  (void)bytes;
  co_return !ec && !timed_out;
}

asio::awaitable<bool> Connection::write_bytes(std::string bytes) {
  arm_deadline(state_.options.write_timeout);
  auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(bytes), kTuple);
  bool timed_out = disarm_deadline();
  (void)written;
  co_return !ec && !timed_out;
}

asio::awaitable<void> Connection::linger_close() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  arm_deadline(kLingerTime);
  char sink[16 * 1024];
  for (;;) {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(sink), kTuple);
    (void)n;
    if (ec) break;
  }
  disarm_deadline();
  stop_deadline();
  socket_.close(ignored);
}

asio::awaitable<void> Connection::fail_before_handler(
    bhttp::request_parser<bhttp::string_body>& parser, int status, std::string_view message) {
  auto started = std::chrono::steady_clock::now();
  std::string method = "-";
  std::string target = "-";
  std::optional<std::string_view> client_id;
  Protocol protocol = Protocol::openai;
  if (parser.is_header_done()) {
    const auto& header = parser.get();
    method = std::string(header.method_string());
    target = std::string(header.target());
    if (auto it = header.find("x-request-id"); it != header.end()) client_id = it->value();
    protocol = detect_protocol(split_target(target).first,
                               header.find("anthropic-version") != header.end());
  }
  auto request_id = choose_request_id(client_id);

  bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(status), 11};
  response.set(bhttp::field::server, "tandem");
  response.set(bhttp::field::content_type, "application/json");
  response.set("x-request-id", request_id);
  response.set("request-id", request_id);
  response.keep_alive(false);
  response.body() = error_body(protocol, status, message);
  response.prepare_payload();
  co_await write(bhttp::message_generator(std::move(response)));
  if (state_.metrics) state_.metrics->observe_request("none", method == "-" ? "other" : method, status, 0.0);
  log_access(nullptr, method, target, status, started, request_id);
  co_await linger_close();
}

asio::awaitable<void> Connection::reject_over_limit() {
  bhttp::request_parser<bhttp::string_body> no_request;
  co_await fail_before_handler(
      no_request, 503,
      "The server has too many open connections (limit " +
          std::to_string(state_.options.max_connections) + "); retry later.");
}

asio::awaitable<void> Connection::run() {
  const auto& options = state_.options;
  for (;;) {
    busy_ = false;
    if (state_.shutting_down) break;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(options.body_limit);
    parser.header_limit(static_cast<std::uint32_t>(options.header_limit));

    arm_deadline(options.read_timeout);
    auto [ec, bytes] = co_await bhttp::async_read(socket_, buffer_, parser, kTuple);
    (void)bytes;
    bool timed_out = disarm_deadline();
    if (timed_out) {
      // An idle keep-alive connection just closes; a client that stalled mid-request hears why.
      if (parser.got_some() || buffer_.size() > 0) {
        co_await fail_before_handler(
            parser, 408,
            "Request timed out: the request was not received within " +
                std::to_string(options.read_timeout.count()) + " ms.");
      }
      break;
    }
    if (ec == bhttp::error::body_limit) {
      co_await fail_before_handler(parser, 413,
                                   "Request body too large: the limit is " +
                                       std::to_string(options.body_limit) + " bytes.");
      break;
    }
    if (ec == bhttp::error::header_limit) {
      co_await fail_before_handler(parser, 431,
                                   "Request headers too large: the limit is " +
                                       std::to_string(options.header_limit) + " bytes.");
      break;
    }
    if (ec) {
      bool client_left = ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                         ec == asio::error::operation_aborted ||
                         ec == asio::error::connection_reset;
      if (!client_left && ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category()) {
        co_await fail_before_handler(parser, 400, "Malformed HTTP request: " + ec.message());
      } else if (!client_left && (parser.got_some() || buffer_.size() > 0)) {
        spdlog::debug("connection read failed: {}", ec.message());
      }
      break;
    }

    busy_ = true;
    auto message = parser.release();
    unsigned version = message.version();
    bool keep_alive = message.keep_alive();
    Exchange exchange(*this, to_request(std::move(message)), version, keep_alive);
    co_await exchange.run();
    if (!exchange.keep_alive()) break;
  }
  busy_ = false;
  stop_deadline();
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace tandem::http::detail
