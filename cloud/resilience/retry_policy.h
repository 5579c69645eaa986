// The one place that decides whether an upstream call is tried again, and after how long.
//
// Exponential backoff with full jitter (the wait is uniform in [0, ceiling], the ceiling
// doubling per retry up to a cap), the provider's retry-after / retry-after-ms honoured (up to a
// cap: a longer one means "not here, fall back"), a per-attempt timeout, and a retry budget per
// provider so an outage never multiplies the load on it: retries within the budget window may
// be at most budget_ratio x the requests in it (but budget_minimum are always allowed).
//
// The commit point is part of the API: once RequestAttempts::commit() is called (the first
// content byte went to the client) every later failure is final, because a retry would splice
// a second answer onto the first.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

#include "cloud/resilience/clock.h"
#include "cloud/resilience/config_error.h"
#include "cloud/resilience/outcome.h"
#include "cloud/resilience/sliding_window.h"

namespace tandem::resilience {

// JSON keys (all optional) in brackets; see parse_retry_config.
struct RetryConfig {
  int max_attempts = 3;            // [max_attempts] per request and provider, the first included
  Millis base_delay{500};          // [base_delay_ms] jitter ceiling of the first retry
  double multiplier = 2.0;         // [multiplier] ceiling growth per retry
  Millis max_delay{8'000};         // [max_delay_ms] cap of the ceiling
  Millis max_retry_after{30'000};  // [max_retry_after_ms] a longer retry-after: give up (fall back)
  Millis attempt_timeout{60'000};  // [attempt_timeout_ms] one attempt, to its response headers
  double budget_ratio = 0.2;       // [budget_ratio] retries <= this share of recent requests...
  int budget_minimum = 3;          // [budget_minimum] ...but this many are always allowed
  Millis budget_window{10'000};    // [budget_window_ms] what "recent" means
  int budget_buckets = 10;         // [budget_buckets] resolution of that window
};

RetryConfig parse_retry_config(const boost::json::value& value, std::string_view where = "retry");

// A `retry-after` value: delay-seconds ("120") or an HTTP-date (IMF-fixdate, RFC 850 or asctime,
// RFC 9110 section 10.2.3), relative to `now` (a date in the past is 0). nullopt for garbage.
std::optional<Millis> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now);
// A `retry-after-ms` value (OpenAI's): milliseconds, fractions allowed. nullopt for garbage.
std::optional<Millis> parse_retry_after_ms(std::string_view value);
// Both headers as a response carried them (empty = absent): retry-after-ms wins when valid.
std::optional<Millis> parse_retry_headers(std::string_view retry_after, std::string_view retry_after_ms,
                                          std::chrono::system_clock::time_point now);

// Uniform in [0, 1). Injected so tests can seed it.
using UniformRandom = std::function<double()>;

class RetryBudget {
 public:
  RetryBudget(const RetryConfig& config, const Clock& clock);
  void record_request();  // every request's first attempt
  bool try_spend();       // one retry: false (and nothing spent) when the budget is used up
  int remaining() const;  // retries still allowed in the current window

 private:
  enum Counter : size_t { kRequests = 0, kRetries = 1 };
  double ratio_;
  int minimum_;
  SlidingWindow<2> window_;
};

enum class GiveUpReason { none, committed, not_retryable, attempts_exhausted, retry_after_too_long, budget_spent };
std::string_view give_up_reason_name(GiveUpReason reason);

struct RetryDecision {
  bool retry = false;
  Millis delay{0};  // wait this long before the next attempt
  GiveUpReason reason = GiveUpReason::none;
  std::string detail;  // for the log: why, with the numbers
};

// One per provider, owned by its cloud actor.
class RetryPolicy {
 public:
  RetryPolicy(RetryConfig config, const Clock& clock, UniformRandom random);

  // min(max_delay, base_delay x multiplier^(retry - 1)); retry 1 is the first retry.
  Millis backoff_ceiling(int retry) const;
  // Full jitter: uniform in [0, backoff_ceiling(retry)].
  Millis backoff(int retry);

  const RetryConfig& config() const { return config_; }
  const Clock& clock() const { return *clock_; }
  RetryBudget& budget() { return budget_; }

 private:
  RetryConfig config_;
  const Clock* clock_;
  UniformRandom random_;
  RetryBudget budget_;
};

// One client request's attempts on one provider.
class RequestAttempts {
 public:
  explicit RequestAttempts(RetryPolicy& policy) : policy_(&policy) {}

  // Starts an attempt; returns its deadline (now + attempt_timeout). The first one also counts
  // the request in the provider's retry budget.
  SteadyTime begin_attempt();
  // The first content byte reached the client: from now on nothing is retried or failed over.
  void commit() { committed_ = true; }
  bool committed() const { return committed_; }
  int attempts() const { return attempts_; }

  // After the current attempt failed: retry (after `delay`) or give up, and why. A retry spends
  // one unit of the provider's budget.
  RetryDecision after_failure(const CallOutcome& outcome);

 private:
  RetryPolicy* policy_;
  int attempts_ = 0;
  bool committed_ = false;
};

}  // namespace tandem::resilience
