// CORS: the policy's decisions (unit), and the server answering preflights before the API-key
// check and marking actual responses, streams and errors for an allowed origin (over sockets).
#include "server_fixture.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace tandem::http {
namespace {

namespace json = boost::json;
using tandem::test::http_request;

Request preflight(std::string origin, std::string method, std::string headers) {
  Request request;
  request.method = "OPTIONS";
  request.path = request.target = "/v1/chat/completions";
  request.headers = {{"origin", std::move(origin)}, {"access-control-request-method", std::move(method)}};
  if (!headers.empty()) request.headers.emplace_back("access-control-request-headers", std::move(headers));
  return request;
}

std::string header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

TEST(CorsPolicy, DisabledByDefault) {
  CorsPolicy off;
  EXPECT_FALSE(off.enabled());
  EXPECT_FALSE(off.allow_origin("https://a.example").has_value());
  EXPECT_TRUE(off.response_headers(preflight("https://a.example", "POST", "")).empty());
}

TEST(CorsPolicy, ListedOriginsAreEchoedOthersAreNot) {
  CorsPolicy policy({"https://a.example", "http://localhost:5173"});
  EXPECT_EQ(policy.allow_origin("https://a.example"), "https://a.example");
  EXPECT_EQ(policy.allow_origin("https://A.example"), "https://A.example");
  EXPECT_EQ(policy.allow_origin("http://localhost:5173"), "http://localhost:5173");
  EXPECT_FALSE(policy.allow_origin("https://b.example").has_value());
  EXPECT_FALSE(policy.allow_origin("http://localhost:5174").has_value());
  EXPECT_FALSE(policy.preflight_headers(preflight("https://evil.example", "POST", "authorization")).has_value());

  CorsPolicy any({"*"});
  EXPECT_EQ(any.allow_origin("https://whoever.example"), "*");
  EXPECT_FALSE(any.allow_origin("").has_value());
}

TEST(CorsPolicy, PreflightAllowsTheSdkHeadersOnly) {
  CorsPolicy policy({"https://a.example"});
  auto headers = policy.preflight_headers(preflight(
      "https://a.example", "POST",
      "Authorization, X-Api-Key,content-type, anthropic-version, anthropic-beta, x-stainless-os, "
      "x-stainless-retry-count, x-secret-internal"));
  ASSERT_TRUE(headers.has_value());
  EXPECT_EQ(header(*headers, "access-control-allow-origin"), "https://a.example");
  EXPECT_EQ(header(*headers, "access-control-allow-methods"), "GET, POST, DELETE, OPTIONS");
  EXPECT_EQ(header(*headers, "access-control-allow-headers"),
            "authorization, x-api-key, content-type, anthropic-version, anthropic-beta, x-stainless-os, "
            "x-stainless-retry-count");
  EXPECT_EQ(header(*headers, "access-control-allow-credentials"), "<absent>");
  EXPECT_EQ(header(*headers, "access-control-max-age"), "600");
}

TEST(CorsPolicy, ActualResponsesExposeTheHeadersClientsRead) {
  CorsPolicy policy({"https://a.example"});
  Request request;
  request.method = "POST";
  request.headers = {{"origin", "https://a.example"}};
  Headers headers = policy.response_headers(request);
  EXPECT_EQ(header(headers, "access-control-allow-origin"), "https://a.example");
  EXPECT_EQ(header(headers, "vary"), "Origin");
  EXPECT_EQ(header(headers, "access-control-expose-headers"), "x-request-id, request-id, retry-after");

  request.headers = {{"origin", "https://other.example"}};
  headers = policy.response_headers(request);
  EXPECT_EQ(header(headers, "access-control-allow-origin"), "<absent>");
  EXPECT_EQ(header(headers, "vary"), "Origin");  // caches still key on Origin
}

TEST(CorsOrigins, ParsesTheFlagValue) {
  EXPECT_TRUE(parse_cors_origins("").origins.empty());
  EXPECT_EQ(parse_cors_origins("*").origins, std::vector<std::string>{"*"});
  auto list = parse_cors_origins(" https://a.example/ , http://localhost:3000");
  EXPECT_TRUE(list.error.empty());
  EXPECT_EQ(list.origins, (std::vector<std::string>{"https://a.example", "http://localhost:3000"}));
  auto bad = parse_cors_origins("https://a.example,a.example");
  EXPECT_EQ(bad.error, "'a.example' is not an origin (expected '*' or scheme://host[:port], e.g. https://app.example.com)");
  EXPECT_TRUE(bad.origins.empty());
  EXPECT_FALSE(parse_cors_origins("https://a.example/path").error.empty());
}

// ---------------------------------------------------------------- over sockets

Router api_router() {
  Router router;
  router.add("POST", "/v1/chat/completions", [](RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.respond(200, R"({"ok":true})");
  });
  router.add("GET", "/v1/stream", [](RequestContext& ctx) -> asio::awaitable<void> {
    auto stream = co_await ctx.begin_sse();
    co_await stream.send("", "{}");
  });
  return router;
}

class CorsServerTest : public ServerTest {
 protected:
  void start_with(std::vector<std::string> origins) {
    ServerOptions options;
    options.api_keys = {"secret"};
    options.cors = CorsPolicy(std::move(origins));
    start(api_router(), options);
  }
};

TEST_F(CorsServerTest, PreflightIsAnsweredWithoutAnApiKey) {
  start_with({"https://app.example"});
  auto response = http_request(port_, "OPTIONS", "/v1/chat/completions", "",
                               {{"Origin", "https://app.example"},
                                {"Access-Control-Request-Method", "POST"},
                                {"Access-Control-Request-Headers", "authorization,content-type,x-stainless-lang"}});
  EXPECT_EQ(response.status, 204);
  EXPECT_EQ(response.header("access-control-allow-origin"), "https://app.example");
  EXPECT_EQ(response.header("access-control-allow-headers"), "authorization, content-type, x-stainless-lang");
  EXPECT_EQ(response.header("access-control-allow-methods"), "GET, POST, DELETE, OPTIONS");
  EXPECT_TRUE(response.body.empty());
  EXPECT_FALSE(response.header("x-request-id").empty());
}

TEST_F(CorsServerTest, PreflightFromAnotherOriginIsRefused) {
  start_with({"https://app.example"});
  auto response = http_request(port_, "OPTIONS", "/v1/chat/completions", "",
                               {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(response.status, 403);
  EXPECT_TRUE(response.header("access-control-allow-origin").empty());
  EXPECT_EQ(json::parse(response.body).at("error").at("message"),
            "Origin https://evil.example is not allowed (see --cors-origins).");
}

TEST_F(CorsServerTest, ActualResponsesErrorsAndStreamsCarryTheOrigin) {
  start_with({"*"});
  auto ok = http_request(port_, "POST", "/v1/chat/completions", "{}",
                         {{"Origin", "https://any.example"}, {"Authorization", "Bearer secret"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.header("access-control-allow-origin"), "*");
  EXPECT_EQ(ok.header("access-control-expose-headers"), "x-request-id, request-id, retry-after");
  EXPECT_EQ(ok.header("vary"), "Origin");

  // A page must be able to read the 401 to tell its user the key is wrong.
  auto denied = http_request(port_, "POST", "/v1/chat/completions", "{}", {{"Origin", "https://any.example"}});
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.header("access-control-allow-origin"), "*");

  auto stream = http_request(port_, "GET", "/v1/stream", "", {{"Origin", "https://any.example"}, {"x-api-key", "secret"}});
  EXPECT_EQ(stream.status, 200);
  EXPECT_EQ(stream.header("content-type"), "text/event-stream");
  EXPECT_EQ(stream.header("access-control-allow-origin"), "*");
}

TEST_F(ServerTest, WithoutCorsOptionsIsNotAPreflight) {
  ServerOptions options;
  options.api_keys = {"secret"};
  start(api_router(), options);
  auto response = http_request(port_, "OPTIONS", "/v1/chat/completions", "",
                               {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(response.status, 401);  // as before: CORS is off unless configured
  EXPECT_TRUE(response.header("access-control-allow-origin").empty());
  auto plain = http_request(port_, "POST", "/v1/chat/completions", "{}", {{"Origin", "https://app.example"}, {"x-api-key", "secret"}});
  EXPECT_TRUE(plain.header("access-control-allow-origin").empty());
  EXPECT_TRUE(plain.header("vary").empty());
}

}  // namespace
}  // namespace tandem::http
