// A provider configured without `models` lists its upstream's own (GET /models): the request it
// sends, the list it parses, how long it keeps it, and what a listing answers while the upstream
// fails. The cache runs on a ManualClock; the actor against the fake upstream.
#include "cloud/provider_models.h"
#include "tests/cloud/provider_fixture.h"

namespace tandem::cloud {
namespace {

using namespace test;
using namespace std::chrono_literals;

constexpr const char* kOpenAiList =
    R"({"object":"list","data":[{"id":"gpt-5","object":"model","created":1,"owned_by":"openai"},)"
    R"({"id":"gpt-5-mini","object":"model","created":2,"owned_by":"openai"}]})";
constexpr const char* kAnthropicList =
    R"({"data":[{"type":"model","id":"claude-opus-4-5","display_name":"Claude Opus 4.5","created_at":"2025-11-24T00:00:00Z"}],)"
    R"("has_more":false,"first_id":"claude-opus-4-5","last_id":"claude-opus-4-5"})";

TEST(ProviderModels, ParsesBothProtocolsListsAndRefusesOtherBodies) {
  EXPECT_EQ(parse_model_list(kOpenAiList), (std::vector<std::string>{"gpt-5", "gpt-5-mini"}));
  EXPECT_EQ(parse_model_list(kAnthropicList), (std::vector<std::string>{"claude-opus-4-5"}));
  EXPECT_EQ(parse_model_list(R"({"data":[{"id":7},{"name":"x"},"y",{"id":"ok"}]})"), (std::vector<std::string>{"ok"}));
  EXPECT_EQ(parse_model_list(R"({"data":[]})"), std::vector<std::string>{});
  EXPECT_FALSE(parse_model_list(R"({"error":{"message":"no"}})"));
  EXPECT_FALSE(parse_model_list(R"({"data":{}})"));
  EXPECT_FALSE(parse_model_list("not json"));
}

TEST(ProviderModels, RequestsCarryTheProvidersOwnCredentials) {
  ProviderConfig openai;
  openai.name = "openai";
  openai.protocol = schemas::Protocol::openai;
  openai.base_url = "http://up.example/v1";
  openai.api_key = "sk-provider";
  openai.headers = {{"x-extra", "1"}};
  auto request = models_request(openai);
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.url, "http://up.example/v1/models");
  EXPECT_NE(std::find(request.headers.begin(), request.headers.end(),
                      std::pair<std::string, std::string>{"authorization", "Bearer sk-provider"}),
            request.headers.end());
  EXPECT_NE(std::find(request.headers.begin(), request.headers.end(), std::pair<std::string, std::string>{"x-extra", "1"}),
            request.headers.end());
  EXPECT_GT(request.timeouts.total.count(), 0);  // a listing never waits on a hung upstream for long

  ProviderConfig anthropic = openai;
  anthropic.protocol = schemas::Protocol::anthropic;
  anthropic.base_url = "http://up.example";
  request = models_request(anthropic);
  EXPECT_EQ(request.url, "http://up.example/v1/models?limit=1000");
  EXPECT_NE(std::find(request.headers.begin(), request.headers.end(),
                      std::pair<std::string, std::string>{"x-api-key", "sk-provider"}),
            request.headers.end());
  for (const auto& [name, value] : request.headers) EXPECT_NE(name, "authorization");
}

TEST(ProviderModels, CacheFetchesOnceKeepsTheListForItsTtlAndRetriesFailuresSooner) {
  resilience::ManualClock clock;
  UpstreamModelCache cache(clock, 10min, 30s);
  ASSERT_TRUE(cache.begin_fetch());
  EXPECT_FALSE(cache.begin_fetch());  // one fetch at a time
  cache.finish_fetch(std::vector<std::string>{"a", "b"});
  EXPECT_EQ(cache.models(), (std::vector<std::string>{"a", "b"}));
  clock.advance(9min);
  EXPECT_FALSE(cache.begin_fetch());
  clock.advance(2min);
  ASSERT_TRUE(cache.begin_fetch());
  cache.finish_fetch(std::nullopt);  // failed: the last good list stays
  EXPECT_EQ(cache.models(), (std::vector<std::string>{"a", "b"}));
  clock.advance(29s);
  EXPECT_FALSE(cache.begin_fetch());
  clock.advance(2s);
  EXPECT_TRUE(cache.begin_fetch());
}

TEST_F(ProviderActorTest, AProviderWithoutModelsListsItsUpstreamsAndAsksOnlyOnce) {
  fake_.set_script([](const fakes::RecordedRequest& request) {
    if (request.method == "GET" && request.target == "/v1/models") return fakes::json_response(200, kOpenAiList);
    return fakes::json_response(404, R"({"error":{"message":"unexpected"}})");
  });
  auto config = provider(schemas::Protocol::openai);
  config.models.clear();
  auto actor = spawn(config);

  auto list = ask<backend::ModelList>(actor, backend::describe_atom::value);
  auto again = ask<backend::ModelList>(actor, backend::describe_atom::value);

  std::vector<std::string> ids;
  for (const auto& model : list.models) {
    ids.push_back(model.id);
    EXPECT_EQ(model.owned_by, "openai");
  }
  // The config alias ("smart") first, then the upstream's models.
  EXPECT_EQ(ids, (std::vector<std::string>{"smart", "gpt-5", "gpt-5-mini"}));
  ASSERT_EQ(list.models[1].aliases, std::vector<std::string>{"openai/gpt-5"});
  EXPECT_EQ(again.models.size(), 3u);
  auto requests = fake_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("authorization"), std::string("Bearer ") + kProviderKey);
}

TEST_F(ProviderActorTest, AFailingUpstreamListsNoModelsInsteadOfAnError) {
  fake_.set_script([](const fakes::RecordedRequest&) { return fakes::json_response(500, R"({"error":{"message":"down"}})"); });
  auto config = provider(schemas::Protocol::anthropic);
  config.models.clear();
  auto actor = spawn(config);

  auto list = ask<backend::ModelList>(actor, backend::describe_atom::value);

  ASSERT_EQ(list.models.size(), 1u);  // only the config alias
  EXPECT_EQ(list.models[0].id, "smart");
  auto requests = fake_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/v1/models?limit=1000");
  EXPECT_EQ(requests[0].header("x-api-key"), kProviderKey);
}

TEST_F(ProviderActorTest, AProviderWithModelsNeverAsksItsUpstream) {
  auto actor = spawn(provider(schemas::Protocol::openai));
  auto list = ask<backend::ModelList>(actor, backend::describe_atom::value);
  EXPECT_EQ(list.models.size(), 2u);
  EXPECT_EQ(fake_.request_count(), 0u);
}

}  // namespace
}  // namespace tandem::cloud
