// The render budget: a hostile chat template (GGUF files come from anywhere) ends with a
// TemplateBudgetError naming the exhausted resource, instead of taking all memory or a CPU
// forever; ordinary templates never come near it.
#include "engine/chat_template.h"
#include "tests/engine/template/render_helper.h"

#include <gtest/gtest.h>

#include <string>

namespace tandem::engine {
namespace {

struct Outcome {
  bool budget_error = false;  // a TemplateBudgetError (not just any TemplateError)
  std::string message;        // the error's text, or the rendering when it succeeded
};

Outcome render_with(const std::string& source, const RenderBudget& budget = {}) {
  ChatTemplate chat_template(source);
  ChatTemplateInput input;
  input.messages = boost::json::array();
  input.now = test::reference_now();
  input.budget = budget;
  try {
    return {false, chat_template.render(input)};
  } catch (const TemplateBudgetError& error) {
    return {true, error.what()};
  } catch (const TemplateError& error) {
    return {false, error.what()};
  }
}

bool mentions(const Outcome& outcome, const std::string& text) {
  return outcome.message.find(text) != std::string::npos;
}

// The reproducer: grew to 14.7 GB in 60 s before the budget existed.
const char* kDoublingString =
    "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s | length }}";

TEST(TemplateBudget, DoublingStringStopsAtTheStringLimitWithDefaults) {
  Outcome outcome = render_with(kDoublingString);
  EXPECT_TRUE(outcome.budget_error) << outcome.message;
  EXPECT_TRUE(mentions(outcome, "string would grow to 67108864 bytes")) << outcome.message;
  EXPECT_TRUE(mentions(outcome, "chat template stopped")) << outcome.message;
}

TEST(TemplateBudget, StringLimitIsTheConfiguredOne) {
  RenderBudget budget;
  budget.max_string_bytes = 1000;
  Outcome outcome = render_with(kDoublingString, budget);
  EXPECT_TRUE(outcome.budget_error);
  EXPECT_TRUE(mentions(outcome, "string would grow to 1024 bytes, over the render budget of 1000"))
      << outcome.message;
  // Below the limit the same template renders: 2^9 = 512 bytes.
  budget.max_string_bytes = 512;
  EXPECT_EQ(render_with("{% set ns = namespace(s='a') %}{% for i in range(9) %}"
                        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
                        budget).message,
            "512");
}

TEST(TemplateBudget, NestedLoopsStopAtTheStepLimit) {
  RenderBudget budget;
  budget.max_steps = 200'000;
  Outcome outcome = render_with(
      "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", budget);
  EXPECT_TRUE(outcome.budget_error) << outcome.message;
  EXPECT_TRUE(mentions(outcome, "more than 200000 steps")) << outcome.message;
}

TEST(TemplateBudget, StepsCountEveryLoopTurnAndExpression) {
  // 1000 empty turns need 1000 steps at least; a budget of 999 must refuse, 100000 must not.
  const std::string loop = "{% for i in range(1000) %}{% endfor %}done";
  RenderBudget budget;
  budget.max_steps = 999;
  EXPECT_TRUE(render_with(loop, budget).budget_error);
  budget.max_steps = 100'000;
  EXPECT_EQ(render_with(loop, budget).message, "done");
}

TEST(TemplateBudget, OutputLimit) {
  const std::string source = "{% for i in range(1000) %}0123456789{% endfor %}";
  RenderBudget budget;
  budget.max_output_bytes = 9'999;
  Outcome outcome = render_with(source, budget);
  EXPECT_TRUE(outcome.budget_error);
  EXPECT_TRUE(mentions(outcome, "output grew past 9999 bytes")) << outcome.message;
  budget.max_output_bytes = 10'000;
  EXPECT_EQ(render_with(source, budget).message.size(), 10'000u);
}

TEST(TemplateBudget, ListLimit) {
  const std::string source =
      "{% set ns = namespace(l=[1]) %}{% for i in range(30) %}{% set ns.l = ns.l + ns.l %}"
      "{% endfor %}{{ ns.l | length }}";
  RenderBudget budget;
  budget.max_items = 4096;
  Outcome outcome = render_with(source, budget);
  EXPECT_TRUE(outcome.budget_error);
  EXPECT_TRUE(mentions(outcome, "list would grow to 8192 items")) << outcome.message;
  // Iterating a string makes one item per character: bounded the same way.
  outcome = render_with("{% for c in 'abcdef' * 1000 %}{% endfor %}", budget);
  EXPECT_TRUE(outcome.budget_error) << outcome.message;
}

TEST(TemplateBudget, WallTimeLimit) {
  // A zero budget is already exhausted at the first clock check (every 4096 steps): no timing.
  RenderBudget budget;
  budget.max_time = std::chrono::milliseconds(0);
  Outcome outcome = render_with("{% for i in range(10000) %}{% endfor %}", budget);
  EXPECT_TRUE(outcome.budget_error);
  EXPECT_TRUE(mentions(outcome, "longer than 0 ms")) << outcome.message;
  EXPECT_EQ(render_with("short", budget).message, "short");  // fewer steps than a clock check
}

TEST(TemplateBudget, SizesAreCheckedBeforeTheMemoryIsTaken) {
  RenderBudget budget;
  budget.max_string_bytes = 1 << 20;
  for (const char* source : {
           "{{ 'x' | center(10000000000) }}",
           "{{ 'x'.ljust(10000000000) }}",
           "{{ [1, [2, [3]]] | tojson(indent=1000000000) }}",
           "{{ 'abc' | indent(10000000000) }}",
           "{% set ns = namespace(s='ab') %}{% for i in range(30) %}"
           "{% set ns.s = ns.s.replace('a', 'aa') %}{% endfor %}",
           "{% set ns = namespace(l=['abcdefgh']) %}{% for i in range(17) %}"
           "{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | join('x') }}",
       }) {
    Outcome outcome = render_with(source, budget);
    EXPECT_TRUE(outcome.budget_error) << source << " -> " << outcome.message;
  }
}

TEST(TemplateBudget, TemplateCannotCatchTheBudgetError) {
  // `default` and `is defined` swallow some errors; a budget error must pass through them.
  RenderBudget budget;
  budget.max_string_bytes = 100;
  Outcome outcome = render_with("{{ ('x' * 200) | default('fallback') }}", budget);
  EXPECT_TRUE(outcome.budget_error) << outcome.message;
}

TEST(TemplateBudget, OtherErrorsAreNotBudgetErrors) {
  Outcome outcome = render_with("{{ raise_exception('no system role') }}");
  EXPECT_FALSE(outcome.budget_error);
  EXPECT_EQ(outcome.message, "no system role");
}

TEST(TemplateValues, ANamespaceCannotBeStoredInsideItself) {
  // A cycle would overflow the stack when printed and leak when the render ends.
  for (const char* source : {"{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}",
                             "{% set ns = namespace() %}{% set ns.l = [1, [ns]] %}",
                             "{% set a = namespace() %}{% set b = namespace(x=a) %}{% set a.y = {'k': b} %}",
                             // Values checked by an earlier assignment (the check remembers the
                             // namespace-free ones) must still be searched when they hold one.
                             "{% set a = namespace() %}{% set b = namespace() %}{% set b.l = [[a], {'k': [a]}] %}"
                             "{% set a.l = b.l %}",
                             "{% set a = namespace() %}{% set b = namespace() %}{% set b.l = [1, [2]] %}"
                             "{% set a.x = b %}{% set b.y = [b.l, (b.l, [a])] %}",
                             // A value holding more namespaces than the check keeps per container.
                             "{% set a = namespace() %}{% set n = namespace() %}"
                             "{% set many = [n, namespace(), namespace(), namespace(), namespace(), namespace(),"
                             " namespace(), namespace(), namespace(), namespace(), [n, a]] %}"
                             "{% set b = namespace() %}{% set b.m = [many, many] %}{% set a.y = {'k': [many]} %}",
                             // Reached only through namespaces changed after the value was checked.
                             "{% set a = namespace() %}{% set b = namespace() %}{% set c = namespace() %}"
                             "{% set a.l = [[b]] %}{% set b.l = [c] %}{% set c.l = [a] %}"}) {
    Outcome outcome = render_with(source);
    EXPECT_FALSE(outcome.budget_error) << source;
    EXPECT_TRUE(mentions(outcome, "inside itself")) << source << " -> " << outcome.message;
  }
  // Sharing without a cycle is fine.
  EXPECT_EQ(render_with("{% set a = namespace(v=1) %}{% set b = namespace(x=a, y=[a, a]) %}{{ b.y[1].v }}").message,
            "1");
}

TEST(TemplateBudget, TheNamespaceCycleCheckCountsItsWalkAsSteps) {
  // Each assignment holds nine namespaces plus the previous value, so the cycle check walks the
  // whole chain every time: quadratic work in few statements, which the step budget must see.
  auto chain = [](int length) {
    return "{% set ns = namespace(l=[]) %}{% set big = [namespace(), namespace(), namespace(), namespace(),"
           " namespace(), namespace(), namespace(), namespace(), namespace()] %}"
           "{% for i in range(" + std::to_string(length) + ") %}{% set ns.l = [big, ns.l] %}{% endfor %}done";
  };
  RenderBudget budget;
  budget.max_steps = 20'000;
  EXPECT_EQ(render_with(chain(30), budget).message, "done");
  Outcome outcome = render_with(chain(300), budget);
  EXPECT_TRUE(outcome.budget_error) << outcome.message;
  EXPECT_TRUE(mentions(outcome, "steps")) << outcome.message;
}

TEST(TemplateValues, DeepNestingFailsInsteadOfOverflowingTheStack) {
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "[";
  for (int i = 0; i < 300; ++i) deep += "]";
  Outcome outcome = render_with("{{ " + deep + " }}");
  EXPECT_TRUE(mentions(outcome, "nested too deeply")) << outcome.message;
}

TEST(TemplateValues, IntegerOverflowIsAnErrorNotWraparound) {
  EXPECT_TRUE(mentions(render_with("{{ 2 ** 63 }}"), "integer overflow in '**'"));
  EXPECT_TRUE(mentions(render_with("{{ 9223372036854775807 + 1 }}"), "integer overflow in '+'"));
  EXPECT_TRUE(mentions(render_with("{{ -9223372036854775807 - 2 }}"), "integer overflow in '-'"));
  EXPECT_TRUE(mentions(render_with("{{ 4294967296 * 4294967296 }}"), "integer overflow in '*'"));
  EXPECT_EQ(render_with("{{ 2 ** 62 }}").message, "4611686018427387904");
  // A huge exponent of 0, 1 or -1 answers at once instead of looping 10^18 times.
  EXPECT_EQ(render_with("{{ 1 ** 1000000000000000000 }}|{{ (-1) ** 1000000000000000001 }}|"
                        "{{ 0 ** 1000000000000000000 }}").message,
            "1|-1|0");
}

}  // namespace
}  // namespace tandem::engine
