// What happened to one upstream call, and which outcomes count against a provider.
//
// One classification shared by the circuit breaker (what trips it) and the retry policy (what
// may be tried again), so the two can never disagree about a status code.
#pragma once

#include <optional>
#include <string_view>

#include "cloud/resilience/clock.h"

namespace tandem::resilience {

enum class FailureKind {
  none,           // the call succeeded
  connect_error,  // DNS, refused, TLS, reset before the response headers
  timeout,        // connect / headers / idle gap / total timeout fired, or an upstream 408
  server_error,   // 5xx other than 529
  throttled,      // 429 or 529: the provider asks us to slow down
  stream_cut,     // the response stream ended before its final event
  caller_error,   // the caller's own 4xx (400/401/403/404/413/422...): never the provider's fault
  cancelled,      // the client went away; says nothing about the provider
};

std::string_view failure_kind_name(FailureKind kind);

// An HTTP status as seen from tandem: 2xx/3xx none, 408 timeout, 429/529 throttled, other 4xx
// caller_error, 5xx server_error.
FailureKind classify_status(int status);

struct CallOutcome {
  FailureKind failure = FailureKind::none;
  Millis latency{0};                  // to the response headers; feeds the breaker's EWMA
  std::optional<Millis> retry_after;  // the provider's retry-after / retry-after-ms, parsed
  // A 429/529 only counts against the provider once the retry policy has given up on it: a
  // throttle that a retry absorbed is the provider working as designed.
  bool retries_spent = true;

  static CallOutcome success(Millis latency) { return {FailureKind::none, latency, std::nullopt, true}; }
  static CallOutcome failed(FailureKind kind, std::optional<Millis> retry_after = std::nullopt,
                            bool retries_spent = true) {
    return {kind, Millis{0}, retry_after, retries_spent};
  }
};

// Failures that count toward opening the breaker: connect errors, timeouts, 5xx, stream cuts,
// and 429/529 whose retries are spent. Caller errors and cancellations never do.
bool counts_against_provider(const CallOutcome& outcome);

// Failures another attempt (same provider, after a backoff) may cure.
bool is_retryable(FailureKind kind);

}  // namespace tandem::resilience
