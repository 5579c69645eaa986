// The router's rules and fallback chains: a rule's targets are asked in order, a refusal whose
// trigger the rule falls back on moves to the next one (the sink untouched), the reply names who
// answered and what was tried; the caller's own error, or a trigger the rule does not list, ends
// the walk; an exhausted chain answers the last refusal with its retry-after; SLO targets are
// skipped when their scheduler's load says so; a new rule set replaces the old one whole.
#include "actors/backend/router.h"
#include "actors/bridge.h"
#include "tests/actors/coroutine_runner.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

namespace tandem::backend {
namespace {

using namespace std::chrono_literals;
using actors::test::run_coroutine;
namespace asio = boost::asio;

// A backend that refuses with `refusal` (when set) and counts the asks, else answers with its name.
backend_actor spawn_scripted(actors::ActorRuntime& runtime, std::string owner, std::optional<GenerateReply> refusal,
                             std::shared_ptr<std::atomic<int>> asks) {
  auto fake = runtime.system().spawn([owner, refusal, asks](backend_actor::pointer) -> backend_actor::behavior_type {
    return {
        [owner, refusal, asks](generate_atom, BackendRequest& request, EventSink& sink) {
          ++*asks;
          if (refusal) return *refusal;
          sink.push(schemas::StreamEvent(schemas::TextDelta{owner + ":" + request.request.model, {}}));
          sink.close();
          return GenerateReply::accept();
        },
        [](count_atom, BackendRequest&) { return TokenCount::of(1); },
        [](describe_atom) { return ModelList{}; },
    };
  });
  runtime.track(as_actor(fake));
  return fake;
}

GenerateReply refused(schemas::ErrorKind kind, std::string reason = {}, int retry_after = 0) {
  auto error = schemas::make_error(kind, "refused: " + std::string(reason.empty() ? "kind" : reason));
  error.retry_after = retry_after;
  return GenerateReply::refuse(std::move(error), std::move(reason));
}

struct Answer {
  GenerateReply reply;
  std::vector<std::string> texts;
};

asio::awaitable<Answer> generate(actors::ActorRuntime& runtime, caf::actor router, std::string model,
                                 std::string body = "{}") {
  auto [tx, rx] = actors::make_event_stream<BackendEvent>(16);
  BackendRequest request;
  request.request.model = model;
  request.requested_model = model;
  request.raw_body = std::move(body);
  Answer answer;
  {
    EventSink sink(std::move(tx));
    answer.reply = co_await actors::ask<GenerateReply>(runtime, router, 5s, generate_atom::value,
                                                       std::move(request), std::move(sink));
  }
  if (!answer.reply.accepted) co_return answer;
  while (auto event = co_await rx.next()) {
    answer.texts.push_back(std::get<schemas::TextDelta>(std::get<schemas::StreamEvent>(*event)).text);
  }
  co_return answer;
}

RoutingTable rules(std::string_view text) {
  return RoutingTable{std::make_shared<const routing::RoutingRules>(routing::RoutingRules::parse_text(text))};
}

struct ChainFixture : ::testing::Test {
  void TearDown() override { runtime.shutdown(); }

  BackendRoute route(std::string provider, std::vector<std::string> models, std::optional<GenerateReply> refusal) {
    auto asks = std::make_shared<std::atomic<int>>(0);
    counts[provider + (models.empty() ? "" : "/" + models[0])] = asks;
    BackendRoute r;
    r.provider = provider;
    r.models = std::move(models);
    r.any_model = provider != "local";
    r.backend = spawn_scripted(runtime, provider, std::move(refusal), asks);
    return r;
  }

  caf::actor spawn(std::vector<BackendRoute> routes, std::string_view rule_text) {
    RouterOptions options;
    options.rules = rules(rule_text);
    options.metrics = metrics;
    auto router = as_actor(spawn_router(runtime.system(), std::move(routes), options));
    runtime.track(router);
    return router;
  }

  std::string metrics_text() { return prometheus::TextSerializer().Serialize(metrics->Collect()); }

  actors::ActorRuntime runtime;
  std::shared_ptr<prometheus::Registry> metrics = std::make_shared<prometheus::Registry>();
  std::map<std::string, std::shared_ptr<std::atomic<int>>> counts;
};

constexpr std::string_view kLocalFirst = R"({
  "rules": [{"name": "assistant", "match": {"exact": "assistant"},
             "targets": [{"backend": "local", "model": "qwen"}, {"backend": "openai", "model": "gpt-4o-mini"},
                         {"backend": "anthropic", "model": "claude-haiku-4-5"}]}]
})";

TEST_F(ChainFixture, AFullLocalQueueFallsBackToTheCloudAndTheReplySaysSo) {
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", {"qwen"}, refused(schemas::ErrorKind::queue_full, "", 1)));
  routes.push_back(route("openai", {}, std::nullopt));
  routes.push_back(route("anthropic", {}, std::nullopt));
  auto router = spawn(std::move(routes), kLocalFirst);

  auto answer = run_coroutine(generate(runtime, router, "assistant"));

  ASSERT_TRUE(answer.reply.accepted);
  EXPECT_EQ(answer.texts, (std::vector<std::string>{"openai:gpt-4o-mini"}));
  EXPECT_EQ(answer.reply.backend, "openai");
  EXPECT_EQ(answer.reply.fallbacks, (std::vector<std::string>{"local/qwen"}));
  EXPECT_EQ(counts["anthropic"]->load(), 0);
  std::string text = metrics_text();
  EXPECT_NE(text.find(R"(tandem_router_routed_total{rule="assistant",target="openai"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(tandem_router_fallbacks_total{from="local",reason="queue_full",to="openai"} 1)"),
            std::string::npos)
      << text;
}

TEST_F(ChainFixture, EachTriggerMovesOnAndAnExhaustedChainAnswersTheLastRefusal) {
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", {"qwen"}, refused(schemas::ErrorKind::context_length_exceeded)));
  routes.push_back(route("openai", {}, refused(schemas::ErrorKind::unavailable, "breaker_open", 7)));
  routes.push_back(route("anthropic", {}, refused(schemas::ErrorKind::overloaded, "upstream_failure", 30)));
  auto router = spawn(std::move(routes), kLocalFirst);

  auto answer = run_coroutine(generate(runtime, router, "assistant"));

  EXPECT_FALSE(answer.reply.accepted);
  EXPECT_EQ(answer.reply.error.kind, schemas::ErrorKind::overloaded);
  EXPECT_EQ(answer.reply.error.retry_after, 30);
  EXPECT_EQ(answer.reply.fallbacks, (std::vector<std::string>{"local/qwen", "openai/gpt-4o-mini"}));
  EXPECT_EQ(counts["local/qwen"]->load(), 1);
  EXPECT_EQ(counts["openai"]->load(), 1);
  EXPECT_EQ(counts["anthropic"]->load(), 1);
  std::string text = metrics_text();
  EXPECT_NE(text.find(R"(from="local",reason="context_too_long",to="openai")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(from="openai",reason="breaker_open",to="anthropic")"), std::string::npos) << text;
}

TEST_F(ChainFixture, TheCallersOwnErrorAndUnlistedTriggersEndTheWalk) {
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", {"qwen"}, refused(schemas::ErrorKind::invalid_request)));
  routes.push_back(route("local", {"busy"}, refused(schemas::ErrorKind::queue_full, "", 2)));
  routes.push_back(route("openai", {}, std::nullopt));
  auto router = spawn(std::move(routes), R"({"rules": [
      {"match": {"exact": "assistant"}, "targets": [{"backend": "local", "model": "qwen"}, {"backend": "openai"}]},
      {"match": {"exact": "strict"}, "fallback_on": ["context_too_long"],
       "targets": [{"backend": "local", "model": "busy"}, {"backend": "openai"}]}]})");

  auto own_error = run_coroutine(generate(runtime, router, "assistant"));
  EXPECT_FALSE(own_error.reply.accepted);
  EXPECT_EQ(own_error.reply.error.kind, schemas::ErrorKind::invalid_request);
  auto unlisted = run_coroutine(generate(runtime, router, "strict"));
  EXPECT_FALSE(unlisted.reply.accepted);
  EXPECT_EQ(unlisted.reply.error.kind, schemas::ErrorKind::queue_full);
  EXPECT_EQ(unlisted.reply.error.retry_after, 2);
  EXPECT_EQ(counts["openai"]->load(), 0);
}

TEST_F(ChainFixture, UnknownTargetsAreSkippedAndUnmatchedNamesUseTheAddressing) {
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", {"stories"}, std::nullopt));
  routes.push_back(route("openai", {}, std::nullopt));
  routes.back().prefixes = {"gpt-"};
  auto router = spawn(std::move(routes), R"({"rules": [{"match": {"regex": "^big-"},
      "targets": [{"backend": "local", "model": "not-loaded"}, {"backend": "openai", "model": "gpt-4.1"}]}]})");

  auto skipped = run_coroutine(generate(runtime, router, "big-model"));
  ASSERT_TRUE(skipped.reply.accepted);
  EXPECT_EQ(skipped.texts, (std::vector<std::string>{"openai:gpt-4.1"}));
  EXPECT_EQ(skipped.reply.fallbacks, (std::vector<std::string>{"local/not-loaded"}));

  auto plain = run_coroutine(generate(runtime, router, "stories"));
  ASSERT_TRUE(plain.reply.accepted);
  EXPECT_EQ(plain.reply.backend, "local");
  EXPECT_TRUE(plain.reply.fallbacks.empty());
}

TEST_F(ChainFixture, AnSloTargetIsSkippedUnderLoadAndKeptWhenIdle) {
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", {"qwen"}, std::nullopt));
  auto load = std::make_shared<routing::SchedulerLoad>();
  load->max_running = 4;
  load->step_token_budget = 256;
  load->step_cost.per_prefill_row = 0.001;
  load->step_cost.per_decode_row = 0.010;
  load->step_cost.prefill_seen = load->step_cost.decode_seen = true;
  load->mean_generated_tokens = 100;
  routes.back().load = [load] { return *load; };
  routes.push_back(route("openai", {}, std::nullopt));
  auto router = spawn(std::move(routes), R"({"rules": [{"name": "slo", "match": {"exact": "assistant"},
      "targets": [{"backend": "local", "model": "qwen", "slo": {"max_ttft_ms": 500, "max_queue": 3}},
                  {"backend": "openai", "model": "gpt-4o-mini"}]}]})");

  auto idle = run_coroutine(generate(runtime, router, "assistant", std::string(400, 'x')));
  EXPECT_EQ(idle.reply.backend, "local");  // 100 tokens at 1000/s: 100 ms predicted

  load->running = 4;
  load->waiting = 2;  // every slot taken: a wait of half a generation, 50 steps of 40 ms
  auto busy = run_coroutine(generate(runtime, router, "assistant", std::string(400, 'x')));
  EXPECT_EQ(busy.reply.backend, "openai");
  EXPECT_EQ(busy.reply.fallbacks, (std::vector<std::string>{"local/qwen"}));

  load->waiting = 4;  // over max_queue
  auto queued = run_coroutine(generate(runtime, router, "assistant", std::string(40, 'x')));
  EXPECT_EQ(queued.reply.backend, "openai");
  EXPECT_NE(metrics_text().find(R"(reason="slo")"), std::string::npos);
}

TEST_F(ChainFixture, AnSloSkippedLocalTargetIsAskedWhenEveryOtherTargetRefuses) {
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", {"qwen"}, std::nullopt));
  routes.back().load = [] {
    routing::SchedulerLoad load;
    load.waiting = 9;
    return load;
  };
  routes.push_back(route("openai", {}, refused(schemas::ErrorKind::unavailable, "breaker_open", 5)));
  auto router = spawn(std::move(routes), R"({"rules": [{"match": {"exact": "assistant"},
      "targets": [{"backend": "local", "model": "qwen", "slo": {"max_queue": 3}}, {"backend": "openai", "model": "gpt-4o"}]}]})");

  auto answer = run_coroutine(generate(runtime, router, "assistant"));

  ASSERT_TRUE(answer.reply.accepted);
  EXPECT_EQ(answer.reply.backend, "local");
  EXPECT_EQ(answer.texts, (std::vector<std::string>{"local:qwen"}));
  EXPECT_EQ(answer.reply.fallbacks, (std::vector<std::string>{"local/qwen", "openai/gpt-4o"}));
  EXPECT_EQ(counts["openai"]->load(), 1);
}

TEST_F(ChainFixture, NewRulesReplaceTheOldOnesWhole) {
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", {"qwen"}, std::nullopt));
  routes.push_back(route("openai", {}, std::nullopt));
  auto router = spawn(std::move(routes), R"({"rules": [{"match": {"exact": "x"}, "targets": [{"backend": "local", "model": "qwen"}]}]})");
  EXPECT_EQ(run_coroutine(generate(runtime, router, "x")).reply.backend, "local");

  run_coroutine(actors::ask<caf::ok_atom>(runtime, router, 5s, rules_atom::value,
                                          rules(R"({"rules": [{"match": {"exact": "x"}, "targets": [{"backend": "openai", "model": "gpt-4o"}]}]})")));

  auto after = run_coroutine(generate(runtime, router, "x"));
  EXPECT_EQ(after.reply.backend, "openai");
  EXPECT_EQ(after.texts, (std::vector<std::string>{"openai:gpt-4o"}));
}

TEST(FallbackTrigger, ReadFromTheReasonElseTheErrorKind) {
  EXPECT_EQ(fallback_trigger_of(refused(schemas::ErrorKind::unavailable, "breaker_open")),
            routing::FallbackTrigger::breaker_open);
  EXPECT_EQ(fallback_trigger_of(refused(schemas::ErrorKind::queue_full)), routing::FallbackTrigger::queue_full);
  EXPECT_EQ(fallback_trigger_of(refused(schemas::ErrorKind::context_length_exceeded)),
            routing::FallbackTrigger::context_too_long);
  EXPECT_EQ(fallback_trigger_of(refused(schemas::ErrorKind::model_not_found)), routing::FallbackTrigger::unavailable);
  EXPECT_EQ(fallback_trigger_of(refused(schemas::ErrorKind::rate_limit)), std::nullopt);
  EXPECT_EQ(fallback_trigger_of(refused(schemas::ErrorKind::invalid_request)), std::nullopt);
}

}  // namespace
}  // namespace tandem::backend
