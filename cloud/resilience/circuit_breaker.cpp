#include "cloud/resilience/circuit_breaker.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "cloud/resilience/config_fields.h"

namespace tandem::resilience {
namespace json = boost::json;

std::string_view breaker_state_name(BreakerState state) {
  switch (state) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half_open";
  }
  return "unknown";
}

BreakerConfig parse_breaker_config(const json::value& value, std::string_view where) {
  config::ObjectReader reader(value, where,
                              {"consecutive_failures", "failure_ratio", "minimum_requests", "window_ms",
                               "window_buckets", "cooldown_ms", "cooldown_multiplier", "max_cooldown_ms",
                               "max_retry_after_ms", "half_open_probes", "half_open_successes",
                               "latency_alpha"});
  BreakerConfig config;
  const Millis day{86'400'000};
  reader.integer("consecutive_failures", config.consecutive_failures, 1, 1'000'000);
  reader.number("failure_ratio", config.failure_ratio, 0.01, 1.0);
  reader.integer("minimum_requests", config.minimum_requests, 1, 1'000'000);
  reader.millis("window_ms", config.window, Millis{100}, day);
  reader.integer("window_buckets", config.window_buckets, 1, 1000);
  reader.millis("cooldown_ms", config.cooldown, Millis{0}, day);
  reader.number("cooldown_multiplier", config.cooldown_multiplier, 1.0, 100.0);
  reader.millis("max_cooldown_ms", config.max_cooldown, Millis{0}, day);
  reader.millis("max_retry_after_ms", config.max_retry_after, Millis{0}, day);
  reader.integer("half_open_probes", config.half_open_probes, 1, 1000);
  reader.integer("half_open_successes", config.half_open_successes, 1, 1000);
  reader.number("latency_alpha", config.latency_alpha, 0.001, 1.0);
  if (config.max_cooldown < config.cooldown)
    throw ConfigError(std::string(where) + ".max_cooldown_ms must be at least cooldown_ms (" +
                      std::to_string(config.cooldown.count()) + ")");
  return config;
}

json::object snapshot_to_json(const BreakerSnapshot& s) {
  json::object out;
  out["provider"] = s.provider;
  out["state"] = breaker_state_name(s.state);
  out["recent_requests"] = s.recent_requests;
  out["recent_failures"] = s.recent_failures;
  out["recent_error_rate"] = s.recent_error_rate;
  out["consecutive_failures"] = s.consecutive_failures;
  out["successes"] = s.total_successes;
  out["failures"] = s.total_failures;
  out["refused"] = s.total_refused;
  out["transitions"] = s.total_transitions;
  if (s.latency_ewma_ms) out["latency_ewma_ms"] = *s.latency_ewma_ms;
  else out["latency_ewma_ms"] = nullptr;
  out["open_remaining_ms"] = s.open_remaining.count();
  out["probes_in_flight"] = s.probes_in_flight;
  out["reopen_count"] = s.reopen_count;
  return out;
}

namespace {
std::string ms_text(Millis ms) { return std::to_string(ms.count()) + " ms"; }
}  // namespace

CircuitBreaker::CircuitBreaker(std::string provider, BreakerConfig config, const Clock& clock,
                               TransitionListener on_transition)
    : provider_(std::move(provider)),
      config_(config),
      clock_(&clock),
      on_transition_(std::move(on_transition)),
      window_(clock, config.window, config.window_buckets) {}

void CircuitBreaker::transition(BreakerState to, std::string reason) {
  BreakerState from = state_;
  state_ = to;
  ++generation_;
  ++total_transitions_;
  if (on_transition_) on_transition_(BreakerTransition{provider_, from, to, std::move(reason)});
}

void CircuitBreaker::refresh() {
  if (state_ != BreakerState::open || clock_->now() < open_until_) return;
  probes_in_flight_ = 0;
  probe_successes_ = 0;
  transition(BreakerState::half_open, "open period of " + ms_text(open_period_) + " elapsed");
}

Millis CircuitBreaker::next_cooldown() const {
  double scaled = double(config_.cooldown.count()) * std::pow(config_.cooldown_multiplier, reopen_count_);
  return Millis(int64_t(std::min(scaled, double(config_.max_cooldown.count()))));
}

void CircuitBreaker::open(std::string reason, std::optional<Millis> retry_after) {
  if (retry_after) {
    open_period_ = std::clamp(*retry_after, Millis{0}, config_.max_retry_after);
    reason += "; retry-after " + ms_text(*retry_after);
  } else {
    open_period_ = next_cooldown();
  }
  open_until_ = clock_->now() + open_period_;
  transition(BreakerState::open, reason + "; open for " + ms_text(open_period_));
}

BreakerPermit CircuitBreaker::try_acquire() {
  refresh();
  BreakerPermit permit;
  permit.generation = generation_;
  switch (state_) {
    case BreakerState::closed: permit.admitted = true; break;
    case BreakerState::half_open:
      if (probes_in_flight_ < config_.half_open_probes) {
        ++probes_in_flight_;
        permit.admitted = permit.probe = true;
      }
      break;
    case BreakerState::open:
      permit.retry_in = std::chrono::duration_cast<Millis>(open_until_ - clock_->now());
      break;
  }
  if (!permit.admitted) ++total_refused_;
  return permit;
}

void CircuitBreaker::record(const BreakerPermit& permit, const CallOutcome& outcome) {
  if (!permit.admitted) return;
  refresh();
  bool failed = counts_against_provider(outcome);
  bool succeeded = outcome.failure == FailureKind::none;
  if (succeeded) {
    window_.add(kCalls);
    ++total_successes_;
    double ms = double(outcome.latency.count());
    latency_ewma_ms_ = latency_ewma_ms_ ? config_.latency_alpha * ms + (1 - config_.latency_alpha) * *latency_ewma_ms_ : ms;
  } else if (failed) {
    window_.add(kCalls);
    window_.add(kFailures);
    ++total_failures_;
  }
  // Results of calls admitted in an earlier period are history: counted above, but they never
  // move the state of the period we are in now.
  if (permit.generation != generation_) return;
  if (permit.probe && state_ == BreakerState::half_open) {
    --probes_in_flight_;
    if (failed || succeeded) record_probe(outcome, failed);
  } else if (state_ == BreakerState::closed && (failed || succeeded)) {
    record_closed(outcome, failed);
  }
}

void CircuitBreaker::record_closed(const CallOutcome& outcome, bool failed) {
  if (!failed) {
    consecutive_failures_ = 0;
    return;
  }
  ++consecutive_failures_;
  std::string last = std::string(failure_kind_name(outcome.failure));
  if (consecutive_failures_ >= config_.consecutive_failures) {
    open(std::to_string(consecutive_failures_) + " consecutive failures (last: " + last + ")", outcome.retry_after);
    return;
  }
  uint64_t calls = window_.sum(kCalls), failures = window_.sum(kFailures);
  if (calls >= uint64_t(config_.minimum_requests) && double(failures) >= config_.failure_ratio * double(calls)) {
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.2f", double(failures) / double(calls));
    open("failure ratio " + std::string(ratio) + " (" + std::to_string(failures) + " of " + std::to_string(calls) +
             " calls in " + ms_text(config_.window) + ", last: " + last + ")",
         outcome.retry_after);
  }
}

void CircuitBreaker::record_probe(const CallOutcome& outcome, bool failed) {
  if (failed) {
    ++reopen_count_;
    open("half-open probe failed (" + std::string(failure_kind_name(outcome.failure)) + ")", outcome.retry_after);
    return;
  }
  if (++probe_successes_ < config_.half_open_successes) return;
  consecutive_failures_ = 0;
  reopen_count_ = 0;
  window_.clear();  // the failures that opened it must not re-trip the ratio at once
  transition(BreakerState::closed, std::to_string(probe_successes_) + " half-open probes succeeded");
}

BreakerState CircuitBreaker::state() {
  refresh();
  return state_;
}

BreakerSnapshot CircuitBreaker::snapshot() {
  refresh();
  BreakerSnapshot s;
  s.provider = provider_;
  s.state = state_;
  s.recent_requests = window_.sum(kCalls);
  s.recent_failures = window_.sum(kFailures);
  s.recent_error_rate = s.recent_requests ? double(s.recent_failures) / double(s.recent_requests) : 0.0;
  s.consecutive_failures = consecutive_failures_;
  s.total_successes = total_successes_;
  s.total_failures = total_failures_;
  s.total_refused = total_refused_;
  s.total_transitions = total_transitions_;
  s.latency_ewma_ms = latency_ewma_ms_;
  if (state_ == BreakerState::open)
    s.open_remaining = std::chrono::duration_cast<Millis>(open_until_ - clock_->now());
  s.probes_in_flight = state_ == BreakerState::half_open ? probes_in_flight_ : 0;
  s.reopen_count = reopen_count_;
  return s;
}

}  // namespace tandem::resilience
