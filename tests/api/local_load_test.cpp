// What a local model publishes for SLO routing and /v1/backends: queue and running from the
// scheduler's stats, step costs learned only from the steps of a busy scheduler (an idle wait
// between two steps is not a step's cost), and what recent requests were like, per request.
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

actors::FinishedRequest finished(uint64_t prompt, uint64_t cached, uint64_t generated, size_t bytes = 0,
                                 double before_submit = 0) {
  return actors::FinishedRequest{prompt, cached, generated, bytes, before_submit};
}

TEST(LocalLoad, LearnsStepCostsFromABusySchedulersCadence) {
  LocalLoad load("tiny", options());
  auto t = std::chrono::steady_clock::time_point{} + 1h;
  EXPECT_FALSE(load.load().step_cost.prefill_seen);  // cold: no prediction
  // A step costs 2 ms + 0.1 ms a prompt row + 0.5 ms a decode row: decode-only steps of 4
  // sequences (4 ms) or 2 (3 ms) and, every third, a 60-row prompt chunk beside 3 decodes (9.5 ms).
  for (int i = 0; i < 42; ++i) {
    load.on_stats(busy(4, 2), t);
    switch (i % 3) {
      case 0: t += 9500us; load.on_step(60, 3, t); break;
      case 1: t += 4ms; load.on_step(0, 4, t); break;
      default: t += 3ms; load.on_step(0, 2, t); break;
    }
  }
  auto published = load.load();
  EXPECT_EQ(published.waiting, 2u);
  EXPECT_EQ(published.running, 4u);
  EXPECT_EQ(published.max_running, 4u);
  EXPECT_EQ(published.step_token_budget, 64u);
  EXPECT_NEAR(published.step_cost.per_step, 0.002, 1e-6);
  EXPECT_NEAR(published.step_cost.per_prefill_row, 0.0001, 1e-7);
  EXPECT_NEAR(published.step_cost.per_decode_row, 0.0005, 1e-6);
  auto status = load.status();
  EXPECT_EQ(status.name, "local");
  EXPECT_EQ(status.models, std::vector<std::string>{"tiny"});
  EXPECT_EQ(status.queue, 2);
  EXPECT_EQ(status.kv_capacity, 32);
  ASSERT_TRUE(status.tokens_per_second);
  EXPECT_NEAR(*status.tokens_per_second, 1000.0, 1.0);  // 4 tokens a 4 ms step
}

TEST(LocalLoad, AnIdleWaitIsNotCountedAsAStep) {
  LocalLoad load("tiny", options());
  auto t = std::chrono::steady_clock::time_point{} + 1h;
  for (int i = 0; i < 20; ++i) {
    load.on_stats(busy(2, 0), t);
    t += 10ms;
    load.on_step(i % 4 == 0 ? 8 : 0, 2, t);  // 10 ms a step, prefill rows or not
  }
  // The scheduler went idle for a minute, then one more step.
  load.on_stats(busy(0, 0), t);
  t += 60s;
  load.on_step(0, 1, t);
  EXPECT_NEAR(load.load().step_cost.seconds(0, 2), 0.010, 1e-6);
}

// Two requests that end in the same step are two requests, not one with both prompts.
TEST(LocalLoad, RecentRequestsAreAveragedPerRequest) {
  LocalLoad load("tiny", options());
  auto outer = load.observe({});
  outer.on_finished(finished(100, 0, 40));
  outer.on_finished(finished(300, 0, 20));
  auto published = load.load();
  EXPECT_NEAR(published.mean_prompt_tokens, 0.8 * 100 + 0.2 * 300, 1e-9);
  EXPECT_NEAR(published.mean_generated_tokens, 0.8 * 40 + 0.2 * 20, 1e-9);
}

TEST(LocalLoad, PublishesTheShareOfPromptTokensThePrefixCacheServed) {
  LocalLoad load("tiny", options());
  EXPECT_EQ(load.load().cached_prompt_share, 0.0);
  for (int i = 0; i < 10; ++i) load.on_finished(finished(100, 90, 8));
  EXPECT_NEAR(load.load().cached_prompt_share, 0.9, 1e-9);
}

TEST(LocalLoad, LearnsPromptTokensFromBodySizes) {
  LocalLoad load("tiny", options());
  EXPECT_EQ(routing::estimate_prompt_tokens(load.load(), 1000), 250u);  // 4 bytes a token until then
  // A template adds 20 tokens; the text is 3 bytes a token.
  for (size_t bytes : {150, 600, 1200, 300, 900}) load.on_finished(finished(20 + bytes / 3, 0, 8, bytes));
  EXPECT_NEAR(double(routing::estimate_prompt_tokens(load.load(), 3000)), 1020, 1);
}

TEST(LocalLoad, PublishesTheTimeBeforeTheSchedulerAndTheRunningSequencesProgress) {
  LocalLoad load("tiny", options());
  load.on_finished(finished(10, 0, 5, 100, 0.004));
  EXPECT_NEAR(load.load().seconds_before_submit, 0.004, 1e-12);
  auto stats = busy(2, 0);
  stats.running_progress = {{3, 48}, {40, 64}};
  load.on_stats(stats, std::chrono::steady_clock::time_point{});
  auto progress = load.load().running_progress;
  ASSERT_EQ(progress.size(), 2u);
  EXPECT_EQ(progress[1].generated, 40u);
  EXPECT_EQ(progress[1].max_tokens, 64u);
}

// A step's rows come from the scheduler's own split (on_step_timing), not guessed from its
// sequence and row counts: a step of 60 prompt rows makes prompt rows known.
TEST(LocalLoad, StepRowsComeFromTheSchedulersSplit) {
  LocalLoad load("tiny", options());
  auto outer = load.observe({});
  outer.on_stats(busy(4, 0));
  for (int i = 0; i < 2; ++i) {
    outer.on_step_timing(actors::StepTiming{0.001, 60, 3});
    outer.on_step(4, 63);
  }
  EXPECT_TRUE(load.load().step_cost.prefill_seen);
  EXPECT_TRUE(load.load().step_cost.decode_seen);
}

// LocalLoad sits between the scheduler and its metrics: every callback the metrics observer
// has must still reach it, the ones LocalLoad shares and the ones it does not look at.
TEST(LocalLoad, ObservingPassesEveryCallbackOnToTheInnerObserver) {
  LocalLoad load("tiny", options());
  int steps = 0, stats = 0, tokens = 0, timings = 0, waits = 0, firsts = 0, gaps = 0, ends = 0;
  actors::SchedulerObserver inner;
  inner.on_step = [&](size_t, size_t) { ++steps; };
  inner.on_stats = [&](const actors::SchedulerStats&) { ++stats; };
  inner.on_tokens = [&](uint64_t, uint64_t) { ++tokens; };
  inner.on_step_timing = [&](const actors::StepTiming&) { ++timings; };
  inner.on_queue_wait = [&](double) { ++waits; };
  inner.on_first_token = [&](double) { ++firsts; };
  inner.on_inter_token = [&](double) { ++gaps; };
  inner.on_finished = [&](const actors::FinishedRequest&) { ++ends; };
  auto outer = load.observe(inner);
  outer.on_step(1, 1);
  outer.on_stats(busy(1, 0));
  outer.on_tokens(3, 1);
  ASSERT_TRUE(outer.on_step_timing && outer.on_queue_wait && outer.on_first_token && outer.on_inter_token &&
              outer.on_finished);
  outer.on_step_timing(actors::StepTiming{});
  outer.on_queue_wait(0.1);
  outer.on_first_token(0.2);
  outer.on_inter_token(0.01);
  outer.on_finished(finished(3, 0, 1));
  EXPECT_EQ(steps + stats + tokens + timings + waits + ends + firsts + gaps, 8);
}

}  // namespace
}  // namespace tandem::api
