// The router resolves a model name to one backend (names, aliases, case, provider/model,
// prefixes) and forwards generate / count to it, so the backend's reply and events reach the
// asker; describe merges every backend's models. Driven from coroutines, as HTTP sessions do.
#include "actors/backend/router.h"
#include "actors/bridge.h"
#include "tests/actors/coroutine_runner.h"

#include <gtest/gtest.h>

#include <chrono>

namespace tandem::backend {
namespace {

using namespace std::chrono_literals;
using actors::test::run_coroutine;
namespace asio = boost::asio;

// A backend that answers with who it is and which model name it was asked for. Tracked, so
// runtime.shutdown() ends it even while a test still holds its handle.
backend_actor spawn_fake(actors::ActorRuntime& runtime, std::string owner) {
  auto fake = runtime.system().spawn([owner](backend_actor::pointer) -> backend_actor::behavior_type {
    return {
        [owner](generate_atom, BackendRequest& request, EventSink& sink) {
          sink.push(schemas::StreamEvent(schemas::TextDelta{owner + ":" + request.request.model + ":" +
                                                                request.requested_model,
                                                            {}}));
          sink.close();
          return GenerateReply::accept();
        },
        [owner](count_atom, BackendRequest& request) {
          return TokenCount::of(static_cast<int64_t>(request.request.model.size()));
        },
        [owner](describe_atom) {
          ModelInfo info;
          info.id = owner + "-model";
          info.owned_by = owner;
          return ModelList{{info}};
        },
    };
  });
  runtime.track(as_actor(fake));
  return fake;
}

BackendRoute route(std::string provider, backend_actor backend, std::vector<std::string> models) {
  BackendRoute r;
  r.provider = std::move(provider);
  r.backend = std::move(backend);
  r.models = std::move(models);
  return r;
}

std::vector<BackendRoute> table() {
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", {}, {"stories260K"}));
  routes.back().aliases = {{"tiny", "stories260K"}};
  routes.push_back(route("local", {}, {"qwen-small"}));
  routes.push_back(route("openai", {}, {"gpt-4o"}));
  routes.back().prefixes = {"gpt-", "o1"};
  routes.back().any_model = true;
  routes.push_back(route("anthropic", {}, {}));
  routes.back().prefixes = {"claude-"};
  routes.back().any_model = true;
  routes.back().aliases = {{"sonnet", "claude-sonnet-4-5"}};
  return routes;
}

TEST(ResolveModel, NamesAliasesCaseProviderAndPrefixes) {
  auto routes = table();
  auto at = [&](const std::string& name) { return resolve_model(routes, name); };
  ASSERT_TRUE(at("stories260K"));
  EXPECT_EQ(at("stories260K")->route, 0u);
  EXPECT_EQ(at("tiny")->model, "stories260K");
  EXPECT_EQ(at("QWEN-small")->route, 1u);
  EXPECT_EQ(at("QWEN-small")->model, "qwen-small");
  EXPECT_EQ(at("sonnet")->route, 3u);
  EXPECT_EQ(at("sonnet")->model, "claude-sonnet-4-5");
  // provider/model: the provider's own name, or any name when it takes any.
  EXPECT_EQ(at("openai/gpt-4o")->route, 2u);
  EXPECT_EQ(at("openai/gpt-4o")->model, "gpt-4o");
  EXPECT_EQ(at("anthropic/claude-opus-4-1")->model, "claude-opus-4-1");
  EXPECT_EQ(at("local/tiny")->model, "stories260K");
  EXPECT_FALSE(at("local/gpt-4o"));  // local routes take only their own names
  // Well-known prefixes.
  EXPECT_EQ(at("gpt-4.1-mini")->route, 2u);
  EXPECT_EQ(at("o1-preview")->route, 2u);
  EXPECT_EQ(at("claude-3-5-haiku-latest")->route, 3u);
  EXPECT_EQ(at("claude-3-5-haiku-latest")->model, "claude-3-5-haiku-latest");
  EXPECT_FALSE(at("llama-3"));
  EXPECT_FALSE(at("nobody/gpt-4o"));
  EXPECT_EQ(available_models(routes), (std::vector<std::string>{"stories260K", "qwen-small", "openai/gpt-4o"}));
}

TEST(ResolveModel, ALocalNameWinsOverAPrefix) {
  std::vector<BackendRoute> routes;
  routes.push_back(route("openai", {}, {}));
  routes.back().prefixes = {"gpt-"};
  routes.push_back(route("local", {}, {"gpt-2"}));
  EXPECT_EQ(resolve_model(routes, "gpt-2")->route, 1u);
  EXPECT_EQ(resolve_model(routes, "gpt-3")->route, 0u);
}

struct Answer {
  GenerateReply reply;
  std::vector<std::string> texts;
};

asio::awaitable<Answer> generate(actors::ActorRuntime& runtime, caf::actor router, std::string model) {
  auto [tx, rx] = actors::make_event_stream<BackendEvent>(16);
  BackendRequest request;
  request.request.model = model;
  request.requested_model = model;
  Answer answer;
  {
    EventSink sink(std::move(tx));
    answer.reply = co_await actors::ask<GenerateReply>(runtime, router, 5s, generate_atom::value,
                                                       std::move(request), std::move(sink));
  }
  if (!answer.reply.accepted) co_return answer;
  while (auto event = co_await rx.next()) {
    const auto& stream_event = std::get<schemas::StreamEvent>(*event);
    answer.texts.push_back(std::get<schemas::TextDelta>(stream_event).text);
  }
  co_return answer;
}

TEST(RouterActor, ForwardsToTheBackendTheNameResolvesTo) {
  actors::ActorRuntime runtime;
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", spawn_fake(runtime, "local"), {"stories260K"}));
  routes.push_back(route("openai", spawn_fake(runtime, "openai"), {}));
  routes.back().prefixes = {"gpt-"};
  routes.back().any_model = true;
  auto router = as_actor(spawn_router(runtime.system(), std::move(routes)));
  runtime.track(router);

  auto local = run_coroutine(generate(runtime, router, "stories260K"));
  ASSERT_TRUE(local.reply.accepted);
  EXPECT_EQ(local.texts, (std::vector<std::string>{"local:stories260K:stories260K"}));
  auto cloud = run_coroutine(generate(runtime, router, "openai/gpt-4o"));
  ASSERT_TRUE(cloud.reply.accepted);
  EXPECT_EQ(cloud.texts, (std::vector<std::string>{"openai:gpt-4o:openai/gpt-4o"}));

  auto missing = run_coroutine(generate(runtime, router, "llama-3"));
  EXPECT_FALSE(missing.reply.accepted);
  EXPECT_EQ(missing.reply.error.kind, schemas::ErrorKind::model_not_found);
  EXPECT_EQ(missing.reply.error.param, "model");
  EXPECT_NE(missing.reply.error.message.find("available models: stories260K"), std::string::npos);

  BackendRequest count_request;
  count_request.request.model = "gpt-4o-mini";
  auto count = run_coroutine(actors::ask<TokenCount>(runtime, router, 5s, count_atom::value, count_request));
  EXPECT_TRUE(count.counted);
  EXPECT_EQ(count.tokens, static_cast<int64_t>(std::string("gpt-4o-mini").size()));
  count_request.request.model = "nothing";
  auto uncounted = run_coroutine(actors::ask<TokenCount>(runtime, router, 5s, count_atom::value, count_request));
  EXPECT_FALSE(uncounted.counted);
  EXPECT_EQ(uncounted.error.kind, schemas::ErrorKind::model_not_found);
  runtime.shutdown();
}

TEST(RouterActor, DescribeMergesBackendsAndListsASilentOneFromItsRoute) {
  actors::ActorRuntime runtime;
  auto dead = spawn_fake(runtime, "gone");
  caf::anon_send_exit(dead, caf::exit_reason::user_shutdown);
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", spawn_fake(runtime, "local"), {"stories260K"}));
  routes.push_back(route("gone", dead, {"gone-1", "gone-2"}));
  auto router = spawn_router(runtime.system(), std::move(routes));
  runtime.track(as_actor(router));

  auto list = run_coroutine(actors::ask<ModelList>(runtime, as_actor(router), 5s, describe_atom::value));
  ASSERT_EQ(list.models.size(), 3u);
  EXPECT_EQ(list.models[0].id, "local-model");
  EXPECT_EQ(list.models[1].id, "gone-1");
  EXPECT_EQ(list.models[1].owned_by, "gone");
  EXPECT_EQ(list.models[2].id, "gone-2");

  // A backend registered later is routed and listed too.
  auto added = route("anthropic", spawn_fake(runtime, "anthropic"), {});
  added.prefixes = {"claude-"};
  run_coroutine(actors::ask<caf::ok_atom>(runtime, as_actor(router), 5s, register_atom::value, added));
  auto answer = run_coroutine(generate(runtime, as_actor(router), "claude-sonnet-4-5"));
  ASSERT_TRUE(answer.reply.accepted);
  EXPECT_EQ(answer.texts, (std::vector<std::string>{"anthropic:claude-sonnet-4-5:claude-sonnet-4-5"}));
  auto longer = run_coroutine(actors::ask<ModelList>(runtime, as_actor(router), 5s, describe_atom::value));
  ASSERT_EQ(longer.models.size(), 4u);
  EXPECT_EQ(longer.models[3].owned_by, "anthropic");
  runtime.shutdown();
}

// A name that exists only as an exact-name rule is a model to clients: listed once, like the
// model its first target names, owned by that target. Prefix and regex rules name no model.
TEST(RouterActor, DescribeListsNamesThatOnlyRulesDefine) {
  actors::ActorRuntime runtime;
  std::vector<BackendRoute> routes;
  routes.push_back(route("local", spawn_fake(runtime, "tandem"), {"tandem-model"}));
  routes.push_back(route("openai", spawn_fake(runtime, "openai"), {"openai-model"}));
  RouterOptions options;
  options.rules = RoutingTable{std::make_shared<const routing::RoutingRules>(routing::RoutingRules::parse_text(R"({"rules": [
      {"name": "a", "match": {"exact": "assistant"}, "targets": [{"backend": "local", "model": "tandem-model"}, {"backend": "openai"}]},
      {"name": "b", "match": {"exact": "smart"}, "targets": [{"backend": "openai", "model": "gpt-5"}]},
      {"name": "c", "match": {"exact": "openai-model"}, "targets": [{"backend": "local", "model": "tandem-model"}]},
      {"name": "d", "match": {"prefix": "claude-"}, "targets": [{"backend": "openai"}]},
      {"name": "e", "match": {"regex": "^x$"}, "targets": [{"backend": "openai"}]},
      {"name": "f", "match": {"exact": "assistant"}, "targets": [{"backend": "openai"}]}]})"))};
  auto router = spawn_router(runtime.system(), std::move(routes), options);
  runtime.track(as_actor(router));

  auto list = run_coroutine(actors::ask<ModelList>(runtime, as_actor(router), 5s, describe_atom::value));

  ASSERT_EQ(list.models.size(), 4u);
  EXPECT_EQ(list.models[0].id, "tandem-model");
  EXPECT_EQ(list.models[1].id, "openai-model");
  EXPECT_EQ(list.models[2].id, "assistant");  // once, from the first rule naming it
  EXPECT_EQ(list.models[2].owned_by, "tandem");
  EXPECT_TRUE(list.models[2].aliases.empty());
  EXPECT_EQ(list.models[3].id, "smart");
  EXPECT_EQ(list.models[3].owned_by, "openai");
  runtime.shutdown();
}

}  // namespace
}  // namespace tandem::backend
