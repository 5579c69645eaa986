// The provider actor as the one retry owner, with its circuit breaker, against the scripted fake
// upstream: the fault matrix (how many attempts each fault gets, the waits chosen, what the
// client sees, the breaker's state after, nothing duplicated) and the breaker's walk
// closed -> open -> half-open -> closed. Breaker periods and budgets run on a ManualClock; the
// waits between attempts are chosen with a fixed "random" number and kept to milliseconds.
#include "cloud/resilience/clock.h"
#include "tests/cloud/provider_fixture.h"

#include <future>

namespace tandem::cloud {
namespace {

using namespace test;
using resilience::BreakerState;

class ProviderResilienceTest : public ProviderActorTest {
 protected:
  void TearDown() override {
    actor_ = backend::backend_actor();  // the runtime waits for every actor, and this handle would keep one alive
    ProviderActorTest::TearDown();
  }

  // A provider that retries: up to `attempts` attempts, first wait ceiling 40 ms (the fixed
  // random 0.5 makes it exactly 20 ms, then 40 ms).
  ProviderConfig retrying(schemas::Protocol protocol, int attempts = 3) {
    ProviderConfig config = provider(protocol);
    config.retry.max_attempts = attempts;
    config.retry.base_delay = std::chrono::milliseconds(40);
    config.retry.max_delay = std::chrono::milliseconds(400);
    config.retry.budget_minimum = 100;
    config.breaker.consecutive_failures = 100;
    return config;
  }

  backend::backend_actor spawn_with(ProviderConfig config) {
    ProviderOptions options;
    options.clock = &clock_;
    options.random = [] { return 0.5; };
    monitor_ = std::make_shared<ProviderMonitor>(config.name, nullptr);
    options.monitor = monitor_;
    return spawn_provider_actor(runtime_.system(), std::move(config), {}, client_, std::move(options));
  }

  static BackendRequest routed(BackendRequest request) {
    request.can_fall_back = true;  // the router has another target
    return request;
  }

  static std::string openai_body(bool stream) {
    return std::string(R"({"model":"m","stream":)") + (stream ? "true" : "false") +
           R"(,"max_tokens":20,"messages":[{"role":"user","content":"hi"}]})";
  }

  // The answer's text as the client would assemble it (a retry must never add to it).
  static std::string text_of(const Answer& answer) {
    std::string text;
    for (const auto& event : answer.events)
      if (const auto* stream_event = std::get_if<schemas::StreamEvent>(&event))
        if (const auto* delta = std::get_if<schemas::TextDelta>(stream_event)) text += delta->text;
    return text;
  }

  static bool has_stream_error(const Answer& answer) {
    for (const auto& event : answer.events)
      if (const auto* stream_event = std::get_if<schemas::StreamEvent>(&event))
        if (std::holds_alternative<schemas::StreamError>(*stream_event)) return true;
    return false;
  }

  BreakerState breaker_state() {
    // The snapshot is taken by the actor after each decision; ask it something first so every
    // report sent before has been handled.
    ask<backend::ModelList>(actor_, backend::describe_atom::value);
    return monitor_->status().state;
  }

  resilience::ManualClock clock_;
  std::shared_ptr<ProviderMonitor> monitor_;
  backend::backend_actor actor_;
};

fakes::ScriptedResponse fault(fakes::Fault kind, std::size_t after = 0) {
  auto response = fakes::sse_response(fakes::openai_stream_frames(FakeAnswer{}, true));
  response.fault = kind;
  response.fault_after = after;
  return response;
}

fakes::ScriptedResponse good_stream() { return fakes::sse_response(fakes::openai_stream_frames(FakeAnswer{}, true)); }

// ---------------------------------------------------------------- before the commit point: retried

TEST_F(ProviderResilienceTest, ServerErrorsAreRetriedWithFullJitterThenAnswerOnce) {
  fake_.enqueue(fakes::json_response(500, fakes::openai_error_json("server_error", "boom")));
  fake_.enqueue(fakes::json_response(503, fakes::openai_error_json("server_error", "unavailable")));
  fake_.enqueue(good_stream());
  actor_ = spawn_with(retrying(schemas::Protocol::openai));

  Answer answer = generate(actor_, request(schemas::Protocol::anthropic, openai_body(true), "m"));

  ASSERT_TRUE(answer.reply.accepted) << answer.reply.error.message;
  EXPECT_EQ(fake_.request_count(), 3u);
  EXPECT_EQ(text_of(answer), FakeAnswer{}.text);  // once: nothing of the failed attempts reached the client
  auto status = monitor_->status();
  EXPECT_EQ(status.attempts, 3u);
  ASSERT_EQ(status.retry_delays.size(), 2u);
  // Full jitter: uniform in [0, 40 ms x 2^(retry-1)]; the fixed 0.5 lands in the middle.
  EXPECT_EQ(status.retry_delays[0], std::chrono::milliseconds(20));
  EXPECT_EQ(status.retry_delays[1], std::chrono::milliseconds(40));
  EXPECT_EQ(breaker_state(), BreakerState::closed);
}

TEST_F(ProviderResilienceTest, RetryAfterMsIsWaitedExactlyAndATooLongOneFallsBack) {
  fake_.enqueue(fakes::json_response(429, fakes::openai_error_json("rate_limit_error", "slow down"), {{"retry-after-ms", "35"}}));
  fake_.enqueue(good_stream());
  fake_.enqueue(fakes::json_response(429, fakes::openai_error_json("rate_limit_error", "come back later"), {{"retry-after", "120"}}));
  actor_ = spawn_with(retrying(schemas::Protocol::openai));

  Answer waited = generate(actor_, request(schemas::Protocol::openai, openai_body(true), "m"));
  Answer gave_up = generate(actor_, routed(request(schemas::Protocol::openai, openai_body(true), "m")));

  ASSERT_TRUE(waited.reply.accepted);
  ASSERT_EQ(monitor_->status().retry_delays.size(), 1u);
  EXPECT_EQ(monitor_->status().retry_delays[0], std::chrono::milliseconds(35));
  // 120 s is beyond max_retry_after (30 s): no wait here, the router may try elsewhere.
  EXPECT_FALSE(gave_up.reply.accepted);
  EXPECT_EQ(gave_up.reply.fallback_reason, "upstream_failure");
  EXPECT_EQ(gave_up.reply.error.kind, schemas::ErrorKind::rate_limit);
  EXPECT_EQ(gave_up.reply.error.retry_after, 120);
  EXPECT_EQ(gave_up.reply.error.message, "come back later");
  EXPECT_EQ(fake_.request_count(), 3u);
}

TEST_F(ProviderResilienceTest, CallerErrorsAreNeverRetriedNorCountedAgainstTheProvider) {
  auto config = retrying(schemas::Protocol::openai);
  config.breaker.consecutive_failures = 2;
  for (int i = 0; i < 4; ++i)
    fake_.enqueue(fakes::json_response(400, fakes::openai_error_json("invalid_request_error", "bad field", "bad")));
  actor_ = spawn_with(config);

  for (int i = 0; i < 4; ++i) {
    Answer answer = generate(actor_, routed(request(schemas::Protocol::anthropic, openai_body(true), "m")));
    EXPECT_FALSE(answer.reply.accepted);
    EXPECT_EQ(answer.reply.fallback_reason, "") << "the caller's own error is answered, never failed over";
    EXPECT_EQ(answer.reply.error.kind, schemas::ErrorKind::invalid_request);
  }
  EXPECT_EQ(fake_.request_count(), 4u);
  EXPECT_TRUE(monitor_->status().retry_delays.empty());
  EXPECT_EQ(breaker_state(), BreakerState::closed);
}

TEST_F(ProviderResilienceTest, TheRetryBudgetStopsRetriesDuringAnOutage) {
  auto config = retrying(schemas::Protocol::openai);
  config.retry.budget_minimum = 1;
  config.retry.budget_ratio = 0.0;
  for (int i = 0; i < 6; ++i) fake_.enqueue(fakes::json_response(500, fakes::openai_error_json("server_error", "down")));
  actor_ = spawn_with(config);

  generate(actor_, request(schemas::Protocol::anthropic, openai_body(true), "m"));
  generate(actor_, request(schemas::Protocol::anthropic, openai_body(true), "m"));

  // The first request spends the one retry the budget allows; the second gets one attempt only.
  EXPECT_EQ(fake_.request_count(), 3u);
  EXPECT_EQ(monitor_->status().retries, 1u);
}

// ---------------------------------------------------------------- the fault matrix

struct FaultCase {
  std::string name;
  std::function<fakes::ScriptedResponse()> response;  // served to every attempt
  std::size_t attempts;                               // upstream calls for one request
  enum class Seen { refusal, in_band_error, answer } seen;
  schemas::ErrorKind kind = schemas::ErrorKind::api_error;  // the refusal's
};

TEST_F(ProviderResilienceTest, FaultMatrix) {
  using Seen = FaultCase::Seen;
  auto status = [](int code) {
    return [code] { return fakes::json_response(code, fakes::openai_error_json("server_error", "status " + std::to_string(code))); };
  };
  const std::vector<FaultCase> cases = {
      {"500", status(500), 2, Seen::refusal, schemas::ErrorKind::api_error},
      {"502", status(502), 2, Seen::refusal, schemas::ErrorKind::upstream_error},
      {"503", status(503), 2, Seen::refusal, schemas::ErrorKind::unavailable},
      {"429 retry-after", [] { return fakes::json_response(429, fakes::openai_error_json("rate_limit_error", "slow"), {{"retry-after-ms", "5"}}); },
       2, Seen::refusal, schemas::ErrorKind::rate_limit},
      {"529", status(529), 2, Seen::refusal, schemas::ErrorKind::overloaded},
      {"reset before headers", [] { return fault(fakes::Fault::reset_before_headers); }, 2, Seen::refusal,
       schemas::ErrorKind::upstream_error},
      {"stall before headers", [] { return fault(fakes::Fault::stall_before_headers); }, 2, Seen::refusal,
       schemas::ErrorKind::timeout},
      {"malformed JSON", [] { return fakes::json_response(200, R"({"id":"x","choices":[{"message":)"); }, 2, Seen::refusal,
       schemas::ErrorKind::upstream_error},
      {"reset mid-stream", [] { return fault(fakes::Fault::reset_mid_body, 2); }, 1, Seen::in_band_error},
      {"stall mid-stream", [] { return fault(fakes::Fault::stall_mid_body, 2); }, 1, Seen::in_band_error},
      {"malformed SSE", [] { return fakes::sse_response({"data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
                                                          "data: {not json\n\n"}); },
       1, Seen::in_band_error},
      {"slow drip", [] { auto r = good_stream(); r.gap = std::chrono::milliseconds(30); return r; }, 1, Seen::answer},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::size_t before = fake_.request_count();
    fake_.set_script([&c](const fakes::RecordedRequest&) { return c.response(); });
    auto config = retrying(schemas::Protocol::openai, 2);
    config.timeouts.headers = std::chrono::milliseconds(300);
    config.timeouts.idle = std::chrono::milliseconds(300);
    actor_ = spawn_with(config);

    Answer answer = generate(actor_, routed(request(schemas::Protocol::anthropic, openai_body(true), "m")));

    // Attempts as the provider counts them; the fake may see one more request per attempt when
    // libcurl resends on a keep-alive connection the server closed before answering (its one
    // implicit retry, before any response byte: see cloud/README.md).
    EXPECT_EQ(monitor_->status().attempts, c.attempts);
    EXPECT_GE(fake_.request_count() - before, c.attempts);
    EXPECT_LE(fake_.request_count() - before, 2 * c.attempts);
    switch (c.seen) {
      case Seen::refusal:
        EXPECT_FALSE(answer.reply.accepted);
        EXPECT_EQ(answer.reply.fallback_reason, "upstream_failure");
        EXPECT_EQ(answer.reply.error.kind, c.kind) << answer.reply.error.message;
        EXPECT_TRUE(answer.events.empty());
        ASSERT_EQ(monitor_->status().retry_delays.size(), 1u);
        EXPECT_LE(monitor_->status().retry_delays[0], std::chrono::milliseconds(20));
        break;
      case Seen::in_band_error:
        ASSERT_TRUE(answer.reply.accepted);
        EXPECT_TRUE(has_stream_error(answer));
        EXPECT_TRUE(monitor_->status().retry_delays.empty()) << "never retried after the commit point";
        break;
      case Seen::answer:
        ASSERT_TRUE(answer.reply.accepted);
        EXPECT_FALSE(has_stream_error(answer));
        EXPECT_EQ(text_of(answer), FakeAnswer{}.text);
        break;
    }
    // Retries are invisible, and a cut stream never splices a second answer onto the first.
    if (c.seen != Seen::refusal) {
      EXPECT_LE(text_of(answer).size(), FakeAnswer{}.text.size());
    }
    EXPECT_EQ(breaker_state(), BreakerState::closed);  // 100 consecutive failures open it here
  }
}

TEST_F(ProviderResilienceTest, ConnectionRefusedIsRetriedThenRefusedAsUnavailable) {
  auto config = retrying(schemas::Protocol::openai, 2);
  config.base_url = "http://127.0.0.1:1/v1";
  actor_ = spawn_with(config);

  Answer answer = generate(actor_, routed(request(schemas::Protocol::anthropic, openai_body(true), "m")));

  EXPECT_FALSE(answer.reply.accepted);
  EXPECT_EQ(answer.reply.error.kind, schemas::ErrorKind::unavailable);
  EXPECT_EQ(answer.reply.fallback_reason, "upstream_failure");
  EXPECT_EQ(monitor_->status().attempts, 2u);
}

// ---------------------------------------------------------------- the breaker's walk

TEST_F(ProviderResilienceTest, BreakerOpensRefusesFastProbesWithBoundedConcurrencyAndCloses) {
  auto config = retrying(schemas::Protocol::openai, 1);
  config.breaker.consecutive_failures = 3;
  config.breaker.cooldown = std::chrono::seconds(10);
  config.breaker.half_open_probes = 1;
  config.breaker.half_open_successes = 2;
  actor_ = spawn_with(config);
  for (int i = 0; i < 3; ++i) fake_.enqueue(fakes::json_response(500, fakes::openai_error_json("server_error", "down")));

  // N failures -> open.
  for (int i = 0; i < 3; ++i) generate(actor_, request(schemas::Protocol::anthropic, openai_body(true), "m"));
  EXPECT_EQ(breaker_state(), BreakerState::open);

  // Open: refused at once, the upstream never called, retry-after = the time to the next probe.
  for (int i = 0; i < 2; ++i) {
    Answer refused = generate(actor_, routed(request(schemas::Protocol::anthropic, openai_body(true), "m")));
    EXPECT_FALSE(refused.reply.accepted);
    EXPECT_EQ(refused.reply.fallback_reason, "breaker_open");
    EXPECT_EQ(refused.reply.error.retry_after, 10);
  }
  EXPECT_EQ(fake_.request_count(), 3u);

  // Cooldown over: half-open admits exactly K = 1 probe; a second request meanwhile is refused.
  clock_.advance(std::chrono::seconds(10));
  auto slow = good_stream();
  slow.headers_delay = std::chrono::milliseconds(400);
  fake_.enqueue(slow);
  auto probe = std::async(std::launch::async, [&] {
    return generate(actor_, request(schemas::Protocol::anthropic, openai_body(true), "m"));
  });
  ASSERT_TRUE(fake_.wait_for_requests(4, std::chrono::seconds(5)));
  Answer while_probing = generate(actor_, routed(request(schemas::Protocol::anthropic, openai_body(true), "m")));
  EXPECT_FALSE(while_probing.reply.accepted);
  EXPECT_EQ(while_probing.reply.fallback_reason, "breaker_open");
  Answer probed = probe.get();
  ASSERT_TRUE(probed.reply.accepted);
  EXPECT_EQ(fake_.request_count(), 4u);
  EXPECT_EQ(breaker_state(), BreakerState::half_open);  // M = 2 successes needed

  // The second probe success closes it.
  fake_.enqueue(good_stream());
  Answer second = generate(actor_, request(schemas::Protocol::anthropic, openai_body(true), "m"));
  ASSERT_TRUE(second.reply.accepted);
  EXPECT_EQ(breaker_state(), BreakerState::closed);
}

TEST_F(ProviderResilienceTest, AFailedProbeReopensWithALongerCooldown) {
  auto config = retrying(schemas::Protocol::openai, 1);
  config.breaker.consecutive_failures = 1;
  config.breaker.cooldown = std::chrono::seconds(10);
  config.breaker.cooldown_multiplier = 2.0;
  actor_ = spawn_with(config);
  fake_.set_script([](const fakes::RecordedRequest&) {
    return fakes::json_response(502, fakes::openai_error_json("server_error", "bad gateway"));
  });

  generate(actor_, request(schemas::Protocol::anthropic, openai_body(true), "m"));
  EXPECT_EQ(breaker_state(), BreakerState::open);
  clock_.advance(std::chrono::seconds(10));
  generate(actor_, request(schemas::Protocol::anthropic, openai_body(true), "m"));  // the probe fails
  EXPECT_EQ(breaker_state(), BreakerState::open);

  Answer refused = generate(actor_, routed(request(schemas::Protocol::anthropic, openai_body(true), "m")));
  EXPECT_EQ(refused.reply.fallback_reason, "breaker_open");
  EXPECT_EQ(refused.reply.error.retry_after, 20);  // 10 s x 2
  EXPECT_EQ(fake_.request_count(), 2u);
}

// count_tokens goes through the same breaker: its failures count (never retried), an open breaker
// refuses a count at once without an upstream call, a caller's 4xx does not count, and once the
// cooldown is over a successful count can be the probe that closes it.
TEST_F(ProviderResilienceTest, CountTokensGoesThroughTheBreaker) {
  auto config = retrying(schemas::Protocol::anthropic);  // retries on: a count must still not retry
  config.breaker.consecutive_failures = 2;
  config.breaker.cooldown = std::chrono::seconds(10);
  config.breaker.half_open_probes = 1;
  config.breaker.half_open_successes = 1;
  actor_ = spawn_with(config);
  const std::string body = R"({"model":"m","max_tokens":7,"messages":[{"role":"user","content":"hi"}]})";
  auto count = [&] {
    return ask<backend::TokenCount>(actor_, backend::count_atom::value, request(schemas::Protocol::anthropic, body, "m"));
  };

  // A caller's 400 passes back and counts for nothing.
  fake_.enqueue(fakes::json_response(400, fakes::anthropic_error_json("invalid_request_error", "bad")));
  EXPECT_FALSE(count().counted);
  EXPECT_EQ(breaker_state(), BreakerState::closed);

  // Two upstream failures in a row (one attempt each) open it.
  fake_.enqueue(fakes::json_response(500, fakes::anthropic_error_json("api_error", "boom")));
  fake_.enqueue(fakes::json_response(503, fakes::anthropic_error_json("overloaded_error", "later")));
  EXPECT_FALSE(count().counted);
  EXPECT_EQ(breaker_state(), BreakerState::closed);
  EXPECT_FALSE(count().counted);
  EXPECT_EQ(fake_.request_count(), 3u);
  EXPECT_EQ(breaker_state(), BreakerState::open);

  // Open: refused fast, nothing sent upstream, retry-after = the time to the next probe.
  auto refused = count();
  EXPECT_FALSE(refused.counted);
  EXPECT_EQ(refused.error.kind, schemas::ErrorKind::unavailable);
  EXPECT_EQ(refused.error.retry_after, 10);
  EXPECT_NE(refused.error.message.find("circuit breaker is open"), std::string::npos);
  EXPECT_EQ(fake_.request_count(), 3u);

  // After the cooldown a count is the probe; its success closes the breaker.
  clock_.advance(std::chrono::seconds(10));
  fake_.enqueue(fakes::json_response(200, R"({"input_tokens":42})"));
  auto probed = count();
  ASSERT_TRUE(probed.counted) << probed.error.message;
  EXPECT_EQ(probed.tokens, 42);
  EXPECT_EQ(fake_.request_count(), 4u);
  EXPECT_EQ(breaker_state(), BreakerState::closed);
}

TEST_F(ProviderResilienceTest, ACutStreamCountsAgainstTheProvider) {
  auto config = retrying(schemas::Protocol::openai, 1);
  config.breaker.consecutive_failures = 2;
  actor_ = spawn_with(config);
  fake_.enqueue(fault(fakes::Fault::reset_mid_body, 2));
  fake_.enqueue(fault(fakes::Fault::close_mid_body, 2));

  Answer first = generate(actor_, request(schemas::Protocol::anthropic, openai_body(true), "m"));
  Answer second = generate(actor_, request(schemas::Protocol::anthropic, openai_body(true), "m"));

  EXPECT_TRUE(has_stream_error(first));
  EXPECT_TRUE(has_stream_error(second));
  EXPECT_EQ(breaker_state(), BreakerState::open);
}

// An HTTP session stops reading at the answer's Finish and goes; the upstream's last bytes (the
// stream's end) may come later, and the provider then cancels a transfer whose answer was whole.
// That is a success: counted as a cut stream, a busy gateway's breaker opened on healthy upstreams.
asio::awaitable<void> read_until_finish(actors::EventReceiver<BackendEvent>& rx, bool& finished) {
  for (;;) {
    auto event = co_await rx.next();
    if (!event) co_return;
    const auto* stream_event = std::get_if<schemas::StreamEvent>(&*event);
    if (stream_event && std::holds_alternative<schemas::Finish>(*stream_event)) {
      finished = true;
      rx.cancel();
      co_return;
    }
  }
}

TEST_F(ProviderResilienceTest, AClientThatLeavesAfterACompleteAnswerIsNoFailure) {
  auto config = retrying(schemas::Protocol::anthropic, 1);
  config.breaker.consecutive_failures = 2;
  actor_ = spawn_with(config);
  for (int i = 0; i < 3; ++i) {
    auto response = fakes::sse_response(fakes::anthropic_stream_frames(FakeAnswer{}));
    response.fault = fakes::Fault::stall_mid_body;  // every frame sent, then the body never ends
    response.fault_after = response.pieces.size();
    fake_.enqueue(response);
  }

  for (int i = 0; i < 3; ++i) {
    bool finished = false;
    generate(actor_, request(schemas::Protocol::openai, openai_body(true), "m"),
             [&finished](actors::EventReceiver<BackendEvent>& rx) {
               asio::io_context io;
               asio::co_spawn(io, read_until_finish(rx, finished), asio::detached);
               io.run_for(10s);
             });
    EXPECT_TRUE(finished) << "call " << i;
  }

  ASSERT_TRUE(fake_.wait_for_aborted_responses(3, 10s));  // each transfer was cancelled mid-body
  EXPECT_EQ(breaker_state(), BreakerState::closed);
}

}  // namespace
}  // namespace tandem::cloud
