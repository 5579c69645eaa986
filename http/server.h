// The HTTP/1.1 server: Boost.Beast over Asio with C++20 coroutines. One acceptor coroutine,
// one coroutine per connection (keep-alive), a routing table of handler coroutines, limits
// (body size, read timeout, connection count), SSE, API keys, request ids, access log,
// metrics, and graceful shutdown.
//
// Handlers are coroutines on the connection's strand (or, on a shard's io_context, its one
// thread); they may co_await anything that completes on that executor (timers, channels fed by
// other threads via asio::post/dispatch, ...):
//
//   router.add("POST", "/v1/echo", [](http::RequestContext& ctx) -> asio::awaitable<void> {
//     co_await ctx.respond(200, ctx.request().body);
//   });
//   router.add("GET", "/v1/stream", [](http::RequestContext& ctx) -> asio::awaitable<void> {
//     auto sse = co_await ctx.begin_sse();
//     if (!co_await sse.send("", R"({"n":1})")) co_return;  // false: the client is gone
//   });
#pragma once

#include "http/cors.h"
#include "http/errors.h"
#include "http/request.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace prometheus {
class Registry;
}

namespace tandem::http {

namespace asio = boost::asio;

namespace detail {
class Exchange;
}

enum class SseStart { now, with_first_write };

// A Server-Sent Events response body. Every event is written (and so flushed) before send()
// returns; a write error means the client went away, which later calls report as false.
class SseStream {
 public:
  // `event` may be empty (no `event:` line); multi-line `data` becomes several `data:` lines.
  asio::awaitable<bool> send(std::string_view event, std::string_view data);
  // Bytes already framed as SSE (whole `event:`/`data:` blocks with their blank lines, e.g. a
  // stream writer's output or an upstream's frames passed through), written as one chunk. With
  // `last` the end of the body goes out in the same write and the stream is closed.
  asio::awaitable<bool> send_frames(std::string frames, bool last = false);
  // Writes a header held by begin_sse(SseStart::with_first_write) if nothing has taken it yet:
  // call before waiting for something to send.
  asio::awaitable<bool> flush();
  // A comment line (": text"), e.g. a keep-alive ping that also probes whether the client is there.
  asio::awaitable<bool> comment(std::string_view text);
  // Ends the stream; done automatically when the handler returns.
  asio::awaitable<void> close();
  bool client_gone() const;

 private:
  friend class RequestContext;
  explicit SseStream(detail::Exchange& exchange) : exchange_(&exchange) {}
  detail::Exchange* exchange_;
};

// While alive, watches the client's side of the connection and runs a callback once if the
// client closes it (see RequestContext::watch_client). Destroying it ends the watch.
class ClientWatch {
 public:
  struct State;
  ClientWatch() = default;
  explicit ClientWatch(std::shared_ptr<State> state) : state_(std::move(state)) {}
  ClientWatch(ClientWatch&&) noexcept = default;
  ClientWatch& operator=(ClientWatch&& other) noexcept {
    if (this != &other) {
      stop();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ClientWatch(const ClientWatch&) = delete;
  ClientWatch& operator=(const ClientWatch&) = delete;
  ~ClientWatch() { stop(); }
  void stop();

 private:
  std::shared_ptr<State> state_;
};

// What a handler learned about its request, for the access log and the HTTP metrics. Empty
// fields are logged as "-" (a route that generates nothing leaves them all empty).
struct RequestNotes {
  std::string backend;  // who answered: "local" or a provider's name; empty: not known
  std::string model;    // the model the client asked for
  std::optional<std::int64_t> tokens_in;
  std::optional<std::int64_t> tokens_out;
};

class RequestContext {
 public:
  explicit RequestContext(detail::Exchange& exchange) : exchange_(exchange) {}

  const Request& request() const;
  const std::string& request_id() const;
  // When the request was read (timing starts here).
  std::chrono::steady_clock::time_point started() const;
  // "[<request id>] ", to start every log line about this request.
  const std::string& log_prefix() const;
  Protocol protocol() const;
  // Value of a `{name}` segment of the matched route pattern; empty when absent.
  std::string_view path_param(std::string_view name) const;
  // True once the server is draining: long handlers may wind down early.
  bool shutting_down() const;

  asio::awaitable<void> respond(int status, std::string body, Headers extra_headers = {},
                                std::string_view content_type = "application/json");
  // An error body in the caller's protocol (see errors.h).
  asio::awaitable<void> respond_error(int status, std::string_view message,
                                      std::string_view code = {});
  // Sends the 200 text/event-stream header (chunked) and returns the stream. With
  // SseStart::with_first_write the header waits for the stream's first write (or flush()), so
  // that a caller with frames in hand sends header and frames in one write.
  asio::awaitable<SseStream> begin_sse(Headers extra_headers = {}, SseStart start = SseStart::now);
  bool responded() const;
  RequestNotes& notes();
  // Generated tokens just reached the client (call after writing them): the first call times the
  // request's time to first token, later ones the gaps between tokens, as the client saw them
  // (tandem_http_time_to_first_token_seconds / _inter_token_seconds by protocol and backend).
  // `tokens` > 1 when several arrived together (they share the gap).
  void tokens_sent(std::size_t tokens = 1);
  // Whether the client has closed its side of the connection (a cheap non-blocking peek at the
  // socket). Lets a handler that is waiting to answer — e.g. a request still queued for a model —
  // give up on a client that left. Streams learn the same from SseStream::send().
  bool client_gone() const;
  // Runs `on_gone` (on this connection's strand) if the client closes its connection while the
  // watch is alive — for a handler that may wait a long time with nothing to write (a cloud
  // upstream still thinking, a backend that has not replied yet), so its work is cancelled within
  // milliseconds instead of at the next write. Bytes of a pipelined request end the watch (the
  // client is there).
  ClientWatch watch_client(std::function<void()> on_gone);

 private:
  detail::Exchange& exchange_;
};

using Handler = std::function<asio::awaitable<void>(RequestContext&)>;

// Method + path -> handler. Patterns are literal paths whose segments may be `{name}` (one
// segment) or, last, `{name*}` (the rest of the path, slashes included).
class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: 404 or 405
    std::string route;                 // the pattern, for metrics and logs
    std::vector<std::pair<std::string, std::string>> params;
    std::string allowed_methods;  // non-empty when the path exists but the method does not: 405
  };
  Match match(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: an ephemeral port, see Server::port()
  int io_threads = 1;
  // When set, connections run on these io_contexts (dealt out in turn) instead of on io_threads
  // threads of the server's own: the actor runtime's shared threads (actors/runtime.h), so a
  // session, the actors it asks and the upstream transfer they start share one thread — one
  // shard per thread, as in Envoy's workers. The acceptor and the signals keep one thread of the
  // server's. These io_contexts must run until wait() returned; once it has, connections still
  // open (past the drain timeout) have been closed, and their last handlers may still run there,
  // so they must be stopped and destroyed before the Server is.
  std::vector<asio::io_context*> io_contexts;
  std::size_t max_connections = 256;
  std::size_t body_limit = 8 * 1024 * 1024;
  std::size_t header_limit = 16 * 1024;
  std::chrono::milliseconds read_timeout{30'000};
  // A client that stops reading a response (or an SSE stream) is dropped after this.
  std::chrono::milliseconds write_timeout{60'000};
  std::chrono::milliseconds drain_timeout{10'000};
  // When non-empty every /v1/* request needs one of these keys.
  std::vector<std::string> api_keys;
  // Browser access from other origins; disabled by default (see http/cors.h).
  CorsPolicy cors;
  // Where HTTP metrics are registered; none when null.
  std::shared_ptr<prometheus::Registry> metrics;
  // Install SIGINT/SIGTERM handlers that start a graceful shutdown.
  bool handle_signals = false;
};

class Server {
 public:
  Server(ServerOptions options, Router router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the I/O threads. Throws std::runtime_error naming the address
  // when the port cannot be bound.
  void start();
  std::uint16_t port() const;
  // Stop accepting, close idle connections, let in-flight responses and streams finish. Safe
  // from any thread (and from handlers).
  void shutdown();
  // Blocks until shutdown() (or a signal) and the drain are over: all connections finished or
  // the drain timeout passed. Afterwards the I/O threads are joined.
  void wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::http
