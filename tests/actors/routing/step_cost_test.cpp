#include "actors/routing/step_cost.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>

using namespace tandem::routing;

namespace {
// The machine the tests pretend to time: 2 ms a step whatever it holds (the loop, sampling,
// waking threads), 0.1 ms a prefill row, 0.5 ms a decode row.
constexpr double kStepCost = 0.002, kPrefillCost = 0.0001, kDecodeCost = 0.0005;
double step_time(uint64_t prefill, uint64_t decode) { return kStepCost + kPrefillCost * prefill + kDecodeCost * decode; }
}  // namespace

TEST(StepCostModelTest, NothingSeenNothingKnown) {
  StepCostModel model;
  auto cost = model.cost();
  EXPECT_FALSE(cost.prefill_seen);
  EXPECT_FALSE(cost.decode_seen);
  EXPECT_EQ(cost.seconds(100, 4), 0);
}

TEST(StepCostModelTest, SeparatesTheFixedPartOfAStepFromItsRows) {
  StepCostModel model;
  for (auto [p, d] : {std::pair<uint64_t, uint64_t>{100, 4}, {50, 4}, {0, 4}, {200, 2}, {252, 4}, {0, 3}, {0, 1}})
    model.observe(p, d, step_time(p, d));
  auto cost = model.cost();
  EXPECT_NEAR(cost.per_step, kStepCost, 1e-9);
  EXPECT_NEAR(cost.per_prefill_row, kPrefillCost, 1e-9);
  EXPECT_NEAR(cost.per_decode_row, kDecodeCost, 1e-9);
}

// The miscalibration this model fixes: a scheduler that mostly decodes and prefills only what
// the prefix cache leaves (a few rows). Without a fixed part each of those few rows took the
// whole step's cost, 20x the truth, and a 64-row prefill was predicted 5x too long.
TEST(StepCostModelTest, SmallPrefillsDoNotMakePromptRowsLookExpensive) {
  StepCostModel model;
  for (int i = 0; i < 300; ++i) {
    uint64_t p = i % 48 == 0 ? 5 + i % 11 : 0;
    uint64_t d = p > 0 ? 1 : 2;
    model.observe(p, d, step_time(p, d));
  }
  auto cost = model.cost();
  EXPECT_NEAR(cost.per_prefill_row, kPrefillCost, 1e-7);
  EXPECT_NEAR(cost.seconds(64, 1), step_time(64, 1), 1e-6);
  EXPECT_NEAR(cost.seconds(0, 2), step_time(0, 2), 1e-6);
}

TEST(StepCostModelTest, OneKindOfRowOnly) {
  StepCostModel decode_only;
  for (uint64_t d : {4, 2, 3, 1, 4}) decode_only.observe(0, d, step_time(0, d));
  EXPECT_TRUE(decode_only.cost().decode_seen);
  EXPECT_FALSE(decode_only.cost().prefill_seen);
  EXPECT_NEAR(decode_only.cost().seconds(0, 3), step_time(0, 3), 1e-9);
  StepCostModel prefill_only;
  for (uint64_t p : {128, 64, 7}) prefill_only.observe(p, 0, step_time(p, 0));
  EXPECT_TRUE(prefill_only.cost().prefill_seen);
  EXPECT_FALSE(prefill_only.cost().decode_seen);
  EXPECT_NEAR(prefill_only.cost().per_prefill_row, kPrefillCost, 1e-9);
}

// Always the same mix: the parts cannot be told apart, but that mix is still predicted right.
TEST(StepCostModelTest, AlwaysTheSameMixIsStillPredictedRight) {
  StepCostModel model;
  for (int i = 0; i < 5; ++i) model.observe(100, 4, step_time(100, 4));
  auto cost = model.cost();
  EXPECT_NEAR(cost.seconds(100, 4), step_time(100, 4), 1e-9);
  EXPECT_GE(cost.per_step, 0);
  EXPECT_GE(cost.per_prefill_row, 0);
  EXPECT_GE(cost.per_decode_row, 0);
}

// Noise that would fit a negative cost (here decode rows look free, bigger batches even
// faster): that part is dropped and the rest refitted, so no prediction ever shrinks with work.
TEST(StepCostModelTest, NoCostIsEverNegative) {
  StepCostModel model;
  model.observe(0, 1, 0.004);
  model.observe(0, 4, 0.003);
  model.observe(60, 2, 0.010);
  model.observe(30, 3, 0.006);
  auto cost = model.cost();
  EXPECT_EQ(cost.per_decode_row, 0);
  EXPECT_GT(cost.per_step, 0);
  EXPECT_GT(cost.per_prefill_row, 0);
}

TEST(StepCostModelTest, FollowsAMachineThatSlowsDown) {
  StepCostModel model(0.98);
  for (int i = 0; i < 200; ++i) model.observe(50 + i % 7 * 20, 1 + i % 4, step_time(50 + i % 7 * 20, 1 + i % 4));
  for (int i = 0; i < 400; ++i) {
    uint64_t p = 50 + i % 7 * 20, d = 1 + i % 4;
    model.observe(p, d, 2 * step_time(p, d));  // everything now twice as slow
  }
  auto cost = model.cost();
  EXPECT_NEAR(cost.per_step, 2 * kStepCost, 1e-5);
  EXPECT_NEAR(cost.per_prefill_row, 2 * kPrefillCost, 1e-7);
  EXPECT_NEAR(cost.per_decode_row, 2 * kDecodeCost, 1e-6);
}
