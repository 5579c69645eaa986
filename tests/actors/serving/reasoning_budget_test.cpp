// Thinking budgets (actors/serving/reasoning.h): the budget a request's thinking settings give,
// and ReasoningBudget following a generation token by token — counting the reasoning block,
// forcing the end marker once when only room for it is left, never for an answer.
#include "actors/serving/reasoning.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tandem::local {
namespace {

using schemas::Effort;
using schemas::ThinkingConfig;

ThinkingConfig thinking(ThinkingConfig::Mode mode, Effort effort = Effort::unset, int64_t budget = 0) {
  ThinkingConfig config;
  config.mode = mode;
  config.enabled = mode == ThinkingConfig::Mode::enabled || mode == ThinkingConfig::Mode::adaptive;
  config.effort = effort;
  config.budget_tokens = budget;
  return config;
}

// The budget, -1 for none (readable in failure messages).
int64_t budget_of(const ThinkingConfig& config, int64_t max_tokens) {
  return reasoning_budget(config, max_tokens).value_or(-1);
}

TEST(ReasoningBudgetTable, ExplicitBudgetEffortSharesAndNoBound) {
  using Mode = ThinkingConfig::Mode;
  EXPECT_EQ(budget_of(thinking(Mode::enabled, Effort::unset, 1500), 4000), 1500);
  // An explicit budget wins over an effort sent beside it.
  EXPECT_EQ(budget_of(thinking(Mode::enabled, Effort::low, 1500), 4000), 1500);
  EXPECT_EQ(budget_of(thinking(Mode::adaptive, Effort::minimal), 1600), 100);
  EXPECT_EQ(budget_of(thinking(Mode::adaptive, Effort::low), 1600), 400);
  EXPECT_EQ(budget_of(thinking(Mode::adaptive, Effort::medium), 1600), 800);
  EXPECT_EQ(budget_of(thinking(Mode::adaptive, Effort::high), 1600), 1200);
  EXPECT_EQ(budget_of(thinking(Mode::adaptive, Effort::xhigh), 1600), 1400);
  // Anthropic adaptive alone thinks at its default effort, high.
  EXPECT_EQ(budget_of(thinking(Mode::adaptive), 1600), 1200);
  // A tiny max_tokens still leaves one token of reasoning.
  EXPECT_EQ(budget_of(thinking(Mode::adaptive, Effort::minimal), 8), 1);
  EXPECT_EQ(budget_of(thinking(Mode::adaptive, Effort::max), 1600), -1);
  EXPECT_EQ(budget_of(thinking(Mode::unset), 1600), -1);
  EXPECT_EQ(budget_of(thinking(Mode::disabled), 1600), -1);
  EXPECT_EQ(budget_of(thinking(Mode::disabled, Effort::none), 1600), -1);
}

// Feeds `tokens` (texts) and records after which token (index) the marker was handed back.
struct Run {
  std::vector<size_t> forced_after;
  int64_t reasoning_tokens = 0;
};

Run feed(ReasoningBudget& budget, const std::vector<std::string>& tokens) {
  Run run;
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto forced = budget.add(tokens[i]);
    if (!forced.empty()) {
      EXPECT_EQ(forced, (std::vector<int32_t>{7, 8, 9}));
      run.forced_after.push_back(i);
    }
  }
  run.reasoning_tokens = budget.reasoning_tokens();
  return run;
}

const std::vector<int32_t> marker = {7, 8, 9};  // three tokens spelling "</think>"

TEST(ReasoningBudget, ForcesTheMarkerWhenOnlyRoomForItIsLeft) {
  // Prompt-opened block, budget 6: three tokens of reasoning, then the marker's three.
  ReasoningBudget budget(true, 6, marker);
  auto run = feed(budget, {" a", " b", " c"});
  EXPECT_EQ(run.forced_after, std::vector<size_t>{2});
  // The forced tokens come back as generated tokens: they close the block at exactly 6.
  run = feed(budget, {"</", "think", ">", "hi", " there"});
  EXPECT_TRUE(run.forced_after.empty());
  EXPECT_EQ(run.reasoning_tokens, 6);
  EXPECT_TRUE(budget.forced());
}

TEST(ReasoningBudget, ModelOpenedBlockCountsItsTagsAndLeadingSpace) {
  ReasoningBudget budget(false, 100, marker);
  auto run = feed(budget, {"\n", "<th", "ink>", " x", " y", "</think>", "answer", " more"});
  EXPECT_TRUE(run.forced_after.empty());
  EXPECT_EQ(run.reasoning_tokens, 6);  // "\n", "<th", "ink>", " x", " y", "</think>"
  EXPECT_FALSE(budget.forced());
}

TEST(ReasoningBudget, ModelOpenedBlockIsBoundedToo) {
  ReasoningBudget budget(false, 5, marker);
  auto run = feed(budget, {"<think>", " x", " y", " z"});
  EXPECT_EQ(run.forced_after, std::vector<size_t>{1});  // "<think>" + " x" + 3 marker tokens = 5
}

TEST(ReasoningBudget, NoBlockMeansNoReasoningAndNothingForced) {
  ReasoningBudget budget(false, 2, marker);
  auto run = feed(budget, {" Hello", " <think>", " x", " y", " z"});
  EXPECT_TRUE(run.forced_after.empty());
  EXPECT_EQ(run.reasoning_tokens, 0);
}

TEST(ReasoningBudget, CloseTagSplitAcrossTokensEndsTheBlock) {
  ReasoningBudget budget(true, 12, marker);
  auto run = feed(budget, {" a", " b</", "thi", "nk>", " answer", " b", " c", " d", " e", " f", " g", " h"});
  EXPECT_TRUE(run.forced_after.empty());  // closed at 4 tokens, long before the budget
  EXPECT_EQ(run.reasoning_tokens, 4);
}

TEST(ReasoningBudget, WithoutBudgetItOnlyCounts) {
  ReasoningBudget budget(true, std::nullopt, marker);
  std::vector<std::string> tokens(50, " word");
  auto run = feed(budget, tokens);
  EXPECT_TRUE(run.forced_after.empty());
  EXPECT_EQ(run.reasoning_tokens, 50);
}

TEST(ReasoningBudget, ForcesOnlyOnce) {
  ReasoningBudget budget(true, 4, marker);
  // The first token leaves room for the marker alone; later tokens (the model going on inside an
  // unclosed block, e.g. the forced tokens failing to spell the tag) never force again.
  auto run = feed(budget, {" a", " b", " c", " d", " e"});
  EXPECT_EQ(run.forced_after, std::vector<size_t>{0});
}

}  // namespace
}  // namespace tandem::local
