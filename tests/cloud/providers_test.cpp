// Provider configuration, model addressing, upstream request addressing and the byte-exact model
// rewrite of same-protocol passthrough.
#include "cloud/providers.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <map>

namespace tandem::cloud {
namespace {

namespace json = boost::json;

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

json::value parse(std::string_view text) {
  json::parse_options options;
  options.allow_comments = true;
  options.allow_trailing_commas = true;
  return json::parse(text, {}, options);
}

std::string error_of(std::string_view providers, std::string_view aliases = "{}",
                     std::map<std::string, std::string> env = {}) {
  auto p = parse(providers);
  auto a = parse(aliases);
  try {
    load_cloud_config(&p, &a, env_of(std::move(env)));
  } catch (const CloudConfigError& error) {
    return error.what();
  }
  return "no error";
}

std::string header(const UpstreamRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers)
    if (key == name) return value;
  return "<absent>";
}

TEST(CloudConfig, BuiltInsComeFromTheSdkEnvironmentVariables) {
  auto none = load_cloud_config(nullptr, nullptr, env_of({}));
  EXPECT_TRUE(none.providers.empty());

  auto both = load_cloud_config(nullptr, nullptr,
                                env_of({{"OPENAI_API_KEY", "sk-o"}, {"ANTHROPIC_API_KEY", "sk-a"},
                                        {"ANTHROPIC_BASE_URL", "http://127.0.0.1:9/"}}));
  ASSERT_EQ(both.providers.size(), 2u);
  const auto* openai = both.find("openai");
  ASSERT_NE(openai, nullptr);
  EXPECT_EQ(openai->base_url, "https://api.openai.com/v1");
  EXPECT_EQ(openai->api_key, "sk-o");
  EXPECT_EQ(openai->protocol, schemas::Protocol::openai);
  const auto* anthropic = both.find("anthropic");
  ASSERT_NE(anthropic, nullptr);
  EXPECT_EQ(anthropic->base_url, "http://127.0.0.1:9");
  EXPECT_EQ(anthropic->protocol, schemas::Protocol::anthropic);
}

TEST(CloudConfig, FileProvidersWithCommentsTrailingCommasKeysFromTheEnvironment) {
  auto providers = parse(R"([
    // a local vLLM: no key
    {"name": "vllm", "protocol": "openai", "base_url": "http://127.0.0.1:8000/v1/", "models": ["qwen"],},
    {"name": "router", "protocol": "anthropic", "base_url": "https://example.test", "api_key_env": "ROUTER_KEY",
     "headers": {"x-team": "blue"}, "timeouts": {"connect": 2, "idle": 0.5, "total": 0}},
  ])");
  auto aliases = parse(R"({"fast": "vllm/qwen",})");
  auto config = load_cloud_config(&providers, &aliases, env_of({{"ROUTER_KEY", "sk-r"}}));
  ASSERT_EQ(config.providers.size(), 2u);
  EXPECT_EQ(config.providers[0].base_url, "http://127.0.0.1:8000/v1");
  EXPECT_TRUE(config.providers[0].api_key.empty());
  EXPECT_EQ(config.providers[1].api_key, "sk-r");
  EXPECT_EQ(config.providers[1].timeouts.connect, std::chrono::milliseconds(2000));
  EXPECT_EQ(config.providers[1].timeouts.idle, std::chrono::milliseconds(500));
  EXPECT_EQ(config.providers[1].timeouts.total, std::chrono::milliseconds(0));
  ASSERT_EQ(config.aliases.size(), 1u);
  EXPECT_EQ(config.aliases[0].provider, "vllm");
  EXPECT_EQ(config.aliases[0].model, "qwen");
}

TEST(CloudConfig, AFileEntryReplacesTheBuiltInOfTheSameName) {
  auto providers = parse(R"([{"name": "openai", "protocol": "openai", "base_url": "http://proxy.test/v1"}])");
  auto config = load_cloud_config(&providers, nullptr, env_of({{"OPENAI_API_KEY", "sk-o"}}));
  ASSERT_EQ(config.providers.size(), 1u);
  EXPECT_EQ(config.providers[0].base_url, "http://proxy.test/v1");
  EXPECT_FALSE(config.providers[0].builtin);
}

TEST(CloudConfig, ErrorsNameTheOffendingKey) {
  struct Case {
    std::string providers, aliases, expected;
  };
  const std::vector<Case> cases = {
      {R"({})", "{}", "providers must be an array"},
      {R"([{"protocol": "openai", "base_url": "http://a"}])", "{}", "providers[0].name: required"},
      {R"([{"name": "a", "protocol": "grpc", "base_url": "http://a"}])", "{}", "providers[0].protocol must be"},
      {R"([{"name": "a", "protocol": "openai", "base_url": "ftp://a"}])", "{}", "providers[0].base_url must start"},
      {R"([{"name": "a", "protocol": "openai", "base_url": "http://a", "api_key": "sk-inline"}])", "{}",
       "providers[0].api_key: unknown key"},
      {R"([{"name": "a", "protocol": "openai", "base_url": "http://a", "api_key_env": "MISSING_KEY"}])", "{}",
       "providers[0].api_key_env: the environment variable MISSING_KEY is not set"},
      {R"([{"name": "a", "protocol": "openai", "base_url": "http://a", "timeouts": {"read": 1}}])", "{}",
       "providers[0].timeouts.read: unknown timeout"},
      {R"([{"name": "a", "protocol": "openai", "base_url": "http://a"},
          {"name": "a", "protocol": "openai", "base_url": "http://b"}])", "{}", "providers[1].name: \"a\" appears twice"},
      {R"([])", R"({"x": "nobody/m"})", "model_aliases.x: no provider named \"nobody\""},
      {R"([])", R"({"x": "no-slash"})", "model_aliases.x must be \"provider/model\""},
      {R"([{"name": "a", "protocol": "openai", "base_url": "http://a", "prices": {"m": {"input": -1}}}])", "{}",
       "providers[0].prices.m.input must be a non-negative number"},
      {R"([{"name": "a", "protocol": "openai", "base_url": "http://a", "prices": {"m": {"cached": 1}}}])", "{}",
       "providers[0].prices.m.cached: unknown key (known: input, output)"},
      {R"([{"name": "a", "protocol": "openai", "base_url": "http://a", "prices": ["m"]}])", "{}",
       "providers[0].prices must be an object"},
  };
  for (const auto& c : cases) {
    std::string error = error_of(c.providers, c.aliases);
    EXPECT_NE(error.find(c.expected), std::string::npos) << "got: " << error << "\nexpected: " << c.expected;
  }
}

TEST(CloudConfig, PricesAreUsdPerMillionTokensPerUpstreamModel) {
  auto providers = parse(R"([{"name": "a", "protocol": "openai", "base_url": "http://a",
                              "prices": {"m1": {"input": 3, "output": 15}, "m2": {"output": 0.5}}}])");
  auto aliases = parse("{}");
  auto config = load_cloud_config(&providers, &aliases, env_of({}));
  const auto* provider = config.find("a");
  ASSERT_NE(provider, nullptr);
  ASSERT_EQ(provider->prices.size(), 2u);
  EXPECT_EQ(provider->prices[0].first, "m1");
  EXPECT_EQ(provider->prices[0].second.input_per_mtok, 3.0);
  EXPECT_EQ(provider->prices[0].second.output_per_mtok, 15.0);
  EXPECT_EQ(provider->prices[1].second.input_per_mtok, 0.0);
  EXPECT_EQ(provider->prices[1].second.output_per_mtok, 0.5);
}

TEST(CloudAddressing, WellKnownPrefixesBelongToTheBuiltInNamesAndAliasesToTheirProvider) {
  auto providers = parse(R"([{"name": "vllm", "protocol": "openai", "base_url": "http://v/v1", "models": ["qwen"]}])");
  auto aliases = parse(R"({"smart": "anthropic/claude-sonnet-4-5", "fast": "vllm/qwen"})");
  auto config = load_cloud_config(&providers, &aliases,
                                  env_of({{"OPENAI_API_KEY", "sk-o"}, {"ANTHROPIC_API_KEY", "sk-a"}}));
  std::vector<std::string> openai_prefixes = {"gpt-", "o1", "o3", "o4", "chatgpt-"};
  EXPECT_EQ(well_known_prefixes(*config.find("openai")), openai_prefixes);
  EXPECT_EQ(well_known_prefixes(*config.find("anthropic")), std::vector<std::string>{"claude-"});
  EXPECT_TRUE(well_known_prefixes(*config.find("vllm")).empty());
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(aliases_of(config, *config.find("anthropic")), (Pairs{{"smart", "claude-sonnet-4-5"}}));
  EXPECT_EQ(aliases_of(config, *config.find("vllm")), (Pairs{{"fast", "qwen"}}));
  EXPECT_TRUE(aliases_of(config, *config.find("openai")).empty());
}

TEST(UpstreamAddressing, OpenAiGetsBearerKeyAndItsPaths) {
  ProviderConfig provider;
  provider.protocol = schemas::Protocol::openai;
  provider.base_url = "http://127.0.0.1:1/v1";
  provider.api_key = "sk-provider";
  provider.headers = {{"x-extra", "1"}};
  auto request = make_upstream_request(provider, schemas::Endpoint::chat_completions, "{}", true,
                                       {"2023-06-01", "beta-x"});
  EXPECT_EQ(request.url, "http://127.0.0.1:1/v1/chat/completions");
  EXPECT_EQ(header(request, "authorization"), "Bearer sk-provider");
  EXPECT_EQ(header(request, "x-api-key"), "<absent>");
  EXPECT_EQ(header(request, "anthropic-version"), "<absent>");
  EXPECT_EQ(header(request, "accept"), "text/event-stream");
  EXPECT_EQ(header(request, "x-extra"), "1");
  EXPECT_EQ(make_upstream_request(provider, schemas::Endpoint::completions, "{}", false).url,
            "http://127.0.0.1:1/v1/completions");
}

TEST(UpstreamAddressing, AnthropicGetsApiKeyVersionAndBeta) {
  ProviderConfig provider;
  provider.protocol = schemas::Protocol::anthropic;
  provider.base_url = "https://api.anthropic.com";
  provider.api_key = "sk-ant";
  auto request = make_upstream_request(provider, schemas::Endpoint::messages, "{}", false,
                                       {"2023-06-01", "context-management-2025-06-27"});
  EXPECT_EQ(request.url, "https://api.anthropic.com/v1/messages");
  EXPECT_EQ(header(request, "x-api-key"), "sk-ant");
  EXPECT_EQ(header(request, "authorization"), "<absent>");
  EXPECT_EQ(header(request, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(header(request, "anthropic-beta"), "context-management-2025-06-27");
  auto count = make_upstream_request(provider, schemas::Endpoint::count_tokens, "{}", false);
  EXPECT_EQ(count.url, "https://api.anthropic.com/v1/messages/count_tokens");
  EXPECT_EQ(header(count, "anthropic-version"), "2023-06-01");  // a default when the caller sent none
  EXPECT_EQ(header(count, "anthropic-beta"), "<absent>");
}

TEST(RewriteModel, ReplacesOnlyTheTopLevelModelValue) {
  std::string body = "{ \"messages\" : [{\"role\":\"user\",\"content\":\"model: \\\"x\\\"\",\"model\":\"inner\"}],\n"
                     "  \"model\"\t:  \"smart\" , \"max_tokens\": 1.50e2, \"cache_control\": {\"type\":\"ephemeral\"},"
                     "\"unknown_beta\": [1,{\"a\":\"}\"}] }";
  auto rewritten = rewrite_model(body, "claude-sonnet-4-5");
  ASSERT_TRUE(rewritten);
  std::string expected = body;
  expected.replace(expected.find("\"smart\""), 7, "\"claude-sonnet-4-5\"");
  EXPECT_EQ(*rewritten, expected);
}

TEST(RewriteModel, KeepsTheBodyWhenTheModelIsAlreadyRightAndRefusesNonObjects) {
  EXPECT_EQ(rewrite_model(R"({"model":"a", "x":1.0})", "a"), R"({"model":"a", "x":1.0})");
  EXPECT_EQ(rewrite_model(R"({"model":"a"})", "quote\"d"), R"({"model":"quote\"d"})");
  EXPECT_EQ(rewrite_model(R"({"mod\u0065l":"a"})", "b"), R"({"mod\u0065l":"b"})");  // an escaped key is still "model"
  EXPECT_FALSE(rewrite_model("[1]", "a"));
  EXPECT_FALSE(rewrite_model(R"({"model": 3})", "a"));
  EXPECT_FALSE(rewrite_model(R"({"x": 1})", "a"));
  EXPECT_FALSE(rewrite_model(R"({"model": "a")", "b"));
  EXPECT_FALSE(rewrite_model(R"({"model": "a"} {})", "b"));  // more after the object
  EXPECT_FALSE(rewrite_model(R"({"model": ["a"]})", "b"));
  EXPECT_EQ(rewrite_model(R"({"model":"a","m":{"model":"z"},"model":"c"})", "b"),
            R"({"model":"a","m":{"model":"z"},"model":"b"})");  // the last top-level one, as parsed
  EXPECT_EQ(rewrite_model(R"({"model":"a","model":"b"})", "b"), R"({"model":"a","model":"b"})");
}

TEST(ForwardedResponseHeaders, KeepsRetryAndRateLimitHeadersAndRenamesTheUpstreamId) {
  ResponseHead head;
  head.headers = {{"retry-after", "3"}, {"retry-after-ms", "2500"}, {"x-ratelimit-remaining-tokens", "10"},
                  {"anthropic-ratelimit-requests-remaining", "0"}, {"request-id", "req_up"},
                  {"set-cookie", "a=b"}, {"content-length", "12"}};
  auto forwarded = forwarded_response_headers(head);
  HeaderList expected = {{"retry-after", "3"}, {"retry-after-ms", "2500"}, {"x-ratelimit-remaining-tokens", "10"},
                         {"anthropic-ratelimit-requests-remaining", "0"}, {"upstream-request-id", "req_up"}};
  EXPECT_EQ(forwarded, expected);
}

}  // namespace
}  // namespace tandem::cloud
