// Internal to tandem_http: one TCP connection (a keep-alive loop of exchanges) and the state it
// shares with the server. Only http/*.cpp include this header, so Beast stays out of handlers.
#pragma once

#include "http/metrics.h"
#include "http/server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/message_generator.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <optional>

namespace tandem::http::detail {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Executor = asio::strand<asio::io_context::executor_type>;

class Connection;

// What the acceptor, the connections and Server share. Outlives the io_context.
struct ServerState {
  ServerOptions options;
  Router router;
  std::unique_ptr<HttpMetrics> metrics;
  std::atomic<bool> shutting_down{false};

  std::mutex mutex;  // guards the two members below
  std::condition_variable changed;
  std::size_t open_connections = 0;
  std::list<std::weak_ptr<Connection>> connections;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `counted`: false for a connection accepted over the limit, which only gets a 503.
  Connection(tcp::socket socket, ServerState& state, bool counted);
  ~Connection();

  asio::awaitable<void> run();
  asio::awaitable<void> reject_over_limit();
  // From any thread: closes the connection unless a request is being handled.
  void close_if_idle();
  // From any thread: closes the connection even in the middle of a request (after the drain).
  void close_now();
  asio::any_io_executor executor() { return socket_.get_executor(); }

  ServerState& state() { return state_; }
  // Writes a whole message under the write timeout; false when the client is gone.
  asio::awaitable<bool> write(beast::http::message_generator message);
  // Writes raw bytes (e.g. one formatted chunk of a chunked body) under the write timeout.
  asio::awaitable<bool> write_bytes(std::string bytes);
  tcp::socket& socket() { return socket_; }
  std::list<std::weak_ptr<Connection>>::iterator registration;

 private:
  // One watchdog timer per connection: arming records the deadline and moves the timer only
  // when the deadline is earlier than the pending wait; a wake-up before the deadline (or with
  // no operation timed) re-arms or stops. So a keep-alive request costs no timer operations.
  void arm_deadline(std::chrono::milliseconds timeout);
  bool disarm_deadline();  // true when the deadline fired (the pending I/O was cancelled)
  void wait_for_deadline();
  void stop_deadline();
  asio::awaitable<void> fail_before_handler(
      beast::http::request_parser<beast::http::string_body>& parser, int status,
      std::string_view message);
  asio::awaitable<void> linger_close();

  tcp::socket socket_;
  ServerState& state_;
  bool counted_;
  asio::steady_timer deadline_;
  std::chrono::steady_clock::time_point deadline_at_ = std::chrono::steady_clock::time_point::max();  // max: none
  bool deadline_waiting_ = false;  // a wait on deadline_ is pending
  bool deadline_fired_ = false;
  bool busy_ = false;  // a request is being handled: shutdown lets it finish
  beast::flat_buffer buffer_;
};

// One request and its response on a connection.
class Exchange {
 public:
  Exchange(Connection& connection, Request request, unsigned http_version, bool keep_alive);

  // Auth, routing, the handler, fallbacks, metrics and the access log.
  asio::awaitable<void> run();
  bool keep_alive() const { return keep_alive_; }

  // Used by RequestContext / SseStream.
  const Request& request() const { return request_; }
  const std::string& request_id() const { return request_id_; }
  std::chrono::steady_clock::time_point started() const { return started_; }
  const std::string& log_prefix() const { return log_prefix_; }
  Protocol protocol() const { return protocol_; }
  std::string_view path_param(std::string_view name) const;
  bool shutting_down() const { return connection_.state().shutting_down.load(); }
  bool responded() const { return status_ != 0; }
  bool client_gone() const { return client_gone_; }
  // Peeks at the socket: true once the peer has closed or reset the connection.
  bool peer_closed();
  tcp::socket& socket() { return connection_.socket(); }

  asio::awaitable<void> respond(int status, std::string body, Headers extra_headers,
                                std::string_view content_type);
  asio::awaitable<void> begin_sse(Headers extra_headers, bool hold_header);
  asio::awaitable<bool> send_sse(std::string payload, bool last);
  asio::awaitable<bool> flush_sse();
  asio::awaitable<void> close_sse();
  RequestNotes& notes() { return notes_; }
  const RequestNotes& notes_view() const { return notes_; }
  std::optional<double> first_token_seconds() const { return first_token_seconds_; }
  void tokens_sent(std::size_t tokens);

 private:
  // "openai" / "anthropic" for API routes, "none" for the rest (/health, /metrics...).
  std::string_view protocol_label() const;
  asio::awaitable<void> respond_error(int status, std::string message, std::string_view code);
  void set_common_headers(beast::http::fields& fields, const Headers& extra_headers);
  bool authorized() const;

  Connection& connection_;
  Request request_;
  unsigned http_version_;
  bool keep_alive_;
  std::string request_id_;
  std::string log_prefix_;
  Protocol protocol_;
  Router::Match match_;
  int status_ = 0;
  bool sse_open_ = false;
  bool client_gone_ = false;
  // A held SSE header (begin_sse with hold_header): it goes out with the next write.
  std::string held_;
  RequestNotes notes_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> last_token_at_;
  std::optional<double> first_token_seconds_;  // for the access log
};

// Request ids: a client's `x-request-id` when it is sane (1..128 of [A-Za-z0-9._:-]), else new.
std::string choose_request_id(std::optional<std::string_view> from_client);
// Compares without an early exit, so timing does not reveal how much of a key matched.
bool constant_time_equals(std::string_view a, std::string_view b);
// Converts a parsed Beast request into the handler-facing Request.
Request to_request(beast::http::request<beast::http::string_body>&& message);
void log_access(const Exchange* exchange, std::string_view method, std::string_view target,
                int status, std::chrono::steady_clock::time_point started,
                const std::string& request_id);

}  // namespace tandem::http::detail
