#include "http/detail/connection.h"
#include "http/server.h"

#include <gtest/gtest.h>

namespace tandem::http {
namespace {

Handler noop() {
  return [](RequestContext&) -> asio::awaitable<void> { co_return; };
}

TEST(Router, MatchesMethodAndLiteralPath) {
  Router router;
  router.add("GET", "/health", noop());
  router.add("POST", "/v1/chat/completions", noop());
  auto match = router.match("POST", "/v1/chat/completions");
  ASSERT_NE(match.handler, nullptr);
  EXPECT_EQ(match.route, "/v1/chat/completions");
  EXPECT_EQ(router.match("GET", "/v1/chat/completions/extra").handler, nullptr);
  EXPECT_EQ(router.match("GET", "/healthz").handler, nullptr);
}

TEST(Router, WrongMethodListsAllowedMethods) {
  Router router;
  router.add("GET", "/v1/models", noop());
  router.add("DELETE", "/v1/models", noop());
  auto match = router.match("POST", "/v1/models");
  EXPECT_EQ(match.handler, nullptr);
  EXPECT_EQ(match.allowed_methods, "GET, DELETE");
  auto missing = router.match("POST", "/v1/nothing");
  EXPECT_TRUE(missing.allowed_methods.empty());
}

TEST(Router, ExtractsSegmentAndRestParameters) {
  Router router;
  router.add("GET", "/v1/models/{model}", noop());
  router.add("GET", "/files/{path*}", noop());
  auto one = router.match("GET", "/v1/models/stories");
  ASSERT_NE(one.handler, nullptr);
  ASSERT_EQ(one.params.size(), 1u);
  EXPECT_EQ(one.params[0], (std::pair<std::string, std::string>{"model", "stories"}));
  EXPECT_EQ(router.match("GET", "/v1/models/a/b").handler, nullptr);
  EXPECT_EQ(router.match("GET", "/v1/models/").handler, nullptr);

  auto rest = router.match("GET", "/files/org/model/v2");
  ASSERT_NE(rest.handler, nullptr);
  EXPECT_EQ(rest.params[0].second, "org/model/v2");
}

TEST(Router, RejectsMalformedPatterns) {
  Router router;
  EXPECT_THROW(router.add("GET", "no-slash", noop()), std::invalid_argument);
  EXPECT_THROW(router.add("GET", "/a/{rest*}/b", noop()), std::invalid_argument);
}

TEST(Request, SplitsTargetAndDecodesQueryParameters) {
  Request request;
  std::tie(request.path, request.query) = split_target("/debug/sse?events=3&name=a%20b&flag");
  EXPECT_EQ(request.path, "/debug/sse");
  EXPECT_EQ(request.query_param("events"), "3");
  EXPECT_EQ(request.query_param("name"), "a b");
  EXPECT_EQ(request.query_param("flag"), "");
  EXPECT_FALSE(request.query_param("missing"));
}

TEST(RequestId, KeepsSaneClientIdsAndGeneratesOthers) {
  EXPECT_EQ(detail::choose_request_id("abc-123_x.y:z"), "abc-123_x.y:z");
  auto generated = detail::choose_request_id(std::nullopt);
  EXPECT_TRUE(generated.starts_with("req_")) << generated;
  EXPECT_EQ(generated.size(), 28u);
  EXPECT_NE(generated, detail::choose_request_id(std::nullopt));
  // Spaces, newlines (log injection) and oversized ids are replaced.
  EXPECT_TRUE(detail::choose_request_id("bad id\n").starts_with("req_"));
  EXPECT_TRUE(detail::choose_request_id(std::string(200, 'a')).starts_with("req_"));
  EXPECT_TRUE(detail::choose_request_id("").starts_with("req_"));
}

TEST(ConstantTimeEquals, ComparesWholeStrings) {
  EXPECT_TRUE(detail::constant_time_equals("secret", "secret"));
  EXPECT_FALSE(detail::constant_time_equals("secret", "secreT"));
  EXPECT_FALSE(detail::constant_time_equals("secret", "secret2"));
  EXPECT_FALSE(detail::constant_time_equals("", "x"));
  EXPECT_FALSE(detail::constant_time_equals(std::string("a\0b", 3), "a"));
}

}  // namespace
}  // namespace tandem::http
