// What the cloud side tells the outside about its providers: the Prometheus families of the
// shared contract (tandem_upstream_*, tandem_breaker_*) and, per provider, a status the
// `GET /v1/backends` endpoint and the tests read (breaker state, recent error rate, latency
// median, in-flight attempts, the retry waits chosen). Thread-safe: the provider actor writes
// the breaker side, the upstream client's thread the per-attempt side.
#pragma once

#include "actors/counter_children.h"
#include "cloud/providers.h"
#include "cloud/resilience/circuit_breaker.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace tandem::cloud {

// The families, registered once per registry and shared by every provider actor.
class CloudMetrics {
 public:
  explicit CloudMetrics(std::shared_ptr<prometheus::Registry> registry);

  prometheus::Family<prometheus::Counter>& requests;     // tandem_upstream_requests_total{provider,status}
  prometheus::Family<prometheus::Histogram>& time_to_headers;
  prometheus::Family<prometheus::Histogram>& time_to_first_token;
  prometheus::Family<prometheus::Counter>& retries;
  prometheus::Family<prometheus::Gauge>& in_flight;
  prometheus::Family<prometheus::Gauge>& breaker_state;
  prometheus::Family<prometheus::Counter>& breaker_transitions;
  prometheus::Family<prometheus::Counter>& tokens;
  prometheus::Family<prometheus::Counter>& spend;  // tandem_upstream_spend_usd_total{provider,model}
  // The children counted on every request.
  actors::CounterChildren requests_by;
  actors::CounterChildren tokens_by;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
};

// 0 closed, 1 half_open, 2 open (the gauge's encoding).
double breaker_gauge_value(resilience::BreakerState state);

// One provider's live status and its metric children.
class ProviderMonitor {
 public:
  ProviderMonitor(std::string provider, std::shared_ptr<CloudMetrics> metrics);

  const std::string& provider() const { return provider_; }

  // Per attempt (any thread).
  void attempt_started();
  // `status`: the HTTP code, or "connect_error" / "timeout" / "reset" (the contract's labels).
  void attempt_finished(const std::string& status);
  void headers_after(std::chrono::steady_clock::duration elapsed);
  void first_token_after(std::chrono::steady_clock::duration elapsed);
  // Tokens of an answer (and its spend when `model` has a configured price).
  void tokens(const std::string& model, uint64_t input, uint64_t output);
  // Before the first answer (the provider actor sets its config's prices).
  void set_prices(std::vector<std::pair<std::string, ModelPrice>> prices);

  // From the actor.
  void retry_scheduled(std::chrono::milliseconds delay);
  void breaker_changed(const resilience::BreakerTransition& transition);
  void breaker_snapshot(const resilience::BreakerSnapshot& snapshot);

  struct Status {
    resilience::BreakerState state = resilience::BreakerState::closed;
    double error_rate = 0;
    std::optional<double> latency_p50_ms;
    int64_t in_flight = 0;
    uint64_t attempts = 0;
    uint64_t retries = 0;
    std::vector<std::chrono::milliseconds> retry_delays;  // the most recent waits chosen, oldest first
  };
  Status status() const;

 private:
  std::string provider_;
  std::shared_ptr<CloudMetrics> metrics_;
  prometheus::Gauge* in_flight_gauge_ = nullptr;
  prometheus::Gauge* state_gauge_ = nullptr;
  prometheus::Histogram* headers_histogram_ = nullptr;
  prometheus::Histogram* first_token_histogram_ = nullptr;
  prometheus::Counter* retries_counter_ = nullptr;

  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> attempts_{0};
  mutable std::mutex mutex_;
  resilience::BreakerSnapshot snapshot_;
  std::deque<double> latencies_ms_;  // the last kLatencySamples times to headers
  std::deque<std::chrono::milliseconds> retry_delays_;
  uint64_t retries_ = 0;
  std::vector<std::pair<std::string, ModelPrice>> prices_;  // read-only once answers flow
};

}  // namespace tandem::cloud
