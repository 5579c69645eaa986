#include "tests/http/server_fixture.h"

#include <boost/json/parse.hpp>
#include <prometheus/registry.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace tandem::http {
namespace {

namespace json = boost::json;
using test::HttpClient;
using test::http_request;

Router echo_router() {
  Router router;
  router.add("POST", "/echo", [](RequestContext& ctx) -> asio::awaitable<void> {
    Headers extra;
    extra.emplace_back("x-path", ctx.request().path);
    co_await ctx.respond(200, ctx.request().body, std::move(extra), "text/plain");
  });
  router.add("GET", "/v1/models", [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.respond(200, R"({"data":[]})");
  });
  router.add("POST", "/v1/messages", [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.respond(200, "{}");
  });
  router.add("GET", "/health", [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.respond(200, R"({"status":"ok"})");
  });
  return router;
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start(echo_router());
  HttpClient client("127.0.0.1", port_);
  for (int i = 0; i < 3; ++i) {
    auto response = client.request("POST", "/echo", "hello " + std::to_string(i));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hello " + std::to_string(i));
    EXPECT_EQ(response.header("x-path"), "/echo");
    EXPECT_TRUE(response.keep_alive);
  }
}

// Responses are formatted by hand (Exchange::respond): the framing a keep-alive client relies on.
TEST_F(ServerTest, ResponsesAreFramedForKeepAliveAndA204HasNoBody) {
  Router router;
  router.add("GET", "/empty", [](RequestContext& ctx) -> asio::awaitable<void> { co_await ctx.respond(204, ""); });
  router.add("GET", "/text", [](RequestContext& ctx) -> asio::awaitable<void> {
    Headers extra;
    extra.emplace_back("x-extra", "1");
    co_await ctx.respond(200, "hello", std::move(extra), "text/plain");
  });
  start(std::move(router));
  HttpClient client("127.0.0.1", port_);
  // Pipelined: the second answer is only read right if the first one's framing was exact.
  client.send_raw("GET /empty HTTP/1.1\r\nHost: x\r\n\r\nGET /text HTTP/1.1\r\nHost: x\r\n\r\n");
  auto empty = client.read_response();
  EXPECT_EQ(empty.status, 204);
  EXPECT_EQ(empty.header("content-length"), "");
  EXPECT_EQ(empty.body, "");
  EXPECT_TRUE(empty.keep_alive);
  auto text = client.read_response();
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(text.body, "hello");
  EXPECT_EQ(text.header("content-length"), "5");
  EXPECT_EQ(text.header("content-type"), "text/plain");
  EXPECT_EQ(text.header("server"), "tandem");
  EXPECT_EQ(text.header("x-extra"), "1");
  EXPECT_FALSE(text.header("x-request-id").empty());
  EXPECT_TRUE(text.keep_alive);

  HttpClient old("127.0.0.1", port_);
  old.send_raw("GET /text HTTP/1.0\r\n\r\n");
  auto answer = old.read_response();
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, "hello");
  EXPECT_FALSE(answer.keep_alive);
  EXPECT_TRUE(old.closed_by_server(std::chrono::seconds(5)));
}

// A handler that watches its client (as a generation does while its backend works) hears when the
// client closes the connection, at once and only then.
TEST_F(ServerTest, AWatchedRequestHearsAtOnceWhenItsClientLeaves) {
  auto gone = std::make_shared<std::promise<void>>();
  auto answered = std::make_shared<std::atomic<bool>>(false);
  Router router;
  router.add("GET", "/watched", [gone, answered](RequestContext& ctx) -> asio::awaitable<void> {
    bool left = false;
    ClientWatch watch = ctx.watch_client([&left, gone] {
      left = true;
      gone->set_value();
    });
    for (int i = 0; i < 200 && !left; ++i) co_await ServerTest::sleep_ms(10);
    if (!left) {
      answered->store(true);
      co_await ctx.respond(200, "still here");
    }
  });
  start(std::move(router));
  HttpClient client("127.0.0.1", port_);
  client.send_raw("GET /watched HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  client.close();
  EXPECT_EQ(gone->get_future().wait_for(std::chrono::seconds(1)), std::future_status::ready);
  EXPECT_FALSE(answered->load());
}

// The watch reads the next request's first bytes: requests pipelined behind a watched one, and
// the ones sent later on the same connection, are read whole and answered in order, and the
// watch does not take their bytes for a client that left.
TEST_F(ServerTest, RequestsBehindAWatchedOneAreAnsweredInOrder) {
  auto false_alarms = std::make_shared<std::atomic<int>>(0);
  Router router;
  router.add("POST", "/watched", [false_alarms](RequestContext& ctx) -> asio::awaitable<void> {
    ClientWatch watch = ctx.watch_client([false_alarms] { ++*false_alarms; });
    co_await ServerTest::sleep_ms(20);
    co_await ctx.respond(200, "got " + ctx.request().body);
  });
  start(std::move(router));
  HttpClient client("127.0.0.1", port_);
  auto post = [](const std::string& body) {
    return "POST /watched HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  const std::string big(20000, 'b');  // larger than the read-ahead's buffer
  client.send_raw(post("one") + post(big) + post("three"));
  EXPECT_EQ(client.read_response().body, "got one");
  EXPECT_EQ(client.read_response().body, "got " + big);
  EXPECT_EQ(client.read_response().body, "got three");
  client.send_raw(post("four"));
  auto four = client.read_response();
  EXPECT_EQ(four.body, "got four");
  EXPECT_TRUE(four.keep_alive);
  EXPECT_EQ(false_alarms->load(), 0);
}

TEST_F(ServerTest, UnknownPathIs404AndWrongMethodIs405WithJsonBodies) {
  start(echo_router());
  auto missing = http_request(port_, "GET", "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("content-type"), "application/json");
  EXPECT_EQ(json::parse(missing.body).at("error").at("message"), "Not found: GET /nope");

  auto wrong = http_request(port_, "DELETE", "/echo");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.header("allow"), "POST");
  EXPECT_EQ(json::parse(wrong.body).at("error").at("type"), "invalid_request_error");

  // /v1/messages* answers in Anthropic's shape.
  auto anthropic = http_request(port_, "GET", "/v1/messages/nope");
  EXPECT_EQ(anthropic.status, 404);
  auto body = json::parse(anthropic.body);
  EXPECT_EQ(body.at("type"), "error");
  EXPECT_EQ(body.at("error").at("type"), "not_found_error");
}

TEST_F(ServerTest, BodyOverTheLimitGets413AndTheConnectionCloses) {
  ServerOptions options;
  options.body_limit = 1024;
  start(echo_router(), options);
  EXPECT_EQ(http_request(port_, "POST", "/echo", std::string(1024, 'a')).status, 200);

  HttpClient client("127.0.0.1", port_);
  auto response = client.request("POST", "/echo", std::string(4096, 'a'));
  EXPECT_EQ(response.status, 413);
  EXPECT_FALSE(response.keep_alive);
  EXPECT_NE(json::parse(response.body).at("error").at("message").as_string().find("1024"),
            std::string::npos);
  EXPECT_TRUE(client.closed_by_server(std::chrono::seconds(5)));
}

TEST_F(ServerTest, StalledClientGets408AndTheConnectionCloses) {
  ServerOptions options;
  options.read_timeout = std::chrono::milliseconds(300);
  start(echo_router(), options);
  HttpClient client("127.0.0.1", port_);
  client.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le");  // half a header, then silence
  auto response = client.read_response();
  EXPECT_EQ(response.status, 408);
  EXPECT_EQ(json::parse(response.body).at("error").at("type"), "invalid_request_error");
  EXPECT_TRUE(client.closed_by_server(std::chrono::seconds(5)));

  // A body that stops short of its Content-Length stalls the same way.
  HttpClient partial_body("127.0.0.1", port_);
  partial_body.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(partial_body.read_response().status, 408);
}

// One watchdog timer per connection: armed for the first read, kept through the later write and
// read deadlines, and re-armed when it wakes before the deadline in force. `busy` is served again
// after its first read's deadline; `idle` must still close at its second read's.
TEST_F(ServerTest, KeepAliveConnectionClosesAtTheReadTimeoutCountedFromItsLastRequest) {
  ServerOptions options;
  options.read_timeout = std::chrono::milliseconds(1000);
  options.write_timeout = std::chrono::seconds(60);
  start(echo_router(), options);
  HttpClient busy("127.0.0.1", port_);
  HttpClient idle("127.0.0.1", port_);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(busy.request("POST", "/echo", "first").status, 200);
  EXPECT_EQ(idle.request("POST", "/echo", "only").status, 200);
  // Past the first read's deadline, well within the second's: the connection must still serve.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  auto second = busy.request("POST", "/echo", "second");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "second");
  EXPECT_TRUE(idle.closed_by_server(std::chrono::seconds(5)));
  EXPECT_TRUE(busy.closed_by_server(std::chrono::seconds(5)));
}

TEST_F(ServerTest, MalformedRequestGets400) {
  start(echo_router());
  HttpClient client("127.0.0.1", port_);
  client.send_raw("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(client.read_response().status, 400);
}

TEST_F(ServerTest, ConnectionsOverTheLimitGet503) {
  ServerOptions options;
  options.max_connections = 2;
  start(echo_router(), options);
  auto first = std::make_unique<HttpClient>("127.0.0.1", port_);
  HttpClient second("127.0.0.1", port_);
  ASSERT_EQ(first->request("GET", "/health").status, 200);
  ASSERT_EQ(second.request("GET", "/health").status, 200);

  HttpClient third("127.0.0.1", port_);
  auto rejected = third.request("GET", "/health");
  EXPECT_EQ(rejected.status, 503);
  EXPECT_NE(std::string(json::parse(rejected.body).at("error").at("message").as_string())
                .find("too many open connections"),
            std::string::npos);

  // Once a connection closes, a new one is served again.
  first->close();
  first.reset();
  int status = 0;
  for (int attempt = 0; attempt < 100 && status != 200; ++attempt) {
    status = http_request(port_, "GET", "/health").status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 200);
}

TEST_F(ServerTest, ApiKeysGuardV1InTheCallersProtocol) {
  ServerOptions options;
  options.api_keys = {"key-one", "key-two"};
  start(echo_router(), options);

  auto missing = http_request(port_, "GET", "/v1/models");
  EXPECT_EQ(missing.status, 401);
  auto openai = json::parse(missing.body);
  EXPECT_EQ(openai.at("error").at("code"), "invalid_api_key");
  EXPECT_TRUE(openai.at("error").at("param").is_null());

  EXPECT_EQ(http_request(port_, "GET", "/v1/models", "", {{"Authorization", "Bearer key-two"}}).status,
            200);
  EXPECT_EQ(http_request(port_, "GET", "/v1/models", "", {{"x-api-key", "key-one"}}).status, 200);
  EXPECT_EQ(http_request(port_, "GET", "/v1/models", "", {{"Authorization", "Bearer key-on"}}).status,
            401);

  auto anthropic = http_request(port_, "POST", "/v1/messages", "{}", {{"x-api-key", "wrong"}});
  EXPECT_EQ(anthropic.status, 401);
  auto body = json::parse(anthropic.body);
  EXPECT_EQ(body.at("type"), "error");
  EXPECT_EQ(body.at("error").at("type"), "authentication_error");

  auto by_header = http_request(port_, "GET", "/v1/models", "", {{"anthropic-version", "2023-06-01"}});
  EXPECT_EQ(json::parse(by_header.body).at("error").at("type"), "authentication_error");

  EXPECT_EQ(http_request(port_, "GET", "/health").status, 200);  // outside /v1: open
}

TEST_F(ServerTest, RequestIdIsEchoedOrGenerated) {
  start(echo_router());
  auto echoed = http_request(port_, "GET", "/health", "", {{"x-request-id", "client-id-7"}});
  EXPECT_EQ(echoed.header("x-request-id"), "client-id-7");
  EXPECT_EQ(echoed.header("request-id"), "client-id-7");

  auto generated = http_request(port_, "GET", "/nope");
  EXPECT_TRUE(generated.header("x-request-id").starts_with("req_"));
  EXPECT_EQ(generated.header("request-id"), generated.header("x-request-id"));
}

TEST_F(ServerTest, HandlerExceptionGives500InTheCallersShape) {
  Router router;
  router.add("GET", "/boom", [](RequestContext&) -> asio::awaitable<void> {
    throw std::runtime_error("kaboom");
    co_return;
  });
  router.add("GET", "/silent", [](RequestContext&) -> asio::awaitable<void> { co_return; });
  start(std::move(router));
  HttpClient client("127.0.0.1", port_);
  auto response = client.request("GET", "/boom");
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(json::parse(response.body).at("error").at("type"), "server_error");
  EXPECT_EQ(response.body.find("kaboom"), std::string::npos);  // internals stay in the log
  EXPECT_EQ(client.request("GET", "/silent").status, 500);      // same connection still usable
}

TEST_F(ServerTest, PathParametersReachTheHandler) {
  Router router;
  router.add("GET", "/v1/models/{model*}", [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.respond(200, std::string(ctx.path_param("model")), {}, "text/plain");
  });
  start(std::move(router));
  EXPECT_EQ(http_request(port_, "GET", "/v1/models/org/name").body, "org/name");
}

TEST_F(ServerTest, MetricsCountRequestsByRouteMethodAndStatus) {
  auto registry = std::make_shared<prometheus::Registry>();
  ServerOptions options;
  options.metrics = registry;
  start(echo_router(), options);
  http_request(port_, "GET", "/health");
  http_request(port_, "GET", "/health");
  http_request(port_, "GET", "/no/such/path");
  // A request is counted after its response is written, so the client may be a moment ahead.
  std::string text;
  for (int attempt = 0; attempt < 200; ++attempt) {
    text = serialize_metrics(*registry);
    if (text.find(R"(route="unmatched",status="404"} 1)") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(text.find(R"(tandem_http_requests_total{method="GET",route="/health",status="200"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(tandem_http_requests_total{method="GET",route="unmatched",status="404"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tandem_http_request_duration_seconds_count{method=\"GET\",protocol=\"none\",route=\"/health\",status=\"200\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("tandem_http_open_connections"), std::string::npos);
}

TEST_F(ServerTest, ShutdownLetsAnInFlightResponseFinish) {
  std::atomic<bool> handler_started{false};
  Router router;
  router.add("GET", "/slow", [&](RequestContext& ctx) -> asio::awaitable<void> {
    handler_started = true;
    co_await sleep_ms(400);
    co_await ctx.respond(200, R"({"done":true})");
  });
  start(std::move(router));

  HttpClient client("127.0.0.1", port_);
  HttpClient idle("127.0.0.1", port_);  // idle keep-alive: closed at once by the shutdown
  test::HttpResponse response;
  std::thread request([&] { response = client.request("GET", "/slow"); });
  while (!handler_started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server_->shutdown();
  request.join();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, R"({"done":true})");
  EXPECT_FALSE(response.keep_alive);  // draining: the connection closes after the response
  EXPECT_TRUE(idle.closed_by_server(std::chrono::seconds(5)));
  server_->wait();
  EXPECT_THROW(http_request(port_, "GET", "/slow"), std::runtime_error);  // no longer listening
  server_.reset();
}

// GET /forever: a handler that sets `started` and then waits a minute before it answers.
Router forever_router(std::atomic<bool>& started) {
  Router router;
  router.add("GET", "/forever", [&started](RequestContext& ctx) -> asio::awaitable<void> {
    started = true;
    asio::steady_timer minute(co_await asio::this_coro::executor, std::chrono::minutes(1));
    co_await minute.async_wait(asio::use_awaitable);
    co_await ctx.respond(200, "{}");
  });
  return router;
}

TEST_F(ServerTest, DrainTimeoutBoundsShutdown) {
  std::atomic<bool> handler_started{false};
  Router router = forever_router(handler_started);
  ServerOptions options;
  options.drain_timeout = std::chrono::milliseconds(300);
  start(std::move(router), options);
  HttpClient client("127.0.0.1", port_);
  client.send_raw("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
  while (!handler_started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto signalled = std::chrono::steady_clock::now();
  server_->shutdown();
  server_->wait();
  const auto waited = std::chrono::steady_clock::now() - signalled;
  // Not a speed target: the bounds are the two behaviours being told apart. At least the drain
  // timeout (the in-flight request was given its time), and far less than the handler's minute
  // (the timeout was applied; the margin absorbs any machine load).
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  EXPECT_LT(waited, std::chrono::seconds(30));
  server_.reset();  // destroying the stopped server closes what was left
  EXPECT_TRUE(client.closed_by_server(std::chrono::seconds(5)));
}

// The actor runtime's shared threads (--actor-threads 0), as the server sees them: io_contexts it
// does not run. Stopped and destroyed before the server is (ServerOptions::io_contexts).
class IoShards {
 public:
  explicit IoShards(int count) {
    for (int i = 0; i < count; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      work_.push_back(asio::make_work_guard(*contexts_.back()));
    }
    for (auto& io : contexts_) threads_.emplace_back([&io] { io->run(); });
  }
  ~IoShards() { stop(); }
  std::vector<asio::io_context*> contexts() const {
    std::vector<asio::io_context*> out;
    for (auto& io : contexts_) out.push_back(io.get());
    return out;
  }
  std::vector<std::thread::id> thread_ids() const {
    std::vector<std::thread::id> out;
    for (auto& thread : threads_) out.push_back(thread.get_id());
    return out;
  }
  void stop() {
    work_.clear();
    for (auto& io : contexts_) io->stop();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    contexts_.clear();
  }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

TEST_F(ServerTest, OnSharedIoContextsConnectionsAreDealtOutInTurnAndHandledThere) {
  IoShards shards(2);
  std::mutex mutex;
  std::vector<std::thread::id> handled_on;
  Router router;
  router.add("GET", "/where", [&](RequestContext& ctx) -> asio::awaitable<void> {
    {
      std::lock_guard lock(mutex);
      handled_on.push_back(std::this_thread::get_id());
    }
    co_await ctx.respond(200, "{}");
  });
  ServerOptions options;
  options.io_contexts = shards.contexts();
  start(std::move(router), options);
  {
    std::vector<std::unique_ptr<HttpClient>> clients;
    for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<HttpClient>("127.0.0.1", port_));
    for (int round = 0; round < 2; ++round) {
      for (auto& client : clients) EXPECT_EQ(client->request("GET", "/where").status, 200);
    }
  }
  const auto shard_threads = shards.thread_ids();
  ASSERT_EQ(handled_on.size(), 8u);
  for (std::size_t i = 0; i < handled_on.size(); ++i) {
    // Connection c (of 4) went to shard c % 2, and its keep-alive requests stayed there.
    EXPECT_EQ(handled_on[i], shard_threads[(i % 4) % 2]) << "request " << i;
  }
  server_->shutdown();
  server_->wait();
  shards.stop();
  server_.reset();
}

TEST_F(ServerTest, OnSharedIoContextsWaitClosesWhatTheDrainLeftOpen) {
  IoShards shards(2);
  std::atomic<bool> handler_started{false};
  Router router = forever_router(handler_started);
  ServerOptions options;
  options.io_contexts = shards.contexts();
  options.drain_timeout = std::chrono::milliseconds(300);
  start(std::move(router), options);
  HttpClient client("127.0.0.1", port_);
  client.send_raw("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
  while (!handler_started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server_->shutdown();
  server_->wait();
  // The shards still run (they are the actors' too), yet the connection is closed.
  EXPECT_TRUE(client.closed_by_server(std::chrono::seconds(5)));
  EXPECT_THROW(http_request(port_, "GET", "/forever"), std::runtime_error);  // no longer listening
  shards.stop();  // destroys the handler's suspended coroutine while the server's state is alive
  server_.reset();
}

}  // namespace
}  // namespace tandem::http
