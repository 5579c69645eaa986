#include "actors/routing/ttft_predictor.h"

#include <gtest/gtest.h>

using namespace tandem::routing;
using namespace std::chrono_literals;

namespace {
SchedulerLoad idle_load() {
  SchedulerLoad load;
  load.max_running = 4;
  load.max_waiting = 64;
  load.step_token_budget = 256;
  load.prefill_tokens_per_s = 1000;
  load.decode_tokens_per_s = 100;
  load.mean_prompt_tokens = 300;
  return load;
}
}  // namespace

TEST(TtftPredictorTest, IdleModelIsPrefillOnly) {
  // 500 tokens at 1000 tokens/s, no decode rows in the way.
  EXPECT_EQ(predict_ttft(idle_load(), 500), 500ms);
  EXPECT_EQ(predict_ttft(idle_load(), 0), 0ms);
}

TEST(TtftPredictorTest, RunningSequencesAddDecodeRowsToEveryStep) {
  SchedulerLoad load = idle_load();
  load.running = 4;
  // W = 500, 252 prefill rows per step -> 2 steps; 500/1000 s + 2 * 4/100 s = 0.58 s.
  EXPECT_EQ(predict_ttft(load, 500), 580ms);
}

TEST(TtftPredictorTest, QueuedPromptsAheadArePrefilledFirst) {
  SchedulerLoad load = idle_load();
  load.running = 4;
  load.waiting = 3;
  load.queued_prompt_tokens = 1000;
  // W = 1500 -> 6 steps of 252; 1.5 s + 6 * 0.04 s = 1.74 s.
  EXPECT_EQ(predict_ttft(load, 500), 1740ms);
  // Not published: estimated from waiting x mean prompt (3 x 300 = 900). W = 1400 -> 6 steps.
  load.queued_prompt_tokens = 0;
  EXPECT_EQ(predict_ttft(load, 500), 1640ms);
}

TEST(TtftPredictorTest, DecodeRowsNeverTakeTheWholeStep) {
  SchedulerLoad load = idle_load();
  load.step_token_budget = 4;
  load.running = 10;  // capped at 3 decode rows, leaving one prefill row per step
  // W = 10 -> 10 steps; 10/1000 s + 10 * 3/100 s = 0.31 s.
  EXPECT_EQ(predict_ttft(load, 10), 310ms);
}

TEST(TtftPredictorTest, NoPredictionWithoutMeasuredRates) {
  SchedulerLoad load = idle_load();
  load.prefill_tokens_per_s = 0;
  EXPECT_EQ(predict_ttft(load, 100), std::nullopt);
  load = idle_load();
  load.decode_tokens_per_s = 0;
  EXPECT_EQ(predict_ttft(load, 100), 100ms);  // nothing decoding: the decode rate is not needed
  load.running = 2;
  EXPECT_EQ(predict_ttft(load, 100), std::nullopt);
}

TEST(SloConditionTest, StaysLocalUnderTheThreshold) {
  SloCondition condition{800ms, std::nullopt};
  auto verdict = evaluate_slo(condition, idle_load(), 500);
  EXPECT_TRUE(verdict.stay_local);
  EXPECT_EQ(verdict.predicted_ttft, 500ms);
  EXPECT_EQ(verdict.reason, "predicted TTFT 500 ms <= 800 ms");
}

TEST(SloConditionTest, LeavesWhenPredictedTtftIsTooLong) {
  SchedulerLoad load = idle_load();
  load.running = 4;
  load.waiting = 3;
  load.queued_prompt_tokens = 1000;
  auto verdict = evaluate_slo(SloCondition{800ms, std::nullopt}, load, 500);
  EXPECT_FALSE(verdict.stay_local);
  EXPECT_EQ(verdict.predicted_ttft, 1740ms);
  EXPECT_EQ(verdict.reason, "predicted TTFT 1740 ms > 800 ms");
  // The same load with a looser SLO stays local.
  EXPECT_TRUE(evaluate_slo(SloCondition{2000ms, std::nullopt}, load, 500).stay_local);
}

TEST(SloConditionTest, LeavesWhenTheQueueIsLonger) {
  SchedulerLoad load = idle_load();
  load.waiting = 9;
  auto verdict = evaluate_slo(SloCondition{std::nullopt, 8}, load, 10);
  EXPECT_FALSE(verdict.stay_local);
  EXPECT_EQ(verdict.reason, "queue 9 > 8");
  load.waiting = 8;
  EXPECT_TRUE(evaluate_slo(SloCondition{std::nullopt, 8}, load, 10).stay_local);
}

TEST(SloConditionTest, ColdModelStaysLocal) {
  SchedulerLoad load = idle_load();
  load.prefill_tokens_per_s = 0;
  auto verdict = evaluate_slo(SloCondition{1ms, std::nullopt}, load, 10'000);
  EXPECT_TRUE(verdict.stay_local);
  EXPECT_EQ(verdict.predicted_ttft, std::nullopt);
  EXPECT_EQ(verdict.reason, "no TTFT prediction yet (rates not measured): stays local");
}
