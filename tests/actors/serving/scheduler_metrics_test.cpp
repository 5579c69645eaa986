// The scheduler's Prometheus families: KV reuse counters follow the scheduler's running totals.
#include "actors/serving/scheduler_metrics.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <gtest/gtest.h>

namespace tandem::actors {
namespace {

std::string scrape(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(SchedulerMetrics, KvReuseCountersFollowTheSchedulerTotals) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto observer = make_scheduler_metrics(registry, "m");
  SchedulerStats stats;
  stats.prefix_hit_tokens = 48;
  stats.prefix_miss_tokens = 52;
  stats.kv_evictions = 3;
  stats.preemptions = 2;
  stats.kv_blocks_cached = 5;
  observer.on_stats(stats);
  observer.on_stats(stats);  // published again: no double counting
  stats.prefix_hit_tokens = 64;
  stats.preemptions = 3;
  observer.on_stats(stats);
  const auto text = scrape(*registry);
  EXPECT_TRUE(has_line(text, "tandem_scheduler_prefix_cache_hit_tokens_total{model=\"m\"} 64")) << text;
  EXPECT_TRUE(has_line(text, "tandem_scheduler_prefix_cache_miss_tokens_total{model=\"m\"} 52")) << text;
  EXPECT_TRUE(has_line(text, "tandem_scheduler_kv_evictions_total{model=\"m\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "tandem_scheduler_preemptions_total{model=\"m\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "tandem_scheduler_kv_blocks_cached{model=\"m\"} 5")) << text;
}

}  // namespace
}  // namespace tandem::actors
