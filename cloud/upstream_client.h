// The upstream HTTP client of the cloud backends: libcurl's multi-socket API driven by an Asio
// io_context, on a thread of its own or on the server's shared I/O threads (one multi handle per
// thread, see UpstreamClientOptions::io_contexts). No thread per request: one thread multiplexes every transfer
// (thousands of concurrent streams), keeps connections alive per host, uses HTTP/2 multiplexing
// where the upstream offers it, TLS with the system CA bundle and the usual proxy variables.
//
// libcurl never retries on its own here (the cloud provider actor is the one retry owner), and
// every failure says which limit fired (connect, headers, idle gap, total) so the caller can
// decide about retries and breakers.
#pragma once

#include "schemas/sse.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace tandem::cloud {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Zero disables a limit.
struct UpstreamTimeouts {
  std::chrono::milliseconds connect{10'000};   // TCP + TLS handshake
  std::chrono::milliseconds headers{120'000};  // from the start until the response headers are in
  std::chrono::milliseconds idle{120'000};     // longest gap between two body bytes
  std::chrono::milliseconds total{0};          // the whole transfer
};

struct UpstreamRequest {
  std::string method = "POST";
  std::string url;
  HeaderList headers;  // sent as given (Host, Content-Length are libcurl's)
  std::string body;
  UpstreamTimeouts timeouts;
};

enum class TransferError {
  none,
  resolve_failed,    // DNS
  connect_failed,    // refused, unreachable
  connect_timeout,
  headers_timeout,   // connected, but no response headers in time
  idle_timeout,      // the body stalled longer than `idle`
  total_timeout,
  connection_reset,  // closed or reset before the response was complete
  tls_failed,
  protocol_error,    // malformed HTTP from the upstream
  cancelled,         // cancel() or the client's destructor
  other,
};
std::string_view transfer_error_name(TransferError error);

struct TransferResult {
  TransferError error = TransferError::none;
  std::string message;  // names what fired, e.g. "idle timeout: no bytes for 5000 ms"
  int status = 0;       // 0 when no response headers arrived
  bool headers_received = false;
  std::uint64_t body_bytes = 0;

  bool ok() const { return error == TransferError::none; }
};

struct ResponseHead {
  int status = 0;
  HeaderList headers;  // names in lower case, in arrival order
  std::string http_version;  // "1.1", "2"

  std::string_view header(std::string_view lower_name) const;  // empty when absent
};

// Called on the client's thread (the transfer's shard), in this order: on_headers once (if headers arrive), on_body for
// each piece of the body as it arrives, then on_done exactly once. Keep them short; hand work to
// other executors. None is called after cancel() returned on the client's own thread.
struct TransferCallbacks {
  std::function<void(const ResponseHead&)> on_headers;
  std::function<void(std::string_view)> on_body;
  std::function<void(const TransferResult&)> on_done;
};

using TransferId = std::uint64_t;

// Where transfers go through a proxy: the usual variables, as libcurl reads them (http_proxy
// for http:// URLs, lower case only; https_proxy or HTTPS_PROXY for https://; else all_proxy or
// ALL_PROXY; no_proxy or NO_PROXY lists the hosts that go direct). Read once, when the client
// starts, rather than by libcurl on every transfer (a getenv scan of the environment for each
// variable, each time).
struct ProxySettings {
  std::string http;   // proxy for http:// URLs; empty: none
  std::string https;  // proxy for https:// URLs
  std::string no_proxy;
  static ProxySettings from_environment();
  const std::string& for_url(std::string_view url) const;
};

struct UpstreamClientOptions {
  long max_connections_per_host = 0;  // 0: unlimited (HTTP/1.1 needs one per concurrent stream)
  // Idle connections kept for reuse. libcurl's default (4 × the transfers running right now)
  // shrinks whenever a burst ends, closing connections the next burst must open again: at 16
  // concurrent requests one in seven opened a new upstream connection.
  long max_cached_connections = 512;  // 0: libcurl's default
  bool verbose = false;               // libcurl's own trace on stderr (never in production: it prints headers)
  // Run on these io_contexts instead of a thread of the client's own: the actor runtime's shared
  // I/O threads (actors/runtime.h), so the actors and libcurl hand work over without waking another
  // thread. One multi handle (and connection pool) per io_context, like Envoy's per-worker pools:
  // start() uses the one of the calling thread, so a request stays on the shard it came in on.
  // Each must be run by exactly one thread until shutdown() returned, and shutdown() must not be
  // called from one of those threads.
  std::vector<boost::asio::io_context*> io_contexts;
  std::optional<ProxySettings> proxy;  // unset: ProxySettings::from_environment()
};

class UpstreamClient {
 public:
  explicit UpstreamClient(UpstreamClientOptions options = {});
  // Calls shutdown().
  ~UpstreamClient();
  // Cancels the transfers still running (their on_done sees `cancelled`, on the client's thread)
  // and joins the thread; transfers started later never run and get no callbacks. Idempotent.
  // Call it before the actor system its callbacks report to is destroyed: a callback running on
  // the client's thread may hold an actor's last reference, and an actor released after (or
  // while) its system is torn down crashes in its cleanup.
  void shutdown();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // Thread-safe. The transfer starts on the client's thread (with shared io_contexts: the calling
  // thread's, else each in turn); the id names it for cancel().
  TransferId start(UpstreamRequest request, TransferCallbacks callbacks);
  // Thread-safe; aborts the transfer (closing its connection) within milliseconds. on_done gets
  // `cancelled` unless the transfer had already finished. Unknown ids are ignored.
  void cancel(TransferId id);

  // From a transfer's callback: runs `work` after what the callback handed on (a posted
  // handler on the same thread, so the answer it passed to a waiting session goes out first).
  // Bookkeeping that no reply waits for (usage counting) goes here. Called on any other thread,
  // it runs `work` at once.
  void after_callback(std::function<void()> work);

  std::size_t active_transfers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Body bytes in, SSE events out: for callers that want the events of a streamed answer (raw
// bytes still reach `on_raw` first, for byte-exact passthrough).
class SseBodyAdapter {
 public:
  using EventHandler = std::function<void(schemas::SseEvent&&)>;
  explicit SseBodyAdapter(EventHandler on_event, std::size_t max_event_bytes = 16 * 1024 * 1024);

  // Returns false once the stream is malformed (error() says why).
  bool feed(std::string_view bytes);
  // At the end of the body: true when a final event was cut off (a truncated stream).
  bool finish() { return parser_.finish(); }
  const std::string& error() const { return parser_.error(); }

 private:
  EventHandler on_event_;
  schemas::SseParser parser_;
  std::vector<schemas::SseEvent> scratch_;
};

}  // namespace tandem::cloud
