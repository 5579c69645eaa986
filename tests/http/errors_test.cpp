#include "http/errors.h"
#include "schemas/errors.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace tandem::http {
namespace {

namespace json = boost::json;

TEST(DetectProtocol, AnthropicByHeaderOrMessagesPath) {
  EXPECT_EQ(detect_protocol("/v1/chat/completions", false), Protocol::openai);
  EXPECT_EQ(detect_protocol("/v1/models", true), Protocol::anthropic);
  EXPECT_EQ(detect_protocol("/v1/messages", false), Protocol::anthropic);
  EXPECT_EQ(detect_protocol("/v1/messages/count_tokens", false), Protocol::anthropic);

  Request request;
  request.path = "/v1/models";
  request.headers = {{"anthropic-version", "2023-06-01"}};
  EXPECT_EQ(detect_protocol(request), Protocol::anthropic);
}

TEST(ErrorBody, OpenAiShape) {
  auto body = json::parse(error_body(Protocol::openai, 401, "Invalid API key.", "invalid_api_key"));
  const auto& error = body.at("error");
  EXPECT_EQ(error.at("message"), "Invalid API key.");
  EXPECT_EQ(error.at("type"), "invalid_request_error");
  EXPECT_TRUE(error.at("param").is_null());
  EXPECT_EQ(error.at("code"), "invalid_api_key");

  auto no_code = json::parse(error_body(Protocol::openai, 503, "busy"));
  EXPECT_TRUE(no_code.at("error").at("code").is_null());
  EXPECT_EQ(no_code.at("error").at("type"), "server_error");
}

TEST(ErrorBody, AnthropicShape) {
  auto body = json::parse(error_body(Protocol::anthropic, 401, "Invalid API key."));
  EXPECT_EQ(body.at("type"), "error");
  EXPECT_EQ(body.at("error").at("type"), "authentication_error");
  EXPECT_EQ(body.at("error").at("message"), "Invalid API key.");
  EXPECT_EQ(body.as_object().size(), 2u);
}

TEST(ErrorBody, StatusMapsToProtocolTypes) {
  EXPECT_EQ(error_type(Protocol::anthropic, 404), "not_found_error");
  EXPECT_EQ(error_type(Protocol::anthropic, 405), "invalid_request_error");
  EXPECT_EQ(error_type(Protocol::anthropic, 408), "invalid_request_error");
  EXPECT_EQ(error_type(Protocol::anthropic, 413), "request_too_large");
  EXPECT_EQ(error_type(Protocol::anthropic, 500), "api_error");
  EXPECT_EQ(error_type(Protocol::openai, 413), "invalid_request_error");
  EXPECT_EQ(error_type(Protocol::openai, 500), "server_error");
  EXPECT_EQ(error_type(Protocol::anthropic, 503), "overloaded_error");
  EXPECT_EQ(error_type(Protocol::anthropic, 529), "overloaded_error");
}

// One error table for the project: the HTTP layer's types are schemas' (OpenAI's 429 is
// rate_limit_error everywhere, not rate_limit_exceeded, which is its code).
TEST(ErrorBody, TypesComeFromTheSchemasTable) {
  for (Protocol protocol : {Protocol::openai, Protocol::anthropic}) {
    for (int status : {400, 401, 403, 404, 413, 429, 500, 502, 503, 504, 529}) {
      auto kind = schemas::error_kind_for_status(status);
      EXPECT_EQ(error_type(protocol, status), schemas::error_shape(kind, protocol).type) << status;
    }
  }
  EXPECT_EQ(error_type(Protocol::openai, 429), "rate_limit_error");
}

TEST(ErrorBody, EscapesMessages) {
  auto body = json::parse(error_body(Protocol::openai, 404, "Not found: GET /\"x\"\n"));
  EXPECT_EQ(body.at("error").at("message"), "Not found: GET /\"x\"\n");
}

}  // namespace
}  // namespace tandem::http
