#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "bench/load/internal.h"

namespace tandem::load {

namespace {

constexpr std::size_t kMaxErrorSamples = 5;  // distinct messages kept

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

double interpolate(const std::vector<double>& sorted, double q) {
  const double rank = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

}  // namespace

void validate(const Config& config) {
  if (config.concurrency < 1) throw std::invalid_argument("concurrency must be at least 1");
  if (config.requests < 0) throw std::invalid_argument("requests must not be negative");
  if (config.duration_s < 0) throw std::invalid_argument("duration must not be negative");
  if (config.rate < 0) throw std::invalid_argument("rate must not be negative");
  // An unbounded run would never stop by itself.
  if (config.requests == 0 && config.duration_s <= 0)
    throw std::invalid_argument("requests is 0 (unlimited), so a duration is required");
  if (config.max_tokens < 1) throw std::invalid_argument("max_tokens must be at least 1");
  if (config.timeout_s <= 0) throw std::invalid_argument("timeout must be positive");
  if (config.threads < 1) throw std::invalid_argument("threads must be at least 1");
  if (config.protocol == Protocol::anthropic && config.endpoint != Endpoint::chat)
    throw std::invalid_argument("endpoint 'completions' exists only for the openai protocol");
  for (std::size_t i = 0; i < config.prompts.size(); ++i) {
    if (config.prompts[i].empty()) throw std::invalid_argument("prompts[" + std::to_string(i) + "] is empty");
  }
}

Percentiles percentiles(std::vector<double> samples) {
  Percentiles p;
  p.count = samples.size();
  if (samples.empty()) return p;
  std::sort(samples.begin(), samples.end());
  p.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  p.p50 = interpolate(samples, 0.50);
  p.p90 = interpolate(samples, 0.90);
  p.p99 = interpolate(samples, 0.99);
  return p;
}

Report aggregate(const Config& config, const RunInfo& run, const std::vector<RequestResult>& results) {
  Report report;
  report.url = run.url;
  report.protocol = to_string(config.protocol);
  report.endpoint = run.path;
  report.model = run.model;
  report.concurrency = config.concurrency;
  report.rate = config.rate;
  report.stream = config.stream;
  report.wall_s = run.wall_s;

  std::vector<double> ttft, itl, latency;
  for (const auto& r : results) {
    if (r.error_kind) {
      ++report.requests_failed;
      ++report.errors[*r.error_kind];
      std::string sample = *r.error_kind + ": " + r.error_message;
      if (report.error_samples.size() < kMaxErrorSamples &&
          std::find(report.error_samples.begin(), report.error_samples.end(), sample) == report.error_samples.end())
        report.error_samples.push_back(std::move(sample));
      continue;
    }
    ++report.requests_ok;
    latency.push_back(ms_between(r.start, r.end));
    if (!r.content_times.empty()) ttft.push_back(ms_between(r.start, r.content_times.front()));
    for (std::size_t i = 1; i < r.content_times.size(); ++i)
      itl.push_back(ms_between(r.content_times[i - 1], r.content_times[i]));
    if (r.usage_tokens) {
      ++report.requests_with_usage;
      report.output_tokens += *r.usage_tokens;
    } else {
      report.output_tokens += static_cast<std::int64_t>(r.content_times.size());
    }
  }
  if (report.wall_s > 0) {
    report.requests_per_s = static_cast<double>(report.requests_ok) / report.wall_s;
    report.output_tokens_per_s = static_cast<double>(report.output_tokens) / report.wall_s;
  }
  report.ttft_ms = percentiles(std::move(ttft));
  report.itl_ms = percentiles(std::move(itl));
  report.latency_ms = percentiles(std::move(latency));
  return report;
}

}  // namespace tandem::load
