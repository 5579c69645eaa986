// SSE: events produced on another thread reach the client one by one; a client that leaves is
// noticed by the handler (send() returns false) so the work behind it can be cancelled.
#include "tests/http/server_fixture.h"

#include <boost/asio/experimental/concurrent_channel.hpp>
#include <prometheus/registry.h>

#include <atomic>
#include <string>
#include <thread>

namespace tandem::http {
namespace {

using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code, std::string)>;

TEST_F(ServerTest, SseStreamsEventsProducedOnAnotherThread) {
  Router router;
  router.add("GET", "/stream", [](RequestContext& ctx) -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Channel tokens(executor, 8);
    // A producer thread, as the engine will be: it never touches the connection itself.
    std::thread producer([&tokens] {
      for (const char* token : {"Once", " upon", " a\ntime"}) {
        tokens.async_send(boost::system::error_code{}, token, [](boost::system::error_code) {});
      }
      tokens.async_send(boost::system::error_code{}, "", [](boost::system::error_code) {});
    });
    auto stream = co_await ctx.begin_sse();
    for (;;) {
      auto token = co_await tokens.async_receive(asio::use_awaitable);
      if (token.empty()) break;
      bool delivered = co_await stream.send("token", token);
      if (!delivered) break;
    }
    co_await stream.comment("done");
    producer.join();
  });
  start(std::move(router));

  test::HttpClient client("127.0.0.1", port_);
  auto header = client.start_request("GET", "/stream");
  EXPECT_EQ(header.status, 200);
  EXPECT_EQ(header.header("content-type"), "text/event-stream");
  EXPECT_EQ(header.header("cache-control"), "no-cache");
  EXPECT_FALSE(header.header("x-request-id").empty());
  bool done = false;
  std::string body;
  while (!done) body = client.read_more(done);
  EXPECT_EQ(body,
            "event: token\ndata: Once\n\n"
            "event: token\ndata:  upon\n\n"
            "event: token\ndata:  a\ndata: time\n\n"
            ": done\n\n");
  // The chunked stream ended cleanly, so the connection serves the next request.
  EXPECT_EQ(client.start_request("GET", "/stream").status, 200);
}

// The count on the first `<name>_count{...} N` line of a Prometheus text exposition (-1: none).
long metric_count(const std::string& text, const std::string& name) {
  const auto at = text.find(name + "_count{");
  if (at == std::string::npos) return -1;
  const auto end = text.find('\n', at);
  const auto space = text.rfind(' ', end);
  return std::stol(text.substr(space + 1, end - space - 1));
}

TEST_F(ServerTest, TokensWrittenTogetherCountAsTokensWithNoGapBetweenThem) {
  // The relay writes the frames of several waiting events at once (tokens_sent(n)): the first
  // token's time is the time to first token, and every other token is an inter-token gap (0 for
  // those written together), so the histograms count every token whatever the batching.
  auto registry = std::make_shared<prometheus::Registry>();
  ServerOptions options;
  options.metrics = registry;
  Router router;
  router.add("GET", "/stream", [](RequestContext& ctx) -> asio::awaitable<void> {
    auto stream = co_await ctx.begin_sse();
    co_await stream.send("token", "a b c");
    ctx.tokens_sent(3);
    co_await stream.send("token", "d");
    ctx.tokens_sent(1);
  });
  start(std::move(router), options);
  EXPECT_EQ(test::http_request(port_, "GET", "/stream").status, 200);
  std::string text;
  for (int attempt = 0; attempt < 200; ++attempt) {  // observed as the handler runs; read until seen
    text = serialize_metrics(*registry);
    if (metric_count(text, "tandem_http_inter_token_seconds") == 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(metric_count(text, "tandem_http_time_to_first_token_seconds"), 1) << text;
  EXPECT_EQ(metric_count(text, "tandem_http_inter_token_seconds"), 3) << text;
}

TEST_F(ServerTest, SseHandlerLearnsThatTheClientLeft) {
  std::atomic<int> sent_before_gone{-1};
  Router router;
  router.add("GET", "/endless", [&](RequestContext& ctx) -> asio::awaitable<void> {
    auto stream = co_await ctx.begin_sse();
    for (int i = 0; i < 2000; ++i) {
      bool delivered = co_await stream.send("", std::string(64, 'x'));
      if (!delivered) {
        EXPECT_TRUE(stream.client_gone());
        sent_before_gone = i;
        co_return;
      }
      co_await sleep_ms(5);
    }
  });
  start(std::move(router));

  {
    test::HttpClient client("127.0.0.1", port_);
    client.start_request("GET", "/endless");
    bool done = false;
    client.read_more(done);
    client.close();
  }
  for (int i = 0; i < 500 && sent_before_gone < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(sent_before_gone, 1);
  EXPECT_LT(sent_before_gone, 2000);
}

TEST_F(ServerTest, AHeldSseHeaderGoesOutWithTheFirstFramesAndLastFramesEndTheBody) {
  Router router;
  router.add("GET", "/stream", [](RequestContext& ctx) -> asio::awaitable<void> {
    auto stream = co_await ctx.begin_sse({}, SseStart::with_first_write);
    co_await stream.send_frames("data: one\n\n");
    co_await stream.send_frames("data: two\n\n", /*last=*/true);
  });
  router.add("GET", "/nothing", [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.begin_sse({}, SseStart::with_first_write);  // held, then ended by the server
  });
  start(std::move(router));

  test::HttpClient client("127.0.0.1", port_);
  auto header = client.start_request("GET", "/stream");
  EXPECT_EQ(header.status, 200);
  EXPECT_EQ(header.header("content-type"), "text/event-stream");
  bool done = false;
  std::string body;
  while (!done) body = client.read_more(done);
  EXPECT_EQ(body, "data: one\n\ndata: two\n\n");

  // The body ended exactly where it should: the same connection serves the next stream, whose
  // held header goes out with the end of an empty body.
  auto second = client.start_request("GET", "/nothing");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.header("content-type"), "text/event-stream");
  done = false;
  body = "?";
  while (!done) body = client.read_more(done);
  EXPECT_EQ(body, "");
}

TEST_F(ServerTest, FlushSendsAHeldSseHeaderBeforeTheHandlerGoesOn) {
  std::atomic<bool> header_seen{false};
  std::atomic<bool> gave_up{false};
  Router router;
  router.add("GET", "/stream", [&](RequestContext& ctx) -> asio::awaitable<void> {
    auto stream = co_await ctx.begin_sse({}, SseStart::with_first_write);
    co_await stream.flush();
    // Like a backend still thinking: nothing more is written until the client has the header.
    for (int waited = 0; !header_seen; waited += 5) {
      if (waited > 5000) {
        gave_up = true;
        break;
      }
      co_await sleep_ms(5);
    }
    co_await stream.send_frames("data: late\n\n");
  });
  start(std::move(router));

  test::HttpClient client("127.0.0.1", port_, std::chrono::seconds(20));
  auto header = client.start_request("GET", "/stream");
  header_seen = true;
  EXPECT_EQ(header.status, 200);
  bool done = false;
  std::string body;
  while (!done) body = client.read_more(done);
  EXPECT_EQ(body, "data: late\n\n");
  EXPECT_FALSE(gave_up) << "the header reached the client only with the frames";
}

}  // namespace
}  // namespace tandem::http
