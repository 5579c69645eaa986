#include "cloud/provider_monitor.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>

namespace tandem::cloud {

namespace {

constexpr size_t kLatencySamples = 128;
constexpr size_t kRetryDelaysKept = 64;

const prometheus::Histogram::BucketBoundaries& seconds_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60};
  return buckets;
}

double seconds_of(std::chrono::steady_clock::duration elapsed) {
  return std::chrono::duration<double>(elapsed).count();
}

}  // namespace

CloudMetrics::CloudMetrics(std::shared_ptr<prometheus::Registry> registry)
    : requests(prometheus::BuildCounter()
                   .Name("tandem_upstream_requests_total")
                   .Help("Upstream attempts by provider and outcome (HTTP status, connect_error, timeout, reset)")
                   .Register(*registry)),
      time_to_headers(prometheus::BuildHistogram()
                          .Name("tandem_upstream_time_to_headers_seconds")
                          .Help("From an attempt's start to the upstream's response headers")
                          .Register(*registry)),
      time_to_first_token(prometheus::BuildHistogram()
                              .Name("tandem_upstream_time_to_first_token_seconds")
                              .Help("From an attempt's start to the first content sent on to the client")
                              .Register(*registry)),
      retries(prometheus::BuildCounter()
                  .Name("tandem_upstream_retries_total")
                  .Help("Upstream attempts that were retries of a failed one")
                  .Register(*registry)),
      in_flight(prometheus::BuildGauge()
                    .Name("tandem_upstream_in_flight")
                    .Help("Upstream attempts in progress")
                    .Register(*registry)),
      breaker_state(prometheus::BuildGauge()
                        .Name("tandem_breaker_state")
                        .Help("Circuit breaker state: 0 closed, 1 half_open, 2 open")
                        .Register(*registry)),
      breaker_transitions(prometheus::BuildCounter()
                              .Name("tandem_breaker_transitions_total")
                              .Help("Circuit breaker transitions")
                              .Register(*registry)),
      tokens(prometheus::BuildCounter()
                 .Name("tandem_upstream_tokens_total")
                 .Help("Tokens an upstream reported, by direction (input, output)")
                 .Register(*registry)),
      spend(prometheus::BuildCounter()
                .Name("tandem_upstream_spend_usd_total")
                .Help("Upstream spend in US dollars, from token counts and the provider's configured prices")
                .Register(*registry)),
      requests_by(requests),
      tokens_by(tokens),
      registry_(std::move(registry)) {}

double breaker_gauge_value(resilience::BreakerState state) {
  switch (state) {
    case resilience::BreakerState::closed: return 0;
    case resilience::BreakerState::half_open: return 1;
    case resilience::BreakerState::open: return 2;
  }
  return 0;
}

ProviderMonitor::ProviderMonitor(std::string provider, std::shared_ptr<CloudMetrics> metrics)
    : provider_(std::move(provider)), metrics_(std::move(metrics)) {
  snapshot_.provider = provider_;
  if (!metrics_) return;
  const prometheus::Labels labels{{"provider", provider_}};
  in_flight_gauge_ = &metrics_->in_flight.Add(labels);
  state_gauge_ = &metrics_->breaker_state.Add(labels);
  headers_histogram_ = &metrics_->time_to_headers.Add(labels, seconds_buckets());
  first_token_histogram_ = &metrics_->time_to_first_token.Add(labels, seconds_buckets());
  retries_counter_ = &metrics_->retries.Add(labels);
}

void ProviderMonitor::attempt_started() {
  ++attempts_;
  ++in_flight_;
  if (in_flight_gauge_) in_flight_gauge_->Increment();
}

void ProviderMonitor::attempt_finished(const std::string& status) {
  --in_flight_;
  if (!metrics_) return;
  in_flight_gauge_->Decrement();
  metrics_->requests_by.get({{"provider", provider_}, {"status", status}}).Increment();
}

void ProviderMonitor::headers_after(std::chrono::steady_clock::duration elapsed) {
  if (headers_histogram_) headers_histogram_->Observe(seconds_of(elapsed));
  std::lock_guard lock(mutex_);
  latencies_ms_.push_back(seconds_of(elapsed) * 1000.0);
  if (latencies_ms_.size() > kLatencySamples) latencies_ms_.pop_front();
}

void ProviderMonitor::first_token_after(std::chrono::steady_clock::duration elapsed) {
  if (first_token_histogram_) first_token_histogram_->Observe(seconds_of(elapsed));
}

void ProviderMonitor::tokens(const std::string& model, uint64_t input, uint64_t output) {
  if (!metrics_) return;
  if (input) metrics_->tokens_by.get({{"provider", provider_}, {"model", model}, {"direction", "input"}}).Increment(double(input));
  if (output) metrics_->tokens_by.get({{"provider", provider_}, {"model", model}, {"direction", "output"}}).Increment(double(output));
  for (const auto& [priced, price] : prices_) {
    if (priced != model) continue;
    const double usd = (double(input) * price.input_per_mtok + double(output) * price.output_per_mtok) / 1e6;
    if (usd > 0) metrics_->spend.Add({{"provider", provider_}, {"model", model}}).Increment(usd);
    break;
  }
}

void ProviderMonitor::set_prices(std::vector<std::pair<std::string, ModelPrice>> prices) { prices_ = std::move(prices); }

void ProviderMonitor::retry_scheduled(std::chrono::milliseconds delay) {
  if (retries_counter_) retries_counter_->Increment();
  std::lock_guard lock(mutex_);
  ++retries_;
  retry_delays_.push_back(delay);
  if (retry_delays_.size() > kRetryDelaysKept) retry_delays_.pop_front();
}

void ProviderMonitor::breaker_changed(const resilience::BreakerTransition& transition) {
  if (!metrics_) return;
  metrics_->breaker_transitions
      .Add({{"provider", provider_},
            {"from", std::string(resilience::breaker_state_name(transition.from))},
            {"to", std::string(resilience::breaker_state_name(transition.to))}})
      .Increment();
  state_gauge_->Set(breaker_gauge_value(transition.to));
}

void ProviderMonitor::breaker_snapshot(const resilience::BreakerSnapshot& snapshot) {
  std::lock_guard lock(mutex_);
  snapshot_ = snapshot;
}

ProviderMonitor::Status ProviderMonitor::status() const {
  Status out;
  out.in_flight = in_flight_.load();
  out.attempts = attempts_.load();
  std::lock_guard lock(mutex_);
  out.state = snapshot_.state;
  out.error_rate = snapshot_.recent_error_rate;
  out.retries = retries_;
  out.retry_delays.assign(retry_delays_.begin(), retry_delays_.end());
  if (!latencies_ms_.empty()) {
    std::vector<double> sorted(latencies_ms_.begin(), latencies_ms_.end());
    auto middle = sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2);
    std::nth_element(sorted.begin(), middle, sorted.end());
    out.latency_p50_ms = *middle;
  }
  return out;
}

}  // namespace tandem::cloud
