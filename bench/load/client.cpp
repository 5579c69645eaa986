// The HTTP side of tandem-load: one Asio coroutine per client, each with a keep-alive
// connection, reading replies incrementally so every SSE event is timestamped on arrival.
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "bench/load/internal.h"

namespace tandem::load {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);

struct Target {
  std::string host;
  std::string port;
  std::string base_path;  // prefix before "/v1/...", usually empty
};

Target parse_target(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) throw std::invalid_argument("url '" + url + "' is not a valid URL: " + parsed.error().message());
  if (parsed->scheme() != "http")
    throw std::invalid_argument("url '" + url + "': only http:// is supported (no TLS in tandem-load)");
  Target target;
  target.host = parsed->host();
  if (target.host.size() > 2 && target.host.front() == '[') target.host = target.host.substr(1, target.host.size() - 2);
  if (target.host.empty()) throw std::invalid_argument("url '" + url + "' has no host");
  target.port = parsed->has_port() ? std::string(parsed->port()) : "80";
  target.base_path = parsed->path();
  while (!target.base_path.empty() && target.base_path.back() == '/') target.base_path.pop_back();
  // Accept SDK-style base URLs ("http://host:port/v1") as well as bare ones.
  if (target.base_path.size() >= 3 && target.base_path.ends_with("/v1"))
    target.base_path.resize(target.base_path.size() - 3);
  return target;
}

struct Shared {
  explicit Shared(const Config& c) : config(c) {}
  const Config& config;
  Target target;
  tcp::resolver::results_type endpoints;
  std::string path;
  std::vector<std::string> bodies;
  std::atomic<std::int64_t> next{0};
  std::optional<Clock::time_point> deadline;
  Clock::time_point start{};  // open loop: request k is due at start + k / rate
};

struct Connection {
  explicit Connection(const asio::any_io_executor& executor) : stream(executor) {}

  void close() {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    buffer.clear();
    open = false;
  }

  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bool open = false;
};

std::string kind_of(const beast::error_code& ec) { return ec == beast::error::timeout ? "timeout" : "connection"; }

// A reused keep-alive connection the server already closed fails this way before any reply.
bool is_stale_connection(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

void fail(RequestResult& r, std::string kind, std::string message) {
  if (r.error_kind) return;  // keep the first cause
  r.error_kind = std::move(kind);
  r.error_message = std::move(message);
}

void set_common_headers(http::request<http::string_body>& req, const Shared& s) {
  req.set(http::field::host, s.target.host + ":" + s.target.port);
  req.set(http::field::user_agent, "tandem-load");
  if (s.config.protocol == Protocol::anthropic) {
    req.set("anthropic-version", "2023-06-01");
    if (!s.config.api_key.empty()) req.set("x-api-key", s.config.api_key);
  } else if (!s.config.api_key.empty()) {
    req.set(http::field::authorization, "Bearer " + s.config.api_key);
  }
  req.keep_alive(true);
}

// One try at a request. Returns true when it failed only because a reused connection had
// gone stale, so the caller should retry on a fresh connection.
asio::awaitable<bool> attempt(Shared& s, Connection& c, const std::string& body, RequestResult& r) {
  const bool reused = c.open;
  c.stream.expires_at(r.start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(s.config.timeout_s)));
  if (!c.open) {
    auto [ec, endpoint] = co_await c.stream.async_connect(s.endpoints, nothrow_awaitable);
    if (ec) {
      c.close();
      fail(r, kind_of(ec), "connect: " + ec.message());
      co_return false;
    }
    c.open = true;
    c.buffer.reserve(16 * 1024);  // a reply in one read, not 512 bytes first
    // Small requests: Nagle would delay them behind the server's delayed ACK.
    beast::error_code no_delay_ignored;
    c.stream.socket().set_option(tcp::no_delay(true), no_delay_ignored);
  }

  http::request<http::string_body> req{http::verb::post, s.path, 11};
  set_common_headers(req, s);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, s.config.stream ? "text/event-stream" : "application/json");
  req.body() = body;
  req.prepare_payload();
  if (auto [ec, n] = co_await http::async_write(c.stream, req, nothrow_awaitable); ec) {
    c.close();
    if (reused && is_stale_connection(ec)) co_return true;
    fail(r, kind_of(ec), "sending request: " + ec.message());
    co_return false;
  }

  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  if (auto [ec, n] = co_await http::async_read_header(c.stream, c.buffer, parser, nothrow_awaitable); ec) {
    c.close();
    if (reused && is_stale_connection(ec)) co_return true;
    fail(r, kind_of(ec), "reading reply header: " + ec.message());
    co_return false;
  }

  const unsigned status = parser.get().result_int();
  const bool success = status / 100 == 2;
  const bool is_sse = success && std::string_view(parser.get()[http::field::content_type]).starts_with("text/event-stream");
  SseParser sse;
  std::string body_text;
  bool done = false;
  auto take = [&](const ReplyInfo& info, Clock::time_point at) {
    if (info.content) r.content_times.push_back(at);
    if (info.output_tokens) r.usage_tokens = info.output_tokens;
    if (!info.error_kind.empty()) fail(r, info.error_kind, info.error_message);
    done = done || info.done;
  };

  char chunk[16 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    // read_some, not read: read would wait to fill the buffer and blur the arrival times.
    auto [ec, n] = co_await http::async_read_some(c.stream, c.buffer, parser, nothrow_awaitable);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      c.close();
      fail(r, kind_of(ec), "reading reply body: " + ec.message());
      co_return false;
    }
    const std::size_t got = sizeof chunk - parser.get().body().size;
    if (got == 0) continue;
    const auto now = Clock::now();
    if (is_sse) {
      for (const auto& event : sse.feed({chunk, got})) take(interpret_event(s.config, event), now);
    } else {
      body_text.append(chunk, got);
    }
  }
  r.end = Clock::now();
  if (!parser.keep_alive()) c.close();

  if (!success) {
    fail(r, "http_" + std::to_string(status), describe_error_body(body_text));
  } else if (!is_sse) {
    take(interpret_body(s.config, body_text), r.end);
  }
  if (!done) fail(r, "bad_response", is_sse ? "stream ended without its end marker" : "reply incomplete");
  co_return false;
}

asio::awaitable<RequestResult> perform(Shared& s, Connection& c, const std::string& body) {
  RequestResult r;
  r.start = Clock::now();
  if (co_await attempt(s, c, body, r)) {
    const auto start = r.start;
    r = RequestResult{};
    r.start = start;
    co_await attempt(s, c, body, r);
  }
  if (r.end == Clock::time_point{}) r.end = Clock::now();
  co_return r;
}

asio::awaitable<void> run_client(Shared& s, std::vector<RequestResult>& out) {
  Connection c(co_await asio::this_coro::executor);
  asio::steady_timer pacer(co_await asio::this_coro::executor);
  for (;;) {
    const std::int64_t index = s.next.fetch_add(1);
    if (s.config.requests > 0 && index >= s.config.requests) break;
    std::optional<Clock::time_point> due;
    if (s.config.rate > 0) {
      due = s.start + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(static_cast<double>(index) / s.config.rate));
      if (s.deadline && *due >= *s.deadline) break;
      pacer.expires_at(*due);
      co_await pacer.async_wait(nothrow_awaitable);
    } else if (s.deadline && Clock::now() >= *s.deadline) {
      break;
    }
    RequestResult result = co_await perform(s, c, s.bodies[static_cast<std::size_t>(index) % s.bodies.size()]);
    if (due) result.start = *due;  // a late start is the load generator's or the server's delay: count it
    out.push_back(std::move(result));
  }
  if (c.open) c.close();
}

asio::awaitable<std::string> fetch_model(Shared& s) {
  Connection c(co_await asio::this_coro::executor);
  c.stream.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.config.timeout_s)));
  const std::string where = "GET " + s.target.base_path + "/v1/models (to pick a model; pass --model to skip)";
  if (auto [ec, endpoint] = co_await c.stream.async_connect(s.endpoints, nothrow_awaitable); ec)
    throw std::runtime_error(where + ": " + ec.message());
  http::request<http::string_body> req{http::verb::get, s.target.base_path + "/v1/models", 11};
  set_common_headers(req, s);
  req.keep_alive(false);
  http::response<http::string_body> res;
  if (auto [ec, n] = co_await http::async_write(c.stream, req, nothrow_awaitable); ec)
    throw std::runtime_error(where + ": " + ec.message());
  if (auto [ec, n] = co_await http::async_read(c.stream, c.buffer, res, nothrow_awaitable); ec)
    throw std::runtime_error(where + ": " + ec.message());
  c.close();
  if (res.result_int() != 200)
    throw std::runtime_error(where + ": HTTP " + std::to_string(res.result_int()) + " " + describe_error_body(res.body()));
  auto id = first_model_id(res.body());
  if (!id) throw std::runtime_error(where + ": no model id in the reply");
  co_return *id;
}

// Runs spawned coroutines to completion and rethrows the first exception one of them threw.
class Runner {
 public:
  explicit Runner(asio::io_context& ioc) : ioc_(ioc) {}

  auto on_done() {
    return [this](std::exception_ptr e) {
      std::lock_guard lock(mutex_);
      if (e && !error_) error_ = e;
    };
  }

  void run(int threads) {
    std::vector<std::thread> extra;
    for (int i = 1; i < threads; ++i) extra.emplace_back([this] { ioc_.run(); });
    ioc_.run();
    for (auto& t : extra) t.join();
    ioc_.restart();
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  asio::io_context& ioc_;
  std::mutex mutex_;
  std::exception_ptr error_;
};

}  // namespace

Report run_load(const Config& requested) {
  Config config = requested;
  if (config.prompts.empty()) config.prompts = default_prompts();
  validate(config);

  // One thread: no locking in the io_context and no strands (the load generator's own CPU per
  // request competes with the server for the same cores).
  const bool one_thread = config.threads == 1;
  asio::io_context ioc(one_thread ? 1 : BOOST_ASIO_CONCURRENCY_HINT_DEFAULT);
  Runner runner(ioc);
  Shared s{config};
  s.target = parse_target(config.url);
  try {
    tcp::resolver resolver(ioc);
    s.endpoints = resolver.resolve(s.target.host, s.target.port);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot resolve '" + s.target.host + ":" + s.target.port + "': " + e.what());
  }

  std::string model = config.model;
  if (model.empty()) {
    asio::co_spawn(ioc,
                   [&]() -> asio::awaitable<void> { model = co_await fetch_model(s); },
                   runner.on_done());
    runner.run(1);
  }
  s.path = s.target.base_path + request_path(config);
  for (const auto& prompt : config.prompts) s.bodies.push_back(request_body(config, model, prompt));

  std::vector<std::vector<RequestResult>> per_client(static_cast<std::size_t>(config.concurrency));
  const auto start = Clock::now();
  s.start = start;
  if (config.duration_s > 0)
    s.deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(config.duration_s));
  for (auto& results : per_client) {
    if (one_thread) {
      asio::co_spawn(ioc, run_client(s, results), runner.on_done());
    } else {
      asio::co_spawn(asio::make_strand(ioc), run_client(s, results), runner.on_done());
    }
  }
  runner.run(config.threads);
  const double wall_s = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<RequestResult> all;
  for (auto& results : per_client) std::move(results.begin(), results.end(), std::back_inserter(all));
  return aggregate(config, RunInfo{.url = config.url, .path = s.path, .model = model, .wall_s = wall_s}, all);
}

}  // namespace tandem::load
