#include "actors/routing/step_cost.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "actors/routing/ttft_predictor.h"

using namespace tandem::routing;

namespace {
// The machine the tests pretend to time: 1 ms per prefill row, 5 ms per decode row.
constexpr double kPrefillCost = 0.001, kDecodeCost = 0.005;
double step_time(uint64_t prefill, uint64_t decode) { return kPrefillCost * prefill + kDecodeCost * decode; }
}  // namespace

TEST(StepCostModelTest, NothingSeenNothingKnown) {
  StepCostModel model;
  EXPECT_EQ(model.prefill_tokens_per_s(), 0);
  EXPECT_EQ(model.decode_tokens_per_s(), 0);
}

TEST(StepCostModelTest, MixedStepsSeparatePrefillFromDecode) {
  StepCostModel model;
  for (auto [p, d] : {std::pair<uint64_t, uint64_t>{100, 4}, {50, 4}, {0, 4}, {200, 2}, {252, 4}, {0, 3}})
    model.observe(p, d, step_time(p, d));
  EXPECT_NEAR(model.prefill_tokens_per_s(), 1000.0, 1e-6);
  EXPECT_NEAR(model.decode_tokens_per_s(), 200.0, 1e-6);
}

TEST(StepCostModelTest, OneKindOfRowOnly) {
  StepCostModel decode_only;
  for (int i = 0; i < 5; ++i) decode_only.observe(0, 4, step_time(0, 4));
  EXPECT_NEAR(decode_only.decode_tokens_per_s(), 200.0, 1e-6);
  EXPECT_EQ(decode_only.prefill_tokens_per_s(), 0);
  StepCostModel prefill_only;
  for (int i = 0; i < 5; ++i) prefill_only.observe(128, 0, step_time(128, 0));
  EXPECT_NEAR(prefill_only.prefill_tokens_per_s(), 1000.0, 1e-6);
  EXPECT_EQ(prefill_only.decode_tokens_per_s(), 0);
}

TEST(StepCostModelTest, AlwaysTheSameMixSharesTheAverageCost) {
  StepCostModel model;
  for (int i = 0; i < 5; ++i) model.observe(100, 4, step_time(100, 4));
  double average_rate = 104 / step_time(100, 4);
  EXPECT_NEAR(model.prefill_tokens_per_s(), average_rate, 1e-6);
  EXPECT_NEAR(model.decode_tokens_per_s(), average_rate, 1e-6);
}

TEST(StepCostModelTest, FollowsAMachineThatSlowsDown) {
  StepCostModel model(0.98);
  for (int i = 0; i < 200; ++i) model.observe(50 + i % 7 * 20, 1 + i % 4, step_time(50 + i % 7 * 20, 1 + i % 4));
  for (int i = 0; i < 400; ++i) {
    uint64_t p = 50 + i % 7 * 20, d = 1 + i % 4;
    model.observe(p, d, 2 * step_time(p, d));  // everything now twice as slow
  }
  EXPECT_NEAR(model.prefill_tokens_per_s(), 500.0, 5.0);
  EXPECT_NEAR(model.decode_tokens_per_s(), 100.0, 1.0);
}

// The predictor fed with the learned rates against a step-by-step simulation of the scheduler
// on the same machine: prefill rows fill each step after the running sequences' decode rows.
TEST(StepCostModelTest, PredictionMatchesASimulatedScheduler) {
  StepCostModel model;
  for (auto [p, d] : {std::pair<uint64_t, uint64_t>{252, 4}, {30, 4}, {0, 4}, {256, 0}, {120, 2}})
    model.observe(p, d, step_time(p, d));

  const uint64_t budget = 256, running = 4, queued_tokens = 900;
  for (uint64_t prompt : {1u, 100u, 252u, 253u, 2000u}) {
    double simulated = 0;
    for (uint64_t left = queued_tokens + prompt; left > 0;) {
      uint64_t rows = std::min(left, budget - running);
      simulated += step_time(rows, running);
      left -= rows;
    }
    SchedulerLoad load;
    load.running = running;
    load.step_token_budget = budget;
    load.queued_prompt_tokens = queued_tokens;
    load.prefill_tokens_per_s = model.prefill_tokens_per_s();
    load.decode_tokens_per_s = model.decode_tokens_per_s();
    auto predicted = predict_ttft(load, prompt);
    ASSERT_TRUE(predicted);
    EXPECT_NEAR(double(predicted->count()), simulated * 1000.0, 1.0) << "prompt " << prompt;
  }
}
