#include "cloud/resilience/retry_policy.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <random>

using namespace tandem::resilience;
using namespace std::chrono_literals;

namespace {

RetryConfig small_config() {
  RetryConfig config;
  config.max_attempts = 4;
  config.base_delay = 100ms;
  config.multiplier = 2.0;
  config.max_delay = 1000ms;
  config.max_retry_after = 20s;
  config.attempt_timeout = 30s;
  config.budget_ratio = 0.2;
  config.budget_minimum = 2;
  config.budget_window = 10s;
  config.budget_buckets = 10;
  return config;
}

UniformRandom seeded(uint32_t seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed);
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

UniformRandom fixed(double value) {
  return [value] { return value; };
}

}  // namespace

TEST(RetryPolicyTest, CeilingDoublesUpToTheCap) {
  ManualClock clock;
  RetryPolicy policy(small_config(), clock, fixed(0.5));
  EXPECT_EQ(policy.backoff_ceiling(1), 100ms);
  EXPECT_EQ(policy.backoff_ceiling(2), 200ms);
  EXPECT_EQ(policy.backoff_ceiling(3), 400ms);
  EXPECT_EQ(policy.backoff_ceiling(4), 800ms);
  EXPECT_EQ(policy.backoff_ceiling(5), 1000ms);
  EXPECT_EQ(policy.backoff_ceiling(40), 1000ms);
}

TEST(RetryPolicyTest, FullJitterEndsAreReachable) {
  ManualClock clock;
  RetryPolicy low(small_config(), clock, fixed(0.0));
  RetryPolicy high(small_config(), clock, fixed(0.9999999));
  EXPECT_EQ(low.backoff(3), 0ms);
  EXPECT_EQ(high.backoff(3), 400ms);
}

TEST(RetryPolicyTest, FullJitterStaysInBoundsAndSpreadsOverManySeededDraws) {
  ManualClock clock;
  for (uint32_t seed : {1u, 42u, 2026u}) {
    RetryPolicy policy(small_config(), clock, seeded(seed));
    for (int retry = 1; retry <= 6; ++retry) {
      Millis ceiling = policy.backoff_ceiling(retry);
      Millis lowest = ceiling, highest{0};
      double sum = 0;
      const int draws = 4000;
      for (int i = 0; i < draws; ++i) {
        Millis delay = policy.backoff(retry);
        ASSERT_GE(delay, 0ms);
        ASSERT_LE(delay, ceiling);
        lowest = std::min(lowest, delay);
        highest = std::max(highest, delay);
        sum += double(delay.count());
      }
      // Full jitter: uniform over [0, ceiling] — both ends visited, the mean near the middle.
      EXPECT_LE(lowest.count(), ceiling.count() / 20) << "seed " << seed << " retry " << retry;
      EXPECT_GE(highest.count(), ceiling.count() * 19 / 20) << "seed " << seed << " retry " << retry;
      EXPECT_NEAR(sum / draws, double(ceiling.count()) / 2, double(ceiling.count()) * 0.05);
    }
  }
}

TEST(RetryPolicyTest, RetriesUntilMaxAttemptsWithJitteredDelays) {
  ManualClock clock;
  RetryPolicy policy(small_config(), clock, fixed(0.5));
  for (int i = 0; i < 20; ++i) policy.budget().record_request();  // plenty of budget
  RequestAttempts attempts(policy);
  std::vector<Millis> delays;
  RetryDecision decision;
  do {
    attempts.begin_attempt();
    decision = attempts.after_failure(CallOutcome::failed(FailureKind::server_error));
    if (decision.retry) delays.push_back(decision.delay);
  } while (decision.retry);
  EXPECT_EQ(attempts.attempts(), 4);
  EXPECT_EQ(delays, (std::vector<Millis>{50ms, 100ms, 200ms}));
  EXPECT_EQ(decision.reason, GiveUpReason::attempts_exhausted);
  EXPECT_EQ(decision.detail, "server_error on attempt 4 of 4");
}

TEST(RetryPolicyTest, AttemptDeadlineIsThePerAttemptTimeout) {
  ManualClock clock;
  RetryPolicy policy(small_config(), clock, fixed(0.5));
  RequestAttempts attempts(policy);
  EXPECT_EQ(attempts.begin_attempt(), clock.now() + 30s);
  clock.advance(5s);
  EXPECT_EQ(attempts.begin_attempt(), clock.now() + 30s);
}

TEST(RetryPolicyTest, NothingIsRetriedAfterTheCommitPoint) {
  ManualClock clock;
  RetryPolicy policy(small_config(), clock, fixed(0.5));
  RequestAttempts attempts(policy);
  attempts.begin_attempt();
  attempts.commit();
  EXPECT_TRUE(attempts.committed());
  auto decision = attempts.after_failure(CallOutcome::failed(FailureKind::stream_cut));
  EXPECT_FALSE(decision.retry);
  EXPECT_EQ(decision.reason, GiveUpReason::committed);
  EXPECT_EQ(policy.budget().remaining(), 2);  // and no budget was spent on it
}

TEST(RetryPolicyTest, CallerErrorsAreNotRetried) {
  ManualClock clock;
  RetryPolicy policy(small_config(), clock, fixed(0.5));
  RequestAttempts attempts(policy);
  attempts.begin_attempt();
  auto decision = attempts.after_failure(CallOutcome::failed(classify_status(422)));
  EXPECT_FALSE(decision.retry);
  EXPECT_EQ(decision.reason, GiveUpReason::not_retryable);
  EXPECT_EQ(decision.detail, "caller_error is not retryable");
}

TEST(RetryPolicyTest, RetryAfterIsHonouredOrAbandonedAboveTheCap) {
  ManualClock clock;
  RetryPolicy policy(small_config(), clock, fixed(0.5));
  RequestAttempts attempts(policy);
  attempts.begin_attempt();
  auto decision = attempts.after_failure(CallOutcome::failed(FailureKind::throttled, 7s, false));
  EXPECT_TRUE(decision.retry);
  EXPECT_EQ(decision.delay, 7s);
  attempts.begin_attempt();
  decision = attempts.after_failure(CallOutcome::failed(FailureKind::throttled, 21s, false));
  EXPECT_FALSE(decision.retry);
  EXPECT_EQ(decision.reason, GiveUpReason::retry_after_too_long);
  EXPECT_EQ(decision.detail, "retry-after 21000 ms exceeds the cap of 20000 ms");
}

TEST(RetryPolicyTest, BudgetRunsOutAndRecoversOverTheWindow) {
  ManualClock clock;
  RetryPolicy policy(small_config(), clock, fixed(0.5));
  RetryBudget& budget = policy.budget();
  // Few requests: the minimum (2) applies.
  EXPECT_EQ(budget.remaining(), 2);
  // 20 requests allow 20% = 4 retries.
  for (int i = 0; i < 20; ++i) budget.record_request();
  EXPECT_EQ(budget.remaining(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(budget.try_spend());
  EXPECT_FALSE(budget.try_spend());
  EXPECT_EQ(budget.remaining(), 0);
  // A request whose retry the budget refuses gives up with that reason.
  RequestAttempts attempts(policy);
  attempts.begin_attempt();  // request 21: still floor(0.2 * 21) = 4
  auto decision = attempts.after_failure(CallOutcome::failed(FailureKind::timeout));
  EXPECT_FALSE(decision.retry);
  EXPECT_EQ(decision.reason, GiveUpReason::budget_spent);
  // Half a window later nothing has left it yet.
  clock.advance(5s);
  EXPECT_EQ(budget.remaining(), 0);
  // Once the window has slid past them, the minimum is available again.
  clock.advance(5s);
  EXPECT_EQ(budget.remaining(), 2);
  EXPECT_TRUE(budget.try_spend());
}

TEST(RetryPolicyTest, BudgetSlidesBucketByBucket) {
  ManualClock clock;
  auto config = small_config();
  config.budget_minimum = 0;
  config.budget_ratio = 0.5;
  RetryPolicy policy(config, clock, fixed(0.5));
  RetryBudget& budget = policy.budget();
  for (int i = 0; i < 10; ++i) budget.record_request();  // t = 0: 10 requests
  clock.advance(5s);
  for (int i = 0; i < 4; ++i) budget.record_request();  // t = 5 s: 4 more
  EXPECT_EQ(budget.remaining(), 7);
  clock.advance(5s);  // t = 10 s: the first 10 left the window
  EXPECT_EQ(budget.remaining(), 2);
}

TEST(RetryConfigTest, DefaultsAndKeys) {
  auto defaults = parse_retry_config(boost::json::parse("{}"));
  EXPECT_EQ(defaults.max_attempts, 3);
  EXPECT_DOUBLE_EQ(defaults.budget_ratio, 0.2);
  auto config = parse_retry_config(boost::json::parse(
      R"({"max_attempts": 5, "base_delay_ms": 250, "multiplier": 3, "max_delay_ms": 4000,
          "max_retry_after_ms": 9000, "attempt_timeout_ms": 15000, "budget_ratio": 0.1,
          "budget_minimum": 1, "budget_window_ms": 20000, "budget_buckets": 4})"));
  EXPECT_EQ(config.max_attempts, 5);
  EXPECT_EQ(config.base_delay, 250ms);
  EXPECT_DOUBLE_EQ(config.multiplier, 3.0);
  EXPECT_EQ(config.max_delay, 4s);
  EXPECT_EQ(config.max_retry_after, 9s);
  EXPECT_EQ(config.attempt_timeout, 15s);
  EXPECT_DOUBLE_EQ(config.budget_ratio, 0.1);
  EXPECT_EQ(config.budget_minimum, 1);
  EXPECT_EQ(config.budget_window, 20s);
  EXPECT_EQ(config.budget_buckets, 4);
}

TEST(RetryConfigTest, BadValuesNameTheKey) {
  auto error = [](const char* text) -> std::string {
    try {
      parse_retry_config(boost::json::parse(text), "providers.anthropic.retry");
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error(R"({"max_attempts": 0})"),
            "providers.anthropic.retry.max_attempts must be an integer from 1 to 100 (got 0)");
  EXPECT_EQ(error(R"({"attempt_timeout_ms": "30s"})"),
            "providers.anthropic.retry.attempt_timeout_ms must be a whole number of milliseconds from 1 to "
            "86400000 (got \"30s\")");
  EXPECT_EQ(error(R"({"base_delay_ms": 5000, "max_delay_ms": 1000})"),
            "providers.anthropic.retry.max_delay_ms must be at least base_delay_ms (5000)");
  EXPECT_EQ(error(R"({"retries": 2})"),
            "providers.anthropic.retry.retries: unknown key (known: max_attempts, base_delay_ms, multiplier, "
            "max_delay_ms, max_retry_after_ms, attempt_timeout_ms, budget_ratio, budget_minimum, "
            "budget_window_ms, budget_buckets)");
}
