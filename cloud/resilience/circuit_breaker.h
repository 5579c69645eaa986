// One provider's circuit breaker: stops sending requests to an upstream that keeps failing,
// and lets a bounded number of probes find out when it has recovered.
//
//   closed    --N consecutive failures, or failure ratio >= R over the window (>= min requests)-->
//   open      --cooldown (or the provider's retry-after, capped) elapsed-->
//   half_open --M probe successes--> closed
//   half_open --one probe failure--> open again, cooldown x multiplier (capped)
//
// In half-open at most K probes are in flight; everyone else is refused at once (the router
// then falls back). Plain C++: no threads, no actors; the owning cloud actor calls it, and every
// transition goes to a listener so the actor can log it and count it in a metric.
#pragma once

#include <cstdint>
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

enum class BreakerState { closed, open, half_open };
std::string_view breaker_state_name(BreakerState state);

// JSON keys (all optional) in brackets; see parse_breaker_config.
struct BreakerConfig {
  int consecutive_failures = 5;  // [consecutive_failures] failures in a row that open it
  double failure_ratio = 0.5;    // [failure_ratio] or this share of calls failing in the window...
  int minimum_requests = 20;     // [minimum_requests] ...once the window holds this many calls
  Millis window{30'000};         // [window_ms] span of the sliding window
  int window_buckets = 10;       // [window_buckets] its resolution (window / buckets per step)
  Millis cooldown{5'000};        // [cooldown_ms] first open period
  double cooldown_multiplier = 2.0;  // [cooldown_multiplier] each re-open from half-open
  Millis max_cooldown{120'000};  // [max_cooldown_ms] cap of the exponential cooldown
  Millis max_retry_after{300'000};  // [max_retry_after_ms] cap of a retry-after-driven open period
  int half_open_probes = 1;      // [half_open_probes] K: probes in flight at once in half-open
  int half_open_successes = 2;   // [half_open_successes] M: probe successes that close it
  double latency_alpha = 0.2;    // [latency_alpha] weight of the newest latency in the EWMA
};

// Reads a JSON object; a missing key keeps the default above, an unknown key or a bad value
// throws ConfigError naming `where`.key (e.g. "providers.openai.breaker.cooldown_ms: ...").
BreakerConfig parse_breaker_config(const boost::json::value& value, std::string_view where = "breaker");

struct BreakerTransition {
  std::string provider;
  BreakerState from;
  BreakerState to;
  std::string reason;  // e.g. "5 consecutive failures (last: timeout)"
};

// What try_acquire() answers. Hand it back to record() when the call ends.
struct BreakerPermit {
  bool admitted = false;
  bool probe = false;            // admitted as one of the half-open probes
  Millis retry_in{0};            // refused while open: time until the breaker will probe again
  uint64_t generation = 0;       // which open/half-open period it belongs to (stale results are
                                 // counted but never move a later period's state)
  explicit operator bool() const { return admitted; }
};

struct BreakerSnapshot {
  std::string provider;
  BreakerState state = BreakerState::closed;
  uint64_t recent_requests = 0;  // calls counted in the sliding window
  uint64_t recent_failures = 0;
  double recent_error_rate = 0;  // recent_failures / recent_requests (0 when empty)
  int consecutive_failures = 0;
  uint64_t total_successes = 0;
  uint64_t total_failures = 0;
  uint64_t total_refused = 0;     // calls refused without reaching the provider
  uint64_t total_transitions = 0;
  std::optional<double> latency_ewma_ms;  // none before the first success
  Millis open_remaining{0};      // while open
  int probes_in_flight = 0;      // while half-open
  int reopen_count = 0;          // re-opens since it last closed (drives the cooldown)
};
boost::json::object snapshot_to_json(const BreakerSnapshot& snapshot);

class CircuitBreaker {
 public:
  using TransitionListener = std::function<void(const BreakerTransition&)>;

  CircuitBreaker(std::string provider, BreakerConfig config, const Clock& clock,
                 TransitionListener on_transition = {});

  // Before an upstream call: admitted (closed, or a free half-open probe slot) or refused fast.
  BreakerPermit try_acquire();
  // When the call has ended (successfully or not). Every admitted permit must come back once,
  // or a half-open probe slot stays taken; refused permits are ignored.
  void record(const BreakerPermit& permit, const CallOutcome& outcome);

  // Both move open -> half_open first when the cooldown has elapsed, hence not const.
  BreakerState state();
  BreakerSnapshot snapshot();
  const BreakerConfig& config() const { return config_; }

 private:
  enum Counter : size_t { kCalls = 0, kFailures = 1 };

  void refresh();
  void transition(BreakerState to, std::string reason);
  void open(std::string reason, std::optional<Millis> retry_after);
  Millis next_cooldown() const;
  void record_closed(const CallOutcome& outcome, bool failed);
  void record_probe(const CallOutcome& outcome, bool failed);

  std::string provider_;
  BreakerConfig config_;
  const Clock* clock_;
  TransitionListener on_transition_;

  BreakerState state_ = BreakerState::closed;
  uint64_t generation_ = 0;
  SteadyTime open_until_{};
  Millis open_period_{0};
  int reopen_count_ = 0;
  int consecutive_failures_ = 0;
  int probes_in_flight_ = 0;
  int probe_successes_ = 0;
  SlidingWindow<2> window_;
  std::optional<double> latency_ewma_ms_;
  uint64_t total_successes_ = 0, total_failures_ = 0, total_refused_ = 0, total_transitions_ = 0;
};

}  // namespace tandem::resilience
