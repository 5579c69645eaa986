#include "cloud/resilience/circuit_breaker.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <vector>

using namespace tandem::resilience;
using namespace std::chrono_literals;

namespace {

BreakerConfig small_config() {
  BreakerConfig config;
  config.consecutive_failures = 3;
  config.failure_ratio = 0.5;
  config.minimum_requests = 10;
  config.window = 10s;
  config.window_buckets = 10;
  config.cooldown = 1s;
  config.cooldown_multiplier = 2.0;
  config.max_cooldown = 5s;
  config.half_open_probes = 2;
  config.half_open_successes = 3;
  return config;
}

struct BreakerFixture : ::testing::Test {
  ManualClock clock;
  std::vector<BreakerTransition> transitions;
  CircuitBreaker breaker{"openai", small_config(), clock,
                         [this](const BreakerTransition& t) { transitions.push_back(t); }};

  void succeed(Millis latency = 100ms) {
    auto permit = breaker.try_acquire();
    ASSERT_TRUE(permit.admitted);
    breaker.record(permit, CallOutcome::success(latency));
  }
  void fail(FailureKind kind = FailureKind::server_error, std::optional<Millis> retry_after = std::nullopt) {
    auto permit = breaker.try_acquire();
    ASSERT_TRUE(permit.admitted);
    breaker.record(permit, CallOutcome::failed(kind, retry_after));
  }
  void trip() {
    for (int i = 0; i < 3; ++i) fail();
    ASSERT_EQ(breaker.state(), BreakerState::open);
  }
};

}  // namespace

TEST_F(BreakerFixture, StartsClosedAndAdmits) {
  EXPECT_EQ(breaker.state(), BreakerState::closed);
  auto permit = breaker.try_acquire();
  EXPECT_TRUE(permit.admitted);
  EXPECT_FALSE(permit.probe);
  EXPECT_TRUE(transitions.empty());
}

TEST_F(BreakerFixture, ConsecutiveFailuresOpenIt) {
  fail();
  fail();
  EXPECT_EQ(breaker.state(), BreakerState::closed);
  fail(FailureKind::timeout);
  EXPECT_EQ(breaker.state(), BreakerState::open);
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_EQ(transitions[0].provider, "openai");
  EXPECT_EQ(transitions[0].from, BreakerState::closed);
  EXPECT_EQ(transitions[0].to, BreakerState::open);
  EXPECT_EQ(transitions[0].reason, "3 consecutive failures (last: timeout); open for 1000 ms");
}

TEST_F(BreakerFixture, ASuccessResetsTheConsecutiveCount) {
  fail();
  fail();
  succeed();
  fail();
  fail();
  EXPECT_EQ(breaker.state(), BreakerState::closed);
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 2);
}

TEST_F(BreakerFixture, OpenRefusesFastWithTheTimeLeft) {
  trip();
  clock.advance(400ms);
  for (int i = 0; i < 5; ++i) {
    auto permit = breaker.try_acquire();
    EXPECT_FALSE(permit.admitted);
    EXPECT_EQ(permit.retry_in, 600ms);
  }
  EXPECT_EQ(breaker.snapshot().total_refused, 5u);
  EXPECT_EQ(breaker.snapshot().open_remaining, 600ms);
}

TEST_F(BreakerFixture, FullWalkOpenHalfOpenExactlyKProbesClosesAfterM) {
  trip();
  clock.advance(999ms);
  EXPECT_FALSE(breaker.try_acquire().admitted);
  clock.advance(1ms);
  // Half-open: exactly K = 2 probes at once, the rest refused fast.
  auto first = breaker.try_acquire();
  auto second = breaker.try_acquire();
  auto third = breaker.try_acquire();
  EXPECT_TRUE(first.admitted && first.probe);
  EXPECT_TRUE(second.admitted && second.probe);
  EXPECT_FALSE(third.admitted);
  EXPECT_EQ(breaker.state(), BreakerState::half_open);
  EXPECT_EQ(breaker.snapshot().probes_in_flight, 2);
  // A finished probe frees its slot for the next one.
  breaker.record(first, CallOutcome::success(50ms));
  auto fourth = breaker.try_acquire();
  EXPECT_TRUE(fourth.admitted && fourth.probe);
  EXPECT_FALSE(breaker.try_acquire().admitted);
  breaker.record(second, CallOutcome::success(50ms));
  EXPECT_EQ(breaker.state(), BreakerState::half_open);  // 2 of M = 3
  breaker.record(fourth, CallOutcome::success(50ms));
  EXPECT_EQ(breaker.state(), BreakerState::closed);
  ASSERT_EQ(transitions.size(), 3u);
  EXPECT_EQ(transitions[1].to, BreakerState::half_open);
  EXPECT_EQ(transitions[1].reason, "open period of 1000 ms elapsed");
  EXPECT_EQ(transitions[2].from, BreakerState::half_open);
  EXPECT_EQ(transitions[2].to, BreakerState::closed);
  EXPECT_EQ(transitions[2].reason, "3 half-open probes succeeded");
  // Closed again: everything is admitted, old failures forgotten.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(breaker.try_acquire().admitted);
  EXPECT_EQ(breaker.snapshot().recent_failures, 0u);
}

TEST_F(BreakerFixture, ProbeFailureReopensWithDoublingCooldownUpToTheCap) {
  trip();  // open for 1 s
  std::vector<Millis> periods;
  for (int round = 0; round < 5; ++round) {
    clock.advance(breaker.snapshot().open_remaining);
    auto probe = breaker.try_acquire();
    ASSERT_TRUE(probe.probe);
    breaker.record(probe, CallOutcome::failed(FailureKind::connect_error));
    ASSERT_EQ(breaker.state(), BreakerState::open);
    periods.push_back(breaker.snapshot().open_remaining);
  }
  EXPECT_EQ(periods, (std::vector<Millis>{2s, 4s, 5s, 5s, 5s}));
  EXPECT_EQ(transitions.back().reason, "half-open probe failed (connect_error); open for 5000 ms");
  // Closing resets the growth: the next trip opens for the base cooldown again.
  clock.advance(5s);
  for (int i = 0; i < 3; ++i) {
    auto probe = breaker.try_acquire();
    breaker.record(probe, CallOutcome::success(10ms));
  }
  ASSERT_EQ(breaker.state(), BreakerState::closed);
  trip();
  EXPECT_EQ(breaker.snapshot().open_remaining, 1s);
}

TEST_F(BreakerFixture, FailureRatioTripsOnlyWithTheMinimumCount) {
  // Alternate success/failure: never 3 in a row, ratio 0.5 but below 10 calls at first.
  for (int i = 0; i < 4; ++i) {
    succeed();
    fail();
  }
  EXPECT_EQ(breaker.state(), BreakerState::closed);  // 8 calls < minimum 10
  succeed();
  fail();  // 10 calls, 5 failures: ratio 0.50 >= 0.5
  EXPECT_EQ(breaker.state(), BreakerState::open);
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_EQ(transitions[0].reason,
            "failure ratio 0.50 (5 of 10 calls in 10000 ms, last: server_error); open for 1000 ms");
}

TEST_F(BreakerFixture, RatioWindowForgetsOldCalls) {
  for (int i = 0; i < 4; ++i) {
    succeed();
    fail();
  }
  clock.advance(10s);  // every bucket left the window
  EXPECT_EQ(breaker.snapshot().recent_requests, 0u);
  succeed();
  fail();
  EXPECT_EQ(breaker.state(), BreakerState::closed);
  EXPECT_EQ(breaker.snapshot().recent_requests, 2u);
  EXPECT_DOUBLE_EQ(breaker.snapshot().recent_error_rate, 0.5);
}

TEST_F(BreakerFixture, CallerErrorsNeverTrip) {
  for (int status : {400, 401, 403, 404, 413, 422}) {
    for (int i = 0; i < 10; ++i) fail(classify_status(status));
  }
  EXPECT_EQ(breaker.state(), BreakerState::closed);
  auto s = breaker.snapshot();
  EXPECT_EQ(s.recent_requests, 0u);
  EXPECT_EQ(s.total_failures, 0u);
  EXPECT_EQ(s.consecutive_failures, 0);
  // Nor do cancellations, nor throttles a retry absorbed.
  for (int i = 0; i < 10; ++i) fail(FailureKind::cancelled);
  for (int i = 0; i < 10; ++i) {
    auto permit = breaker.try_acquire();
    breaker.record(permit, CallOutcome::failed(FailureKind::throttled, std::nullopt, /*retries_spent=*/false));
  }
  EXPECT_EQ(breaker.state(), BreakerState::closed);
}

TEST_F(BreakerFixture, CallerErrorInHalfOpenFreesTheProbeSlotOnly) {
  trip();
  clock.advance(1s);
  auto a = breaker.try_acquire();
  auto b = breaker.try_acquire();
  breaker.record(a, CallOutcome::failed(FailureKind::caller_error));
  EXPECT_EQ(breaker.state(), BreakerState::half_open);
  EXPECT_TRUE(breaker.try_acquire().probe);
  breaker.record(b, CallOutcome::success(1ms));
  EXPECT_EQ(breaker.state(), BreakerState::half_open);
}

TEST_F(BreakerFixture, SpentThrottlesCountAndRetryAfterSetsTheOpenPeriod) {
  fail(FailureKind::throttled);
  fail(FailureKind::throttled);
  fail(FailureKind::throttled, 30s);
  ASSERT_EQ(breaker.state(), BreakerState::open);
  EXPECT_EQ(breaker.snapshot().open_remaining, 30s);
  EXPECT_EQ(transitions.back().reason,
            "3 consecutive failures (last: throttled); retry-after 30000 ms; open for 30000 ms");
  clock.advance(29999ms);
  EXPECT_EQ(breaker.state(), BreakerState::open);
  clock.advance(1ms);
  EXPECT_EQ(breaker.state(), BreakerState::half_open);
}

TEST_F(BreakerFixture, RetryAfterIsCapped) {
  fail();
  fail();
  fail(FailureKind::server_error, std::chrono::hours(2));
  EXPECT_EQ(breaker.snapshot().open_remaining, small_config().max_retry_after);
}

TEST_F(BreakerFixture, StaleResultsDoNotMoveALaterPeriod) {
  auto slow = breaker.try_acquire();  // admitted while closed, finishes after the trip
  trip();
  clock.advance(1s);
  auto probe = breaker.try_acquire();
  ASSERT_TRUE(probe.probe);
  breaker.record(slow, CallOutcome::failed(FailureKind::timeout));
  EXPECT_EQ(breaker.state(), BreakerState::half_open);  // counted, but not a probe failure
  EXPECT_EQ(breaker.snapshot().total_failures, 4u);
  // And the stale call never took a probe slot: one more probe fits (K = 2).
  EXPECT_TRUE(breaker.try_acquire().probe);
}

TEST_F(BreakerFixture, SnapshotCountsAndLatencyEwma) {
  EXPECT_FALSE(breaker.snapshot().latency_ewma_ms.has_value());
  succeed(100ms);
  succeed(200ms);  // 0.2 * 200 + 0.8 * 100
  fail();
  auto s = breaker.snapshot();
  EXPECT_EQ(s.provider, "openai");
  EXPECT_EQ(s.state, BreakerState::closed);
  EXPECT_EQ(s.recent_requests, 3u);
  EXPECT_EQ(s.recent_failures, 1u);
  EXPECT_EQ(s.total_successes, 2u);
  EXPECT_EQ(s.total_failures, 1u);
  ASSERT_TRUE(s.latency_ewma_ms.has_value());
  EXPECT_DOUBLE_EQ(*s.latency_ewma_ms, 120.0);
  auto json = snapshot_to_json(s);
  EXPECT_EQ(json.at("state").as_string(), "closed");
  EXPECT_EQ(json.at("recent_requests").to_number<int>(), 3);
  EXPECT_DOUBLE_EQ(json.at("latency_ewma_ms").as_double(), 120.0);
}

TEST(BreakerConfigTest, DefaultsWhenEmpty) {
  auto config = parse_breaker_config(boost::json::parse("{}"));
  EXPECT_EQ(config.consecutive_failures, 5);
  EXPECT_EQ(config.cooldown, 5s);
  EXPECT_EQ(config.half_open_probes, 1);
}

TEST(BreakerConfigTest, ReadsEveryKey) {
  auto config = parse_breaker_config(boost::json::parse(R"({
    "consecutive_failures": 7, "failure_ratio": 0.25, "minimum_requests": 50, "window_ms": 60000,
    "window_buckets": 12, "cooldown_ms": 2000, "cooldown_multiplier": 3, "max_cooldown_ms": 90000,
    "max_retry_after_ms": 10000, "half_open_probes": 4, "half_open_successes": 5, "latency_alpha": 0.5})"));
  EXPECT_EQ(config.consecutive_failures, 7);
  EXPECT_DOUBLE_EQ(config.failure_ratio, 0.25);
  EXPECT_EQ(config.minimum_requests, 50);
  EXPECT_EQ(config.window, 60s);
  EXPECT_EQ(config.window_buckets, 12);
  EXPECT_EQ(config.cooldown, 2s);
  EXPECT_DOUBLE_EQ(config.cooldown_multiplier, 3.0);
  EXPECT_EQ(config.max_cooldown, 90s);
  EXPECT_EQ(config.max_retry_after, 10s);
  EXPECT_EQ(config.half_open_probes, 4);
  EXPECT_EQ(config.half_open_successes, 5);
  EXPECT_DOUBLE_EQ(config.latency_alpha, 0.5);
}

namespace {
std::string breaker_error(const char* text) {
  try {
    parse_breaker_config(boost::json::parse(text), "providers.openai.breaker");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(BreakerConfigTest, BadValuesNameTheKey) {
  EXPECT_EQ(breaker_error("[]"), "providers.openai.breaker must be a JSON object (got [])");
  EXPECT_EQ(breaker_error(R"({"cooldown": 5})"),
            "providers.openai.breaker.cooldown: unknown key (known: consecutive_failures, failure_ratio, "
            "minimum_requests, window_ms, window_buckets, cooldown_ms, cooldown_multiplier, max_cooldown_ms, "
            "max_retry_after_ms, half_open_probes, half_open_successes, latency_alpha)");
  EXPECT_EQ(breaker_error(R"({"consecutive_failures": 0})"),
            "providers.openai.breaker.consecutive_failures must be an integer from 1 to 1000000 (got 0)");
  EXPECT_EQ(breaker_error(R"({"half_open_probes": 1.5})"),
            "providers.openai.breaker.half_open_probes must be an integer from 1 to 1000 (got 1.5E0)");
  EXPECT_EQ(breaker_error(R"({"failure_ratio": "half"})"),
            "providers.openai.breaker.failure_ratio must be a number from 0.01 to 1 (got \"half\")");
  EXPECT_EQ(breaker_error(R"({"cooldown_ms": -1})"),
            "providers.openai.breaker.cooldown_ms must be a whole number of milliseconds from 0 to 86400000 "
            "(got -1)");
  EXPECT_EQ(breaker_error(R"({"cooldown_ms": 10000, "max_cooldown_ms": 5000})"),
            "providers.openai.breaker.max_cooldown_ms must be at least cooldown_ms (10000)");
}
