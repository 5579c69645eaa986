// The upstream client against the scripted fake upstream: answers, streams, keep-alive, every
// timeout naming itself, resets, cancellation the upstream notices, many concurrent streams.
#include "cloud/upstream_client.h"
#include "tests/fakes/fake_answers.h"
#include "tests/fakes/fake_upstream.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <optional>
#include <numeric>
#include <thread>
#include <utility>

namespace tandem::cloud {
namespace {

using namespace std::chrono_literals;
using fakes::FakeAnswer;
using fakes::FakeUpstream;
using fakes::Fault;
using fakes::ScriptedResponse;

struct Outcome {
  ResponseHead head;
  std::string body;
  TransferResult result;
  int headers_calls = 0;
};

// Runs one transfer to its end and returns what the callbacks saw.
Outcome run(UpstreamClient& client, UpstreamRequest request) {
  auto outcome = std::make_shared<Outcome>();
  std::promise<void> done;
  TransferCallbacks callbacks;
  callbacks.on_headers = [outcome](const ResponseHead& head) {
    outcome->head = head;
    ++outcome->headers_calls;
  };
  callbacks.on_body = [outcome](std::string_view bytes) { outcome->body.append(bytes); };
  callbacks.on_done = [outcome, &done](const TransferResult& result) {
    outcome->result = result;
    done.set_value();
  };
  client.start(std::move(request), std::move(callbacks));
  EXPECT_EQ(done.get_future().wait_for(20s), std::future_status::ready);
  return *outcome;
}

UpstreamRequest post(const FakeUpstream& fake, std::string path, std::string body) {
  UpstreamRequest request;
  request.url = fake.base_url() + path;
  request.headers = {{"content-type", "application/json"}, {"x-api-key", "sk-provider"}};
  request.body = std::move(body);
  return request;
}

// The thread a transfer's first body bytes were handed over on, and how it ended.
struct ThreadProbe {
  std::promise<std::thread::id> body_thread;
  std::promise<TransferResult> done;
  bool first_body = true;

  TransferCallbacks callbacks() {
    TransferCallbacks callbacks;
    callbacks.on_body = [this](std::string_view) {
      if (std::exchange(first_body, false)) body_thread.set_value(std::this_thread::get_id());
    };
    callbacks.on_done = [this](const TransferResult& result) { done.set_value(result); };
    return callbacks;
  }
};

std::string joined(const std::vector<std::string>& pieces) {
  return std::accumulate(pieces.begin(), pieces.end(), std::string());
}

TEST(UpstreamClient, CompleteAnswerArrivesWithStatusHeadersAndBody) {
  FakeUpstream fake;
  std::string answer = fakes::anthropic_message_json(FakeAnswer{});
  fake.enqueue(fakes::json_response(200, answer, {{"request-id", "req_upstream"}}));
  UpstreamClient client;

  Outcome outcome = run(client, post(fake, "/v1/messages", R"({"model":"m","max_tokens":5})"));

  ASSERT_TRUE(outcome.result.ok()) << outcome.result.message;
  EXPECT_EQ(outcome.head.status, 200);
  EXPECT_EQ(outcome.result.status, 200);
  EXPECT_EQ(outcome.headers_calls, 1);
  EXPECT_EQ(outcome.head.header("request-id"), "req_upstream");
  EXPECT_EQ(outcome.head.header("content-type"), "application/json");
  EXPECT_EQ(outcome.head.http_version, "1.1");
  EXPECT_EQ(outcome.body, answer);
  auto requests = fake.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/v1/messages");
  EXPECT_EQ(requests[0].body, R"({"model":"m","max_tokens":5})");
  EXPECT_EQ(requests[0].header("x-api-key"), "sk-provider");
  EXPECT_FALSE(requests[0].has_header("expect"));
}

TEST(UpstreamClient, StreamedAnswerIsByteExactAndParsesIntoTheSameEvents) {
  FakeUpstream fake;
  FakeAnswer answer;
  answer.thinking = "Let me think.";
  answer.tool_calls.push_back({"toolu_01", "get_weather", R"({"city":"Paris"})"});
  auto frames = fakes::anthropic_stream_frames(answer);
  fake.enqueue(fakes::sse_response(frames));
  UpstreamClient client;

  std::vector<schemas::SseEvent> events;
  SseBodyAdapter adapter([&](schemas::SseEvent&& event) { events.push_back(std::move(event)); });
  std::promise<TransferResult> done;
  TransferCallbacks callbacks;
  std::string raw;
  callbacks.on_body = [&](std::string_view bytes) {
    raw.append(bytes);
    adapter.feed(bytes);
  };
  callbacks.on_done = [&](const TransferResult& result) { done.set_value(result); };
  client.start(post(fake, "/v1/messages", "{}"), std::move(callbacks));
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(20s), std::future_status::ready);
  auto result = future.get();

  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_FALSE(adapter.finish());
  EXPECT_EQ(raw, joined(frames));
  ASSERT_EQ(events.size(), frames.size());
  EXPECT_EQ(events.front().event, "message_start");
  EXPECT_EQ(events.back().event, "message_stop");
  EXPECT_EQ(std::count_if(events.begin(), events.end(), [](const auto& e) { return e.event == "ping"; }), 1);
}

TEST(UpstreamClient, KeepsTheConnectionAliveBetweenRequests) {
  FakeUpstream fake;
  fake.set_script([](const fakes::RecordedRequest&) { return fakes::json_response(200, "{}"); });
  UpstreamClient client;

  for (int i = 0; i < 3; ++i) ASSERT_TRUE(run(client, post(fake, "/v1/chat/completions", "{}")).result.ok());

  auto requests = fake.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].connection, requests[2].connection);
  EXPECT_EQ(fake.connections_accepted(), 1u);
}

// Easy handles are reused with their options: each transfer still goes out with its own method,
// body, headers and URL, whatever the handle carried before.
TEST(UpstreamClient, AReusedHandleCarriesNothingOverFromItsLastTransfer) {
  FakeUpstream fake;
  fake.set_script([](const fakes::RecordedRequest&) { return fakes::json_response(200, "{}"); });
  UpstreamClient client;

  ASSERT_TRUE(run(client, post(fake, "/v1/a", R"({"n":1})")).result.ok());
  UpstreamRequest get;
  get.method = "GET";
  get.url = fake.base_url() + "/v1/models";
  ASSERT_TRUE(run(client, get).result.ok());
  UpstreamRequest remove;
  remove.method = "DELETE";
  remove.url = fake.base_url() + "/v1/responses/r1";
  ASSERT_TRUE(run(client, remove).result.ok());
  UpstreamRequest last = post(fake, "/v1/b?x=1", R"({"n":2})");
  last.headers = {{"content-type", "application/json"}};
  ASSERT_TRUE(run(client, last).result.ok());

  auto requests = fake.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].body, R"({"n":1})");
  EXPECT_EQ(requests[1].method, "GET");
  EXPECT_EQ(requests[1].target, "/v1/models");
  EXPECT_EQ(requests[1].body, "");
  EXPECT_EQ(requests[1].header("content-type"), "");
  EXPECT_EQ(requests[2].method, "DELETE");
  EXPECT_EQ(requests[2].target, "/v1/responses/r1");
  EXPECT_EQ(requests[3].method, "POST");
  EXPECT_EQ(requests[3].target, "/v1/b?x=1");
  EXPECT_EQ(requests[3].body, R"({"n":2})");
  EXPECT_FALSE(requests[3].has_header("x-api-key"));
  EXPECT_EQ(requests[0].connection, requests[3].connection);  // and the handles shared one connection
}

// Restores a variable of the environment when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ProxySettings, ReadsTheVariablesAsLibcurlDoes) {
  ScopedEnv a("http_proxy", nullptr), b("HTTP_PROXY", "http://cgi-header.invalid:1"), c("https_proxy", nullptr),
      d("HTTPS_PROXY", "http://secure.proxy:3128"), e("all_proxy", nullptr), f("ALL_PROXY", "http://all.proxy:8080"),
      g("no_proxy", "localhost,.internal"), h("NO_PROXY", "ignored");
  auto settings = ProxySettings::from_environment();
  EXPECT_EQ(settings.http, "http://all.proxy:8080");  // never the upper-case HTTP_PROXY
  EXPECT_EQ(settings.https, "http://secure.proxy:3128");
  EXPECT_EQ(settings.no_proxy, "localhost,.internal");
  EXPECT_EQ(settings.for_url("http://api.example/v1"), "http://all.proxy:8080");
  EXPECT_EQ(settings.for_url("https://api.example/v1"), "http://secure.proxy:3128");

  ScopedEnv i("http_proxy", "");  // set but empty: no proxy for http://, as in libcurl
  EXPECT_EQ(ProxySettings::from_environment().http, "");
}

TEST(UpstreamClient, GoesThroughTheProxyUnlessTheHostIsInNoProxy) {
  FakeUpstream proxy;  // answers whatever it is asked, and records the absolute URL a proxy gets
  proxy.set_script([](const fakes::RecordedRequest&) { return fakes::json_response(200, R"({"via":"proxy"})"); });
  FakeUpstream direct;
  direct.set_script([](const fakes::RecordedRequest&) { return fakes::json_response(200, R"({"via":"direct"})"); });

  UpstreamClientOptions options;
  options.proxy = ProxySettings{.http = proxy.base_url(), .https = "", .no_proxy = ""};
  UpstreamClient through(options);
  UpstreamRequest request;
  request.url = "http://upstream.invalid:9/v1/chat/completions";  // resolvable only by the proxy
  request.body = "{}";
  Outcome outcome = run(through, request);
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.message;
  EXPECT_EQ(outcome.body, R"({"via":"proxy"})");
  ASSERT_EQ(proxy.request_count(), 1u);
  EXPECT_EQ(proxy.requests()[0].target, "http://upstream.invalid:9/v1/chat/completions");

  options.proxy->no_proxy = "127.0.0.1";
  UpstreamClient bypassing(options);
  outcome = run(bypassing, post(direct, "/v1/chat/completions", "{}"));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.message;
  EXPECT_EQ(outcome.body, R"({"via":"direct"})");
  EXPECT_EQ(proxy.request_count(), 1u);
}

TEST(UpstreamClient, ErrorStatusIsAnAnswerNotATransferError) {
  FakeUpstream fake;
  std::string error = fakes::openai_error_json("rate_limit_error", "slow down", "rate_limit_exceeded");
  fake.enqueue(fakes::json_response(429, error, {{"retry-after", "7"}, {"x-ratelimit-remaining-requests", "0"}}));
  UpstreamClient client;

  Outcome outcome = run(client, post(fake, "/v1/chat/completions", "{}"));

  ASSERT_TRUE(outcome.result.ok()) << outcome.result.message;
  EXPECT_EQ(outcome.head.status, 429);
  EXPECT_EQ(outcome.head.header("retry-after"), "7");
  EXPECT_EQ(outcome.head.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_EQ(outcome.body, error);
}

TEST(UpstreamClient, RefusedConnectionIsConnectFailed) {
  std::uint16_t closed_port;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    closed_port = acceptor.local_endpoint().port();
  }
  UpstreamClient client;
  UpstreamRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(closed_port) + "/v1/messages";

  Outcome outcome = run(client, request);

  EXPECT_EQ(outcome.result.error, TransferError::connect_failed) << outcome.result.message;
  EXPECT_FALSE(outcome.result.headers_received);
  EXPECT_EQ(outcome.headers_calls, 0);
}

// libcurl's own deadlines (here the connect timeout) reach it through CURLMOPT_TIMERFUNCTION; the
// client's timer is only ever moved earlier and re-arms when it wakes before libcurl's deadline.
TEST(UpstreamClient, ConnectTimeoutComesFromLibcurlsTimer) {
  namespace ip = boost::asio::ip;
  boost::asio::io_context io;
  ip::tcp::acceptor full(io);
  full.open(ip::tcp::v4());
  full.bind({ip::make_address("127.0.0.1"), 0});
  full.listen(0);  // one connection fills the accept queue; later SYNs are dropped, never refused
  ip::tcp::socket filler(io);
  filler.connect(full.local_endpoint());
  UpstreamClient client;
  UpstreamRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(full.local_endpoint().port()) + "/v1/messages";
  request.timeouts.connect = 300ms;
  request.timeouts.headers = 0ms;  // only libcurl's timer can end this transfer
  request.timeouts.idle = 0ms;

  Outcome outcome = run(client, request);

  EXPECT_EQ(outcome.result.error, TransferError::connect_timeout) << outcome.result.message;
  EXPECT_NE(outcome.result.message.find("300 ms"), std::string::npos) << outcome.result.message;
}

TEST(UpstreamClient, StallBeforeHeadersIsHeadersTimeoutAndTheUpstreamSeesTheClose) {
  FakeUpstream fake;
  ScriptedResponse stalled;
  stalled.fault = Fault::stall_before_headers;
  fake.enqueue(stalled);
  UpstreamClient client;
  UpstreamRequest request = post(fake, "/v1/messages", "{}");
  request.timeouts.headers = 200ms;

  Outcome outcome = run(client, request);

  EXPECT_EQ(outcome.result.error, TransferError::headers_timeout);
  EXPECT_NE(outcome.result.message.find("headers timeout"), std::string::npos) << outcome.result.message;
  EXPECT_NE(outcome.result.message.find("200 ms"), std::string::npos) << outcome.result.message;
  EXPECT_TRUE(fake.wait_for_aborted_responses(1, 5s));
}

TEST(UpstreamClient, StallMidStreamIsIdleTimeout) {
  FakeUpstream fake;
  ScriptedResponse stalled = fakes::sse_response(fakes::openai_stream_frames(FakeAnswer{}, true));
  stalled.fault = Fault::stall_mid_body;
  stalled.fault_after = 2;
  fake.enqueue(stalled);
  UpstreamClient client;
  UpstreamRequest request = post(fake, "/v1/chat/completions", "{}");
  request.timeouts.idle = 200ms;

  Outcome outcome = run(client, request);

  EXPECT_EQ(outcome.result.error, TransferError::idle_timeout);
  EXPECT_TRUE(outcome.result.headers_received);
  EXPECT_EQ(outcome.result.status, 200);
  EXPECT_NE(outcome.result.message.find("idle timeout"), std::string::npos) << outcome.result.message;
  EXPECT_EQ(outcome.body, stalled.pieces[0] + stalled.pieces[1]);
  EXPECT_TRUE(fake.wait_for_aborted_responses(1, 5s));
}

TEST(UpstreamClient, SlowDripWithinTheIdleLimitHitsTheTotalLimit) {
  FakeUpstream fake;
  ScriptedResponse drip = fakes::sse_response(std::vector<std::string>(20, "data: {}\n\n"));
  drip.gap = 50ms;
  fake.enqueue(drip);
  UpstreamClient client;
  UpstreamRequest request = post(fake, "/v1/chat/completions", "{}");
  request.timeouts.idle = 2s;
  request.timeouts.total = 300ms;

  Outcome outcome = run(client, request);

  EXPECT_EQ(outcome.result.error, TransferError::total_timeout);
  EXPECT_NE(outcome.result.message.find("total timeout"), std::string::npos) << outcome.result.message;
  EXPECT_GT(outcome.result.body_bytes, 0u);
}

TEST(UpstreamClient, ResetMidStreamIsConnectionReset) {
  FakeUpstream fake;
  for (Fault fault : {Fault::reset_mid_body, Fault::close_mid_body}) {
    ScriptedResponse cut = fakes::sse_response(fakes::anthropic_stream_frames(FakeAnswer{}));
    cut.fault = fault;
    cut.fault_after = 3;
    fake.enqueue(cut);
  }
  ScriptedResponse reset_early;
  reset_early.fault = Fault::reset_before_headers;
  fake.enqueue(reset_early);
  UpstreamClient client;

  for (int i = 0; i < 2; ++i) {
    Outcome outcome = run(client, post(fake, "/v1/messages", "{}"));
    EXPECT_EQ(outcome.result.error, TransferError::connection_reset) << i << ": " << outcome.result.message;
    EXPECT_TRUE(outcome.result.headers_received);
  }
  Outcome outcome = run(client, post(fake, "/v1/messages", "{}"));
  EXPECT_EQ(outcome.result.error, TransferError::connection_reset) << outcome.result.message;
  EXPECT_FALSE(outcome.result.headers_received);
}

TEST(UpstreamClient, CancelAbortsTheTransferAndTheUpstreamNoticesWithinMilliseconds) {
  FakeUpstream fake;
  ScriptedResponse endless = fakes::sse_response(fakes::anthropic_stream_frames(FakeAnswer{}));
  endless.fault = Fault::stall_mid_body;
  endless.fault_after = 1;
  fake.enqueue(endless);
  UpstreamClient client;

  std::promise<void> first_bytes;
  std::promise<TransferResult> done;
  TransferCallbacks callbacks;
  bool signalled = false;
  callbacks.on_body = [&](std::string_view) {
    if (!signalled) first_bytes.set_value();
    signalled = true;
  };
  callbacks.on_done = [&](const TransferResult& result) { done.set_value(result); };
  TransferId id = client.start(post(fake, "/v1/messages", "{}"), std::move(callbacks));
  ASSERT_EQ(first_bytes.get_future().wait_for(10s), std::future_status::ready);

  client.cancel(id);

  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(future.get().error, TransferError::cancelled);
  EXPECT_TRUE(fake.wait_for_aborted_responses(1, 5s));
  EXPECT_EQ(client.active_transfers(), 0u);
}

TEST(UpstreamClient, DestructorCancelsRunningTransfers) {
  FakeUpstream fake;
  ScriptedResponse stalled;
  stalled.fault = Fault::stall_before_headers;
  fake.enqueue(stalled);
  std::promise<TransferResult> done;
  {
    UpstreamClient client;
    TransferCallbacks callbacks;
    callbacks.on_done = [&](const TransferResult& result) { done.set_value(result); };
    client.start(post(fake, "/v1/messages", "{}"), std::move(callbacks));
    ASSERT_TRUE(fake.wait_for_requests(1, 10s));
  }
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(1s), std::future_status::ready);
  EXPECT_EQ(future.get().error, TransferError::cancelled);
  EXPECT_TRUE(fake.wait_for_aborted_responses(1, 5s));
}

// What the actor system's teardown relies on: when shutdown() returns, every callback has run
// (on the client's thread) and none ever runs again, so no callback can release an actor after
// its system is gone.
TEST(UpstreamClient, ShutdownRunsTheLastCallbacksBeforeItReturnsAndNoneAfter) {
  FakeUpstream fake;
  ScriptedResponse stalled;
  stalled.fault = Fault::stall_before_headers;
  fake.enqueue(stalled);
  UpstreamClient client;
  std::promise<TransferResult> done;
  std::thread::id callback_thread;
  TransferCallbacks callbacks;
  callbacks.on_done = [&](const TransferResult& result) {
    callback_thread = std::this_thread::get_id();
    done.set_value(result);
  };
  client.start(post(fake, "/v1/messages", "{}"), std::move(callbacks));
  ASSERT_TRUE(fake.wait_for_requests(1, 10s));

  client.shutdown();
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(0s), std::future_status::ready) << "shutdown() returned before the transfer's last callback";
  EXPECT_EQ(future.get().error, TransferError::cancelled);
  EXPECT_NE(callback_thread, std::this_thread::get_id());

  std::atomic<int> late_calls{0};
  TransferCallbacks late;
  late.on_headers = [&](const ResponseHead&) { ++late_calls; };
  late.on_done = [&](const TransferResult&) { ++late_calls; };
  client.start(post(fake, "/v1/messages", "{}"), std::move(late));
  client.shutdown();  // idempotent
  EXPECT_EQ(late_calls.load(), 0);
  EXPECT_EQ(fake.requests().size(), 1u) << "a transfer started after shutdown() reached the upstream";
}

TEST(UpstreamClient, OnASharedIoContextItsCallbacksRunThereAndShutdownLeavesItRunning) {
  // The actor runtime's shared thread (actors/runtime.h): libcurl's work and callbacks run on the
  // io_context it is given, and shutdown() ends the client without stopping that io_context.
  boost::asio::io_context io(1);
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  {
    FakeUpstream fake;
    std::string answer = fakes::anthropic_message_json(FakeAnswer{});
    fake.enqueue(fakes::json_response(200, answer));
    UpstreamClientOptions options;
    options.io_contexts = {&io};
    UpstreamClient client(options);
    ThreadProbe probe;
    client.start(post(fake, "/v1/messages", "{}"), probe.callbacks());
    auto result = probe.done.get_future();
    ASSERT_EQ(result.wait_for(20s), std::future_status::ready);
    EXPECT_TRUE(result.get().ok());
    EXPECT_EQ(probe.body_thread.get_future().get(), io_thread.get_id());
    client.shutdown();
  }
  EXPECT_FALSE(io.stopped());
  std::promise<void> still_runs;
  boost::asio::post(io, [&] { still_runs.set_value(); });
  EXPECT_EQ(still_runs.get_future().wait_for(10s), std::future_status::ready);
  work.reset();
  io_thread.join();
}

// With several shared io_contexts (the server's shards), a transfer runs on the shard of the thread
// that started it, so a request stays on the thread its HTTP session and actors run on; cancel()
// finds the transfer whichever shard it is on.
TEST(UpstreamClient, OnSeveralIoContextsATransferRunsOnTheShardThatStartedIt) {
  constexpr int kShards = 2;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  UpstreamClientOptions options;
  for (int i = 0; i < kShards; ++i) {
    contexts.push_back(std::make_unique<boost::asio::io_context>(1));
    work.push_back(boost::asio::make_work_guard(*contexts.back()));
    options.io_contexts.push_back(contexts.back().get());
  }
  for (auto& io : contexts) threads.emplace_back([&io] { io->run(); });
  {
    FakeUpstream fake;
    std::string answer = fakes::anthropic_message_json(FakeAnswer{});
    fake.set_script([&](const fakes::RecordedRequest& request) {
      if (request.target == "/v1/stall") {
        ScriptedResponse response;
        response.fault = Fault::stall_before_headers;
        return response;
      }
      return fakes::json_response(200, answer);
    });
    UpstreamClient client(options);
    for (int round = 0; round < 2; ++round) {
      for (int shard = 0; shard < kShards; ++shard) {
        ThreadProbe probe;
        std::thread::id shard_thread;
        boost::asio::post(*contexts[shard], [&] {
          shard_thread = std::this_thread::get_id();
          client.start(post(fake, "/v1/messages", "{}"), probe.callbacks());
        });
        auto result = probe.done.get_future();
        ASSERT_EQ(result.wait_for(20s), std::future_status::ready);
        EXPECT_TRUE(result.get().ok());
        EXPECT_EQ(probe.body_thread.get_future().get(), shard_thread) << "shard " << shard;
      }
    }
    for (int shard = 0; shard < kShards; ++shard) {
      std::promise<TransferId> started;
      std::promise<TransferResult> done;
      boost::asio::post(*contexts[shard], [&] {
        TransferCallbacks callbacks;
        callbacks.on_done = [&](const TransferResult& result) { done.set_value(result); };
        started.set_value(client.start(post(fake, "/v1/stall", "{}"), std::move(callbacks)));
      });
      const TransferId id = started.get_future().get();
      ASSERT_TRUE(fake.wait_for_requests(2 * kShards + shard + 1, 10s));
      client.cancel(id);
      auto result = done.get_future();
      ASSERT_EQ(result.wait_for(10s), std::future_status::ready) << "cancel() missed the transfer on shard " << shard;
      EXPECT_EQ(result.get().error, TransferError::cancelled);
      EXPECT_TRUE(fake.wait_for_aborted_responses(shard + 1, 5s));
    }
    client.shutdown();
  }
  work.clear();
  for (auto& thread : threads) thread.join();
}

TEST(UpstreamClient, ManyConcurrentStreamsOnOneThread) {
  FakeUpstream fake;
  FakeAnswer answer;
  answer.text_pieces = 8;
  auto frames = fakes::openai_stream_frames(answer, true);
  fake.set_script([&](const fakes::RecordedRequest&) {
    ScriptedResponse response = fakes::sse_response(frames);
    response.gap = 5ms;
    return response;
  });
  fake.set_recording(false);
  UpstreamClient client;
  constexpr int kStreams = 300;
  std::atomic<int> ok{0};
  std::atomic<int> finished{0};
  std::promise<void> all_done;
  for (int i = 0; i < kStreams; ++i) {
    auto body = std::make_shared<std::string>();
    TransferCallbacks callbacks;
    callbacks.on_body = [body](std::string_view bytes) { body->append(bytes); };
    callbacks.on_done = [&, body](const TransferResult& result) {
      if (result.ok() && *body == joined(frames)) ok.fetch_add(1);
      if (finished.fetch_add(1) + 1 == kStreams) all_done.set_value();
    };
    client.start(post(fake, "/v1/chat/completions", "{}"), std::move(callbacks));
  }
  ASSERT_EQ(all_done.get_future().wait_for(60s), std::future_status::ready);
  EXPECT_EQ(ok.load(), kStreams);
  EXPECT_EQ(fake.request_count(), static_cast<std::size_t>(kStreams));
}

TEST(SseBodyAdapter, ReportsAMalformedStream) {
  std::vector<schemas::SseEvent> events;
  SseBodyAdapter adapter([&](schemas::SseEvent&& event) { events.push_back(std::move(event)); }, 64);
  EXPECT_TRUE(adapter.feed("data: {\"a\":1}\n\nda"));
  EXPECT_EQ(events.size(), 1u);
  EXPECT_FALSE(adapter.feed(std::string(200, 'x')));
  EXPECT_FALSE(adapter.error().empty());
}

}  // namespace
}  // namespace tandem::cloud
