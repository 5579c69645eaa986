#include "actors/routing/rules.h"

#include <gtest/gtest.h>

#include <set>

using namespace tandem::routing;
using namespace std::chrono_literals;

namespace {

// The README's example: local first, then the cloud.
constexpr const char* kExample = R"({
  // Ordered: the first match wins.
  "rules": [
    {
      "name": "assistant",
      "match": {"exact": "assistant"},
      "targets": [
        {"backend": "local", "model": "qwen2.5-7b-instruct", "slo": {"max_ttft_ms": 1500, "max_queue": 8}},
        {"backend": "openai", "model": "gpt-4o-mini"},
        {"backend": "anthropic", "model": "claude-haiku-4-5"},
      ],
      "fallback_on": ["unavailable", "breaker_open", "queue_full", "upstream_failure"],
    },
    {"name": "claude", "match": {"prefix": "claude-"}, "targets": [{"backend": "anthropic"}]},
    {"name": "gpt4", "match": {"regex": "^gpt-4(o|\\.1)(-mini)?$"},
     "targets": [{"backend": "openai"}, {"backend": "anthropic", "model": "claude-sonnet-4-5"}]},
    {"match": {"prefix": "claude-3"}, "targets": [{"backend": "local"}]},  // shadowed by "claude"
  ],
  "default": {"targets": [{"backend": "local"}], "fallback_on": []},
})";

std::string error_of(const char* text) {
  try {
    RoutingRules::parse_text(text);
  } catch (const RulesError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(RoutingRulesTest, ParsesTheExampleWithCommentsAndTrailingCommas) {
  auto rules = RoutingRules::parse_text(kExample);
  ASSERT_EQ(rules.rules().size(), 4u);
  const RoutingRule& assistant = rules.rules()[0];
  EXPECT_EQ(assistant.name, "assistant");
  EXPECT_EQ(assistant.match_kind, MatchKind::exact);
  ASSERT_EQ(assistant.targets.size(), 3u);
  EXPECT_TRUE(assistant.targets[0].is_local());
  EXPECT_EQ(assistant.targets[0].slo.max_ttft, 1500ms);
  EXPECT_EQ(assistant.targets[0].slo.max_queue, 8u);
  EXPECT_EQ(assistant.targets[1].backend, "openai");
  EXPECT_TRUE(assistant.targets[1].slo.empty());
  EXPECT_EQ(rules.rules()[3].name, "rules[3]");
  ASSERT_NE(rules.default_rule(), nullptr);
  EXPECT_EQ(rules.default_rule()->name, "default");
}

TEST(RoutingRulesTest, FirstMatchWinsThenDefault) {
  auto rules = RoutingRules::parse_text(kExample);
  EXPECT_EQ(rules.match("assistant")->name, "assistant");
  EXPECT_EQ(rules.match("assistant-2")->name, "default");  // exact means exact
  EXPECT_EQ(rules.match("claude-3-haiku")->name, "claude");  // earlier prefix rule shadows rules[3]
  EXPECT_EQ(rules.match("claude-opus-4")->name, "claude");
  EXPECT_EQ(rules.match("gpt-4o")->name, "gpt4");
  EXPECT_EQ(rules.match("gpt-4.1-mini")->name, "gpt4");
  EXPECT_EQ(rules.match("gpt-4o-audio")->name, "default");  // anchored regex
  EXPECT_EQ(rules.match("gpt-4x")->name, "default");        // the dot is escaped
  EXPECT_EQ(rules.match("")->name, "default");
}

TEST(RoutingRulesTest, RegexSearchesUnlessAnchored) {
  auto rules = RoutingRules::parse_text(
      R"({"rules": [{"match": {"regex": "mini"}, "targets": [{"backend": "openai"}]}]})");
  EXPECT_NE(rules.match("gpt-4o-mini-2024"), nullptr);
  EXPECT_EQ(rules.match("gpt-4o"), nullptr);  // no default rule: nothing
}

TEST(RoutingRulesTest, ModelRewrite) {
  auto rules = RoutingRules::parse_text(kExample);
  const RoutingRule* gpt4 = rules.match("gpt-4o");
  EXPECT_EQ(gpt4->targets[0].model_for("gpt-4o"), "gpt-4o");  // no rewrite: as requested
  EXPECT_EQ(gpt4->targets[1].model_for("gpt-4o"), "claude-sonnet-4-5");
  EXPECT_EQ(rules.match("assistant")->targets[0].model_for("assistant"), "qwen2.5-7b-instruct");
}

TEST(RoutingRulesTest, FallbackTriggersPerRule) {
  auto rules = RoutingRules::parse_text(kExample);
  const RoutingRule* assistant = rules.match("assistant");
  EXPECT_TRUE(assistant->has_fallback_after(0, FallbackTrigger::queue_full));
  EXPECT_TRUE(assistant->has_fallback_after(1, FallbackTrigger::breaker_open));
  EXPECT_FALSE(assistant->has_fallback_after(2, FallbackTrigger::breaker_open));  // chain exhausted
  EXPECT_FALSE(assistant->has_fallback_after(0, FallbackTrigger::context_too_long));  // not listed
  // Left out: every trigger.
  const RoutingRule* gpt4 = rules.match("gpt-4o");
  for (FallbackTrigger trigger : kAllFallbackTriggers) EXPECT_TRUE(gpt4->has_fallback_after(0, trigger));
  // Empty list: never.
  for (FallbackTrigger trigger : kAllFallbackTriggers) EXPECT_FALSE(rules.default_rule()->falls_back_on(trigger));
}

TEST(RoutingRulesTest, EmptyConfigHasNoRules) {
  auto rules = RoutingRules::parse_text("{}");
  EXPECT_TRUE(rules.rules().empty());
  EXPECT_EQ(rules.match("anything"), nullptr);
}

TEST(RoutingRulesTest, CheckBackendsNamesTheTarget) {
  auto rules = RoutingRules::parse_text(kExample);
  std::set<std::string, std::less<>> known{"local", "openai", "anthropic"};
  EXPECT_NO_THROW(rules.check_backends([&](std::string_view name) { return known.contains(name); }));
  known.erase("anthropic");
  try {
    rules.check_backends([&](std::string_view name) { return known.contains(name); });
    FAIL() << "no error";
  } catch (const RulesError& e) {
    EXPECT_STREQ(e.what(), "routing.rules[0].targets[2].backend: unknown backend \"anthropic\"");
  }
}

TEST(RoutingRulesTest, BadConfigsAreRejectedWithExactMessages) {
  EXPECT_EQ(error_of("{"), "routing: not valid JSON: incomplete JSON");
  EXPECT_EQ(error_of("[]"), "routing: must be a JSON object (got [])");
  EXPECT_EQ(error_of(R"({"rule": []})"), "routing.rule: unknown key (known: rules, default)");
  EXPECT_EQ(error_of(R"({"rules": {}})"), "routing.rules: must be an array of rules (got {})");
  EXPECT_EQ(error_of(R"({"rules": [{"targets": [{"backend": "local"}]}]})"),
            "routing.rules[0].match: required ({\"exact\" | \"prefix\" | \"regex\": \"...\"})");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": "a", "prefix": "b"}, "targets": [{"backend": "local"}]}]})"),
            "routing.rules[0].match: must have exactly one of exact, prefix, regex");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"glob": "a*"}, "targets": [{"backend": "local"}]}]})"),
            "routing.rules[0].match.glob: unknown key (known: exact, prefix, regex)");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": ""}, "targets": [{"backend": "local"}]}]})"),
            "routing.rules[0].match.exact: must be a non-empty string (got \"\")");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": "a"}, "targets": [{"backend": "local"}]},
                                   {"match": {"regex": "gpt-(4"}, "targets": [{"backend": "openai"}]}]})"),
            "routing.rules[1].match.regex: invalid regular expression at offset 6: missing closing parenthesis");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": "a"}, "targets": []}]})"),
            "routing.rules[0].targets: must be a non-empty array of targets (got [])");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": "a"}}]})"),
            "routing.rules[0].targets: must be a non-empty array of targets (missing)");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": "a"}, "targets": [{"backend": "local"}, {"model": "x"}]}]})"),
            "routing.rules[0].targets[1].backend: required (\"local\" or a provider's name)");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": "a"}, "targets": [{"backend": 5}]}]})"),
            "routing.rules[0].targets[0].backend: must be a non-empty string (got 5)");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": "a"}, "targets": [{"backend": "openai", "slo": {"max_queue": 2}}]}]})"),
            "routing.rules[0].targets[0].slo: only a local target can have an slo (backend is \"openai\")");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": "a"}, "targets": [{"backend": "local", "slo": {}}]}]})"),
            "routing.rules[0].targets[0].slo: needs max_ttft_ms or max_queue");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": "a"}, "targets": [{"backend": "local", "slo": {"max_ttft_ms": 0}}]}]})"),
            "routing.rules[0].targets[0].slo.max_ttft_ms: must be a whole number of at least 1 (got 0)");
  EXPECT_EQ(error_of(R"({"rules": [{"match": {"exact": "a"}, "targets": [{"backend": "local"}],
                                    "fallback_on": ["breaker_open", "timeout"]}]})"),
            "routing.rules[0].fallback_on[1]: unknown trigger \"timeout\" (known: unavailable, breaker_open, "
            "queue_full, context_too_long, upstream_failure)");
  EXPECT_EQ(error_of(R"({"rules": [{"name": "x", "match": {"exact": "a"}, "targets": [{"backend": "local"}]},
                                   {"name": "x", "match": {"exact": "b"}, "targets": [{"backend": "local"}]}]})"),
            "routing.rules[1].name: \"x\" is already the name of rules[0]");
  EXPECT_EQ(error_of(R"({"default": {"match": {"exact": "a"}, "targets": [{"backend": "local"}]}})"),
            "routing.default.match: unknown key (known: name, targets, fallback_on)");
}

TEST(RoutingRulesTest, ABadReloadKeepsTheOldRules) {
  auto rules = RoutingRules::parse_text(kExample);
  try {
    rules = RoutingRules::parse_text(R"({"rules": [{"match": {"regex": "("}, "targets": [{"backend": "x"}]}]})");
  } catch (const RulesError&) {
  }
  EXPECT_EQ(rules.rules().size(), 4u);
  EXPECT_EQ(rules.match("gpt-4o")->name, "gpt4");
}
