// What a local model publishes for SLO routing and /v1/backends: queue and running from the
// scheduler's stats, and prefill / decode rates learned only from the steps of a busy scheduler
// (an idle wait between two steps is not a step's cost).
#include "app/api/local_load.h"

#include <gtest/gtest.h>

namespace tandem::api {
namespace {

using namespace std::chrono_literals;

actors::SchedulerOptions options() {
  actors::SchedulerOptions out;
  out.max_running = 4;
  out.max_waiting = 8;
  out.step_token_budget = 64;
  return out;
}

actors::SchedulerStats busy(size_t running, size_t waiting) {
  actors::SchedulerStats stats;
  stats.running = running;
  stats.waiting = waiting;
  stats.kv_blocks_used = 3;
  stats.kv_blocks_total = 32;
  return stats;
}

TEST(LocalLoad, LearnsRatesFromABusySchedulersStepCadence) {
  LocalLoad load("tiny", options());
  auto t = std::chrono::steady_clock::time_point{} + 1h;
  EXPECT_EQ(load.load().prefill_tokens_per_s, 0.0);  // cold: no prediction
  // Decode-only steps of 4 sequences, 10 ms apart: 400 rows/s; prefill steps add a 60-row chunk
  // (63 rows: 3 decodes + 60 prompt) in 40 ms.
  for (int i = 0; i < 40; ++i) {
    bool prefill = i % 3 == 0;
    load.on_stats(busy(4, 2), t);
    t += prefill ? 40ms : 10ms;
    load.on_step(4, prefill ? 63 : 4, t);
  }
  auto published = load.load();
  EXPECT_EQ(published.waiting, 2u);
  EXPECT_EQ(published.running, 4u);
  EXPECT_EQ(published.max_running, 4u);
  EXPECT_EQ(published.step_token_budget, 64u);
  EXPECT_NEAR(published.decode_tokens_per_s, 400.0, 40.0);
  // 40 ms = 60 x a + 3 x 2.5 ms: a ~ 0.54 ms a prompt row.
  EXPECT_NEAR(published.prefill_tokens_per_s, 1846.0, 200.0);
  auto status = load.status();
  EXPECT_EQ(status.name, "local");
  EXPECT_EQ(status.models, std::vector<std::string>{"tiny"});
  EXPECT_EQ(status.queue, 2);
  EXPECT_EQ(status.kv_capacity, 32);
  ASSERT_TRUE(status.tokens_per_second);
}

TEST(LocalLoad, AnIdleWaitIsNotCountedAsAStep) {
  LocalLoad load("tiny", options());
  auto t = std::chrono::steady_clock::time_point{} + 1h;
  for (int i = 0; i < 20; ++i) {
    load.on_stats(busy(2, 0), t);
    t += 10ms;
    load.on_step(2, 2, t);  // 200 rows/s
  }
  // The scheduler went idle for a minute, then one more step.
  load.on_stats(busy(0, 0), t);
  t += 60s;
  load.on_step(1, 1, t);
  EXPECT_NEAR(load.load().decode_tokens_per_s, 200.0, 20.0);
}

// LocalLoad sits between the scheduler and its metrics: every callback the metrics observer
// has must still reach it, the ones LocalLoad shares and the ones it does not look at.
TEST(LocalLoad, ObservingPassesEveryCallbackOnToTheInnerObserver) {
  LocalLoad load("tiny", options());
  int steps = 0, stats = 0, tokens = 0, timings = 0, waits = 0, firsts = 0, gaps = 0;
  actors::SchedulerObserver inner;
  inner.on_step = [&](size_t, size_t) { ++steps; };
  inner.on_stats = [&](const actors::SchedulerStats&) { ++stats; };
  inner.on_tokens = [&](uint64_t, uint64_t) { ++tokens; };
  inner.on_step_timing = [&](const actors::StepTiming&) { ++timings; };
  inner.on_queue_wait = [&](double) { ++waits; };
  inner.on_first_token = [&](double) { ++firsts; };
  inner.on_inter_token = [&](double) { ++gaps; };
  auto outer = load.observe(inner);
  outer.on_step(1, 1);
  outer.on_stats(busy(1, 0));
  outer.on_tokens(3, 1);
  ASSERT_TRUE(outer.on_step_timing && outer.on_queue_wait && outer.on_first_token && outer.on_inter_token);
  outer.on_step_timing(actors::StepTiming{});
  outer.on_queue_wait(0.1);
  outer.on_first_token(0.2);
  outer.on_inter_token(0.01);
  EXPECT_EQ(steps + stats + tokens + timings + waits + firsts + gaps, 7);
}

}  // namespace
}  // namespace tandem::api
