#include "http/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace tandem::http {

HttpMetrics::HttpMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("tandem_http_requests_total")
                    .Help("HTTP requests handled, by route pattern, method and status code")
                    .Register(registry)),
      durations_(prometheus::BuildHistogram()
                     .Name("tandem_http_request_duration_seconds")
                     .Help("Time from a complete request to the end of its response")
                     .Register(registry)),
      open_connections_(prometheus::BuildGauge()
                            .Name("tandem_http_open_connections")
                            .Help("Client connections currently open")
                            .Register(registry)
                            .Add({})) {}

void HttpMetrics::connection_opened() { open_connections_.Increment(); }
void HttpMetrics::connection_closed() { open_connections_.Decrement(); }

void HttpMetrics::observe_request(std::string_view route, std::string_view method, int status,
                                  double seconds) {
  requests_
      .Add({{"route", std::string(route)},
            {"method", std::string(method)},
            {"status", std::to_string(status)}})
      .Increment();
  // Buckets from 1 ms to 5 minutes: generation requests and streams last long.
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  durations_.Add({{"route", std::string(route)}, {"method", std::string(method)}}, kBuckets)
      .Observe(seconds);
}

std::string serialize_metrics(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

}  // namespace tandem::http
