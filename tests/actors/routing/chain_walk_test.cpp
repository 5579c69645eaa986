#include "actors/routing/chain_walk.h"

#include <gtest/gtest.h>

using namespace tandem::routing;
using namespace std::chrono_literals;

namespace {
RoutingRules example_rules() {
  return RoutingRules::parse_text(R"({
    "rules": [
      {"name": "assistant", "match": {"exact": "assistant"},
       "targets": [{"backend": "local", "model": "qwen", "slo": {"max_ttft_ms": 800}},
                   {"backend": "openai", "model": "gpt-4o-mini"},
                   {"backend": "anthropic", "model": "claude-haiku-4-5"}],
       "fallback_on": ["queue_full", "breaker_open", "upstream_failure"]},
      {"name": "only-local", "match": {"exact": "tiny"},
       "targets": [{"backend": "local", "slo": {"max_queue": 0}}]}
    ]})");
}

SloVerdict leave(std::string reason) { return SloVerdict{false, std::nullopt, std::move(reason)}; }
}  // namespace

TEST(ChainWalkTest, FirstTargetWithItsRewrite) {
  auto rules = example_rules();
  ChainWalk walk(*rules.match("assistant"), "assistant");
  auto step = walk.current();
  ASSERT_TRUE(step);
  EXPECT_EQ(step->index, 0u);
  EXPECT_TRUE(step->target->is_local());
  EXPECT_EQ(step->model, "qwen");
  EXPECT_EQ(walk.fallbacks_header(), "");
}

TEST(ChainWalkTest, ListedTriggersMoveAlongTheChainUntilItEnds) {
  auto rules = example_rules();
  ChainWalk walk(*rules.match("assistant"), "assistant");
  EXPECT_TRUE(walk.fail(FallbackTrigger::queue_full, "local queue 64/64"));
  EXPECT_EQ(walk.current()->model, "gpt-4o-mini");
  EXPECT_TRUE(walk.fail(FallbackTrigger::breaker_open));
  EXPECT_EQ(walk.current()->target->backend, "anthropic");
  EXPECT_FALSE(walk.fail(FallbackTrigger::upstream_failure));  // nothing after the last target
  EXPECT_TRUE(walk.ended());
  EXPECT_FALSE(walk.current());
  ASSERT_EQ(walk.fallbacks().size(), 2u);
  EXPECT_EQ(walk.fallbacks()[0].from, "local/qwen");
  EXPECT_EQ(walk.fallbacks()[0].to, "openai/gpt-4o-mini");
  EXPECT_EQ(walk.fallbacks()[0].reason, "queue_full");
  EXPECT_EQ(walk.fallbacks()[0].detail, "local queue 64/64");
  EXPECT_EQ(walk.fallbacks_header(), "local/qwen:queue_full,openai/gpt-4o-mini:breaker_open");
}

TEST(ChainWalkTest, UnlistedTriggerEndsTheWalk) {
  auto rules = example_rules();
  ChainWalk walk(*rules.match("assistant"), "assistant");
  EXPECT_FALSE(walk.fail(FallbackTrigger::context_too_long));
  EXPECT_TRUE(walk.ended());
  EXPECT_TRUE(walk.fallbacks().empty());
  EXPECT_FALSE(walk.fail(FallbackTrigger::queue_full));  // ended stays ended
}

TEST(ChainWalkTest, SloSkipsTheLocalTargetWhenThereIsANextOne) {
  auto rules = example_rules();
  ChainWalk walk(*rules.match("assistant"), "assistant");
  EXPECT_FALSE(walk.skip_for_slo(SloVerdict{true, 300ms, "predicted TTFT 300 ms <= 800 ms"}));
  EXPECT_EQ(walk.current()->index, 0u);
  EXPECT_TRUE(walk.skip_for_slo(leave("predicted TTFT 1740 ms > 800 ms")));
  EXPECT_EQ(walk.current()->target->backend, "openai");
  EXPECT_EQ(walk.fallbacks()[0].reason, "slo");
  EXPECT_EQ(walk.fallbacks()[0].detail, "predicted TTFT 1740 ms > 800 ms");
}

TEST(ChainWalkTest, TheLastTargetIsTriedWhateverItsSlo) {
  auto rules = example_rules();
  ChainWalk walk(*rules.match("tiny"), "tiny");
  EXPECT_FALSE(walk.skip_for_slo(leave("queue 3 > 0")));
  ASSERT_TRUE(walk.current());
  EXPECT_EQ(walk.current()->model, "tiny");
  EXPECT_FALSE(walk.ended());
}

TEST(ChainWalkTest, SurvivesAReloadOfTheRules) {
  auto rules = example_rules();
  ChainWalk walk(*rules.match("assistant"), "assistant");
  rules = RoutingRules::parse_text(R"({"default": {"targets": [{"backend": "local"}]}})");
  EXPECT_TRUE(walk.fail(FallbackTrigger::queue_full));
  EXPECT_EQ(walk.current()->model, "gpt-4o-mini");
  EXPECT_EQ(walk.rule().name, "assistant");
}
