#include "actors/routing/ttft_predictor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <vector>

using namespace tandem::routing;
using namespace std::chrono_literals;

namespace {
// 1 ms a step, 1 ms a prefill row, 10 ms a decode row: round numbers to compute by hand.
StepCost round_costs() {
  StepCost cost;
  cost.per_step = 0.001;
  cost.per_prefill_row = 0.001;
  cost.per_decode_row = 0.010;
  cost.prefill_seen = cost.decode_seen = true;
  return cost;
}

SchedulerLoad idle_load() {
  SchedulerLoad load;
  load.max_running = 4;
  load.max_waiting = 64;
  load.step_token_budget = 256;
  load.step_cost = round_costs();
  load.mean_prompt_tokens = 300;
  load.mean_generated_tokens = 48;
  return load;
}
}  // namespace

TEST(TtftPredictorTest, IdleModelIsPrefillOnly) {
  // 500 rows in 2 steps of 256: 2 x 1 ms + 500 x 1 ms.
  EXPECT_EQ(predict_ttft(idle_load(), 500), 502ms);
  EXPECT_EQ(predict_ttft(idle_load(), 1), 2ms);  // one step, one row
}

TEST(TtftPredictorTest, TheTimeBeforeTheSchedulerIsAdded) {
  SchedulerLoad load = idle_load();
  load.seconds_before_submit = 0.007;
  EXPECT_EQ(predict_ttft(load, 500), 509ms);
}

// The prefix cache serves most of a repeated prompt: only the rest is computed.
TEST(TtftPredictorTest, OnlyWhatThePrefixCacheLeavesIsPrefilled) {
  SchedulerLoad load = idle_load();
  load.cached_prompt_share = 0.9;
  EXPECT_EQ(predict_ttft(load, 500), 51ms);  // 50 rows in one step
  load.cached_prompt_share = 1.0;
  EXPECT_EQ(predict_ttft(load, 500), 2ms);  // its last token is always computed
}

TEST(TtftPredictorTest, RunningSequencesAddDecodeRowsToEveryStep) {
  SchedulerLoad load = idle_load();
  load.running = 2;
  // 254 prefill rows a step -> 2 steps of 1 + 2 x 10 ms, plus 500 rows.
  EXPECT_EQ(predict_ttft(load, 500), 542ms);
}

TEST(TtftPredictorTest, QueuedPromptsAheadArePrefilledFirstWhenASlotIsFree) {
  SchedulerLoad load = idle_load();
  load.running = 2;
  load.waiting = 1;  // 2 slots free: both join now, the queued one's 300 rows first
  // 800 rows -> 4 steps of 254: 4 x 21 ms + 800 ms.
  EXPECT_EQ(predict_ttft(load, 500), 884ms);
}

TEST(TtftPredictorTest, AFullBatchMakesItWaitForTheSlotThatFreesFirst) {
  SchedulerLoad load = idle_load();
  load.max_running = 2;
  load.running = 2;
  load.waiting = 1;
  load.mean_prompt_tokens = 100;
  load.cached_prompt_share = 0.5;
  load.running_progress = {{40, 48}, {10, 48}};
  // A full step: 1 + 2 x 10 = 21 ms. The slots free after 8 and 38 steps: 168 and 798 ms. The
  // queued request takes the first and holds it for its prefill (50 rows beside one decode:
  // 11 + 50 ms; its first token) and 47 more steps (987 ms): until 1216 ms. This one gets the other at 798 ms, then
  // its own 100 rows beside one decode: 111 ms.
  EXPECT_EQ(predict_ttft(load, 200), 909ms);
}

TEST(TtftPredictorTest, ASequenceEndsAtItsMaxTokensIfThatComesFirst) {
  SchedulerLoad load = idle_load();
  load.max_running = 1;
  load.running = 1;
  load.running_progress = {{2, 4}};  // 2 steps left (not 46)
  // 2 steps of 11 ms, then 10 rows in a step of 1 ms.
  EXPECT_EQ(predict_ttft(load, 10), 33ms);
}

// Sequences admitted together finish together: two queued ahead of it take both slots of an
// idle pair and it waits for a whole generation, not half of one.
TEST(TtftPredictorTest, SequencesInLockstepFreeTheirSlotsTogether) {
  SchedulerLoad load = idle_load();
  load.max_running = 2;
  load.waiting = 2;
  load.mean_prompt_tokens = 10;
  // Each holds its slot for 10 rows beside one decode (21 ms) + 47 steps of 21 ms (987 ms);
  // then its own 10 rows beside one decode (21 ms).
  EXPECT_EQ(predict_ttft(load, 10), 1029ms);
}

TEST(TtftPredictorTest, UnknownProgressCountsAsHalfAGeneration) {
  SchedulerLoad load = idle_load();
  load.max_running = 1;
  load.running = 1;  // no running_progress published
  // 24 steps of 11 ms, then 10 rows in a step of 1 ms.
  EXPECT_EQ(predict_ttft(load, 10), 275ms);
}

TEST(TtftPredictorTest, NoPredictionUntilWhatTheCaseNeedsIsMeasured) {
  SchedulerLoad load = idle_load();
  load.step_cost.prefill_seen = false;
  EXPECT_EQ(predict_ttft(load, 100), std::nullopt);
  load = idle_load();
  load.step_cost.decode_seen = false;
  EXPECT_EQ(predict_ttft(load, 100), 101ms);  // nothing decoding: decode costs are not needed
  load.running = 2;
  EXPECT_EQ(predict_ttft(load, 100), std::nullopt);
  load = idle_load();
  load.max_running = 1;
  load.running = 1;
  load.mean_generated_tokens = 0;  // no request finished yet: when a slot frees is unknown
  EXPECT_EQ(predict_ttft(load, 100), std::nullopt);
}

TEST(TtftPredictorTest, PromptLengthComesFromTheLearnedFitElseFourBytesAToken) {
  SchedulerLoad load;
  EXPECT_EQ(estimate_prompt_tokens(load, 400), 100u);
  EXPECT_EQ(estimate_prompt_tokens(load, 0), 1u);
  load.prompt_tokens_base = 13;
  load.prompt_tokens_per_byte = 0.27;
  EXPECT_EQ(estimate_prompt_tokens(load, 1000), 283u);
}

TEST(TtftPredictorTest, DecodeAndPrefillRatesForDisplay) {
  SchedulerLoad load = idle_load();
  load.running = 4;
  EXPECT_NEAR(load.decode_tokens_per_s(), 4 / 0.041, 1e-9);
  EXPECT_NEAR(load.prefill_tokens_per_s(), 256 / 0.257, 1e-9);
  load.step_cost = StepCost{};
  EXPECT_EQ(load.decode_tokens_per_s(), 0);
  EXPECT_EQ(load.prefill_tokens_per_s(), 0);
}

namespace {
// The scheduler, step by step (engine.h's rules): admit from the queue while slots are free;
// each step gives every decoding sequence a row and the rest of the budget to prompts, oldest
// first; a prompt's last row yields its first token; a sequence ends at `generate` tokens.
struct SimSequence {
  double prompt_left;
  uint32_t generated;
  bool is_new;
};

double simulate_ttft(const StepCost& cost, size_t slots, size_t budget, std::vector<SimSequence> running,
                     std::deque<SimSequence> queue, uint32_t generate) {
  double clock = 0;
  for (int step = 0; step < 100000; ++step) {
    while (running.size() < slots && !queue.empty()) {
      running.push_back(queue.front());
      queue.pop_front();
    }
    double decodes = 0;
    for (const auto& s : running) decodes += s.prompt_left == 0 ? 1 : 0;
    double rows_left = double(budget) - decodes, prefill = 0;
    std::vector<bool> first_token(running.size(), false);
    for (size_t i = 0; i < running.size(); ++i) {
      if (running[i].prompt_left == 0 || rows_left <= 0) continue;
      double rows = std::min(rows_left, running[i].prompt_left);
      running[i].prompt_left -= rows;
      rows_left -= rows;
      prefill += rows;
      first_token[i] = running[i].prompt_left == 0;
    }
    clock += cost.seconds(prefill, decodes);
    std::vector<SimSequence> still;
    for (size_t i = 0; i < running.size(); ++i) {
      auto s = running[i];
      if (first_token[i] && s.is_new) return clock;
      if (s.prompt_left == 0) ++s.generated;  // a decode row, or its prompt's last row
      if (s.generated < generate) still.push_back(s);
    }
    running = still;
  }
  return -1;
}
}  // namespace

// The prediction against the simulated scheduler, in the cases the router meets: idle, a free
// slot, a full batch at various points of its generations, a queue behind a full batch.
TEST(TtftPredictorTest, PredictionTracksASimulatedScheduler) {
  StepCost cost;
  cost.per_step = 0.002;
  cost.per_prefill_row = 0.0001;
  cost.per_decode_row = 0.0005;
  cost.prefill_seen = cost.decode_seen = true;
  const uint32_t generate = 48;
  const size_t slots = 2, budget = 64;
  struct Case {
    std::vector<uint32_t> progress;  // running sequences' generated tokens
    size_t queued;
  };
  for (const Case& c : {Case{{}, 0}, Case{{20}, 0}, Case{{5}, 1}, Case{{40, 10}, 0}, Case{{40, 10}, 3},
                        Case{{47, 47}, 2}, Case{{}, 2}, Case{{24, 0}, 5}}) {
    std::vector<SimSequence> running;
    SchedulerLoad load;
    load.max_running = slots;
    load.step_token_budget = budget;
    load.step_cost = cost;
    load.mean_prompt_tokens = 30;
    load.mean_generated_tokens = generate;
    for (uint32_t g : c.progress) {
      running.push_back({0, g, false});
      load.running_progress.push_back({g, generate});
    }
    load.running = running.size();
    load.waiting = c.queued;
    std::deque<SimSequence> queue(c.queued, SimSequence{30, 0, false});
    queue.push_back({90, 0, true});
    double simulated = simulate_ttft(cost, slots, budget, running, queue, generate);
    auto predicted = predict_ttft(load, 90);
    ASSERT_TRUE(predicted);
    EXPECT_NEAR(double(predicted->count()), simulated * 1000, std::max(2.0, 0.05 * simulated * 1000))
        << "running " << c.progress.size() << ", queued " << c.queued;
  }
}

TEST(SloConditionTest, StaysLocalUnderTheThreshold) {
  SloCondition condition{800ms, std::nullopt};
  auto verdict = evaluate_slo(condition, idle_load(), 500);
  EXPECT_TRUE(verdict.stay_local);
  EXPECT_EQ(verdict.predicted_ttft, 502ms);
  EXPECT_EQ(verdict.reason, "predicted TTFT 502 ms <= 800 ms");
}

TEST(SloConditionTest, LeavesWhenPredictedTtftIsTooLong) {
  SchedulerLoad load = idle_load();
  load.running = 2;
  load.waiting = 1;
  auto verdict = evaluate_slo(SloCondition{800ms, std::nullopt}, load, 500);
  EXPECT_FALSE(verdict.stay_local);
  EXPECT_EQ(verdict.predicted_ttft, 884ms);
  EXPECT_EQ(verdict.reason, "predicted TTFT 884 ms > 800 ms");
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
  load.step_cost = StepCost{};
  auto verdict = evaluate_slo(SloCondition{1ms, std::nullopt}, load, 10'000);
  EXPECT_TRUE(verdict.stay_local);
  EXPECT_EQ(verdict.predicted_ttft, std::nullopt);
  EXPECT_EQ(verdict.reason, "no TTFT prediction yet (rates not measured): stays local");
}
