#include "http/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <charconv>

namespace tandem::http {

HttpMetrics::HttpMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("tandem_http_requests_total")
                    .Help("HTTP requests handled, by route pattern, method and status code")
                    .Register(registry)),
      durations_(prometheus::BuildHistogram()
                     .Name("tandem_http_request_duration_seconds")
                     .Help("Time from a complete request to the end of its response, by route, method, "
                           "protocol and status")
                     .Register(registry)),
      first_token_(prometheus::BuildHistogram()
                       .Name("tandem_http_time_to_first_token_seconds")
                       .Help("Streaming answers: time from the request to its first generated token on the "
                             "wire, by protocol and backend")
                       .Register(registry)),
      inter_token_(prometheus::BuildHistogram()
                       .Name("tandem_http_inter_token_seconds")
                       .Help("Streaming answers: time between generated tokens on the wire, by protocol and "
                             "backend")
                       .Register(registry)),
      open_connections_(prometheus::BuildGauge()
                            .Name("tandem_http_open_connections")
                            .Help("Client connections currently open")
                            .Register(registry)
                            .Add({})) {}

void HttpMetrics::connection_opened() { open_connections_.Increment(); }
void HttpMetrics::connection_closed() { open_connections_.Decrement(); }

namespace {

// 1 ms to 2 minutes: a token from a local model or a queued cloud request.
const prometheus::Histogram::BucketBoundaries& token_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                               0.5,   1,      2.5,   5,    10,    30,    60,  120};
  return buckets;
}

prometheus::Labels stream_labels(std::string_view protocol, std::string_view backend) {
  return {{"protocol", std::string(protocol)}, {"backend", backend.empty() ? "unknown" : std::string(backend)}};
}

}  // namespace

void HttpMetrics::observe_first_token(std::string_view protocol, std::string_view backend, double seconds) {
  cached(first_tokens_, {protocol, backend}, [&]() -> prometheus::Histogram& {
    return first_token_.Add(stream_labels(protocol, backend), token_buckets());
  }).Observe(seconds);
}

void HttpMetrics::observe_inter_token(std::string_view protocol, std::string_view backend, double seconds) {
  cached(inter_tokens_, {protocol, backend}, [&]() -> prometheus::Histogram& {
    return inter_token_.Add(stream_labels(protocol, backend), token_buckets());
  }).Observe(seconds);
}

template <class Metric, class Make>
Metric& HttpMetrics::cached(Cache<Metric>& cache, std::initializer_list<std::string_view> values, Make make) {
  thread_local std::string key;  // no allocation once it has grown
  key.clear();
  for (auto value : values) key.append(value).push_back('\x1f');
  std::lock_guard lock(cache.mutex);
  auto found = cache.metrics.find(key);
  if (found != cache.metrics.end()) return *found->second;
  Metric& metric = make();
  cache.metrics.emplace(key, &metric);
  return metric;
}

void HttpMetrics::observe_request(std::string_view route, std::string_view method, int status,
                                  double seconds, std::string_view protocol) {
  char status_text[16];
  const auto status_end = std::to_chars(status_text, status_text + sizeof status_text, status).ptr;
  const std::string_view status_label(status_text, static_cast<std::size_t>(status_end - status_text));
  cached(request_counters_, {route, method, status_label}, [&]() -> prometheus::Counter& {
    return requests_.Add({{"route", std::string(route)}, {"method", std::string(method)}, {"status", std::string(status_label)}});
  }).Increment();
  // Buckets from 1 ms to 5 minutes: generation requests and streams last long.
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  cached(request_durations_, {route, method, protocol, status_label}, [&]() -> prometheus::Histogram& {
    return durations_.Add({{"route", std::string(route)},
                           {"method", std::string(method)},
                           {"protocol", std::string(protocol)},
                           {"status", std::string(status_label)}},
                          kBuckets);
  }).Observe(seconds);
}

std::string serialize_metrics(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

}  // namespace tandem::http
