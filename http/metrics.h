// Prometheus metrics of the HTTP layer, registered in a caller-owned prometheus-cpp registry
// (the same registry /metrics serializes, so other layers can add their own families).
#pragma once

#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace tandem::http {

class HttpMetrics {
 public:
  explicit HttpMetrics(prometheus::Registry& registry);

  void connection_opened();
  void connection_closed();
  // `route` is the matched route pattern (or "unmatched"), never the raw path, so label
  // cardinality stays bounded whatever clients send. `protocol`: "openai", "anthropic", or
  // "none" for routes outside the API (/health, /metrics, ...).
  void observe_request(std::string_view route, std::string_view method, int status,
                       double seconds, std::string_view protocol = "none");
  // Streaming answers as the client saw them; `backend` "" is labelled "unknown".
  void observe_first_token(std::string_view protocol, std::string_view backend, double seconds);
  void observe_inter_token(std::string_view protocol, std::string_view backend, double seconds);

 private:
  // Family::Add builds a label map (strings, map nodes) and hashes it under the family's lock:
  // once per request and once per streamed token that was ~20 allocations. A metric lives as
  // long as its family, so the one for a label combination is looked up once and kept here,
  // keyed by the label values joined.
  template <class Metric>
  struct Cache {
    std::mutex mutex;
    std::unordered_map<std::string, Metric*> metrics;
  };
  template <class Metric, class Make>
  static Metric& cached(Cache<Metric>& cache, std::initializer_list<std::string_view> values, Make make);

  Cache<prometheus::Counter> request_counters_;
  Cache<prometheus::Histogram> request_durations_;
  Cache<prometheus::Histogram> first_tokens_;
  Cache<prometheus::Histogram> inter_tokens_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Histogram>& first_token_;
  prometheus::Family<prometheus::Histogram>& inter_token_;
  prometheus::Gauge& open_connections_;
};

// Prometheus text exposition format 0.0.4 of everything in the registry.
std::string serialize_metrics(prometheus::Registry& registry);
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace tandem::http
