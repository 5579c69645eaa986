// Every validation rule has a failing request: each case patches the top-level fields of a valid
// body and expects the exact 400 message and param, rendered in the caller's protocol's shape.
#include "schema_test_util.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"

#include <gtest/gtest.h>

namespace tandem::schemas {
namespace {

namespace json = boost::json;

enum class Api { chat, completion, messages };

struct Case {
  Api api;
  const char* patch;  // top-level fields replacing the valid body's (null removes one)
  const char* message;
  const char* param;
};

std::ostream& operator<<(std::ostream& out, const Case& c) { return out << c.patch; }

json::object valid_body(Api api) {
  switch (api) {
    case Api::chat: return json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})").as_object();
    case Api::completion: return json::parse(R"({"model":"m","prompt":"hi"})").as_object();
    case Api::messages:
      return json::parse(R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})").as_object();
  }
  return {};
}

Result<InternalRequest> parse(Api api, std::string_view body, std::string_view content_type = "application/json") {
  switch (api) {
    case Api::chat: return parse_openai_chat_request(body, content_type);
    case Api::completion: return parse_openai_completion_request(body, content_type);
    case Api::messages: return parse_anthropic_messages_request(body, content_type);
  }
  return make_error(ErrorKind::api_error, "unreachable");
}

class Validation : public ::testing::TestWithParam<Case> {};

TEST_P(Validation, FailsNamingTheField) {
  const Case& c = GetParam();
  json::object body = valid_body(c.api);
  json::value patch = json::parse(c.patch);
  for (const auto& [key, value] : patch.as_object()) {
    if (value.is_null()) {
      body.erase(key);
    } else {
      body[key] = value;
    }
  }
  auto result = parse(c.api, json::serialize(body));
  ASSERT_FALSE(result.ok()) << "accepted: " << json::serialize(body);
  EXPECT_EQ(result.error().message, c.message);
  EXPECT_EQ(result.error().param, c.param);
  EXPECT_EQ(result.error().kind, ErrorKind::invalid_request);

  Protocol protocol = c.api == Api::messages ? Protocol::anthropic : Protocol::openai;
  EXPECT_EQ(result.error().http_status(protocol), 400);
  json::value rendered = json::parse(render_error(result.error(), protocol));
  if (protocol == Protocol::openai) {
    EXPECT_EQ(rendered.at("error").at("message").as_string(), c.message);
    EXPECT_EQ(rendered.at("error").at("type").as_string(), "invalid_request_error");
    EXPECT_EQ(rendered.at("error").at("param").as_string(), c.param);
    EXPECT_TRUE(rendered.at("error").at("code").is_null());
  } else {
    EXPECT_EQ(rendered.at("type").as_string(), "error");
    EXPECT_EQ(rendered.at("error").at("type").as_string(), "invalid_request_error");
    EXPECT_EQ(rendered.at("error").at("message").as_string(), c.message);
  }
}

INSTANTIATE_TEST_SUITE_P(OpenAiChat, Validation, ::testing::Values(
  Case{Api::chat, R"({"model":null})", "model: field required", "model"},
  Case{Api::chat, R"({"model":5})", "model: must be a string, got a number", "model"},
  Case{Api::chat, R"({"messages":null})", "messages: field required", "messages"},
  Case{Api::chat, R"({"messages":[]})", "messages: must contain at least one message", "messages"},
  Case{Api::chat, R"({"messages":"hi"})", "messages: must be an array, got a string", "messages"},
  Case{Api::chat, R"({"messages":[5]})", "messages[0]: must be an object, got a number", "messages[0]"},
  Case{Api::chat, R"({"messages":[{"content":"x"}]})", "messages[0].role: field required", "messages[0].role"},
  Case{Api::chat, R"({"messages":[{"role":"function","content":"x"}]})", "messages[0].role: must be one of 'system', 'developer', 'user', 'assistant', 'tool', got 'function'", "messages[0].role"},
  Case{Api::chat, R"({"messages":[{"role":"user"}]})", "messages[0].content: field required", "messages[0].content"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":7}]})",
       "messages[0].content: must be a string or an array of content parts, got a number", "messages[0].content"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"input_audio"}]}]})",
       "messages[0].content[0].type: unsupported content part type 'input_audio' here (supported: 'text', 'image_url')",
       "messages[0].content[0].type"},
  Case{Api::chat, R"({"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"u"}}]}]})",
       "messages[0].content[0].type: unsupported content part type 'image_url' here (supported: 'text')",
       "messages[0].content[0].type"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})",
       "messages[0].content[0].text: field required", "messages[0].content[0].text"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})",
       "messages[0].content[0].image_url.url: field required", "messages[0].content[0].image_url.url"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u","detail":"ultra"}}]}]})",
       "messages[0].content[0].image_url.detail: must be one of 'auto', 'low', 'high', got 'ultra'",
       "messages[0].content[0].image_url.detail"},
  Case{Api::chat, R"({"messages":[{"role":"assistant"}]})",
       "messages[0].content: field required (an assistant message needs content or tool_calls)", "messages[0].content"},
  Case{Api::chat, R"({"messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]})",
       "messages[0].tool_calls[0].id: field required", "messages[0].tool_calls[0].id"},
  Case{Api::chat, R"({"messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":5}}]}]})",
       "messages[0].tool_calls[0].function.arguments: must be a string of JSON", "messages[0].tool_calls[0].function.arguments"},
  Case{Api::chat, R"({"messages":[{"role":"tool","content":"x"}]})", "messages[0].tool_call_id: field required", "messages[0].tool_call_id"},
  Case{Api::chat, R"({"temperature":2.5})", "temperature: must be between 0 and 2", "temperature"},
  Case{Api::chat, R"({"temperature":"hot"})", "temperature: must be a number, got a string", "temperature"},
  Case{Api::chat, R"({"top_p":1.5})", "top_p: must be between 0 and 1", "top_p"},
  Case{Api::chat, R"({"n":0})", "n: must be between 1 and 128", "n"},
  Case{Api::chat, R"({"n":1.5})", "n: must be an integer", "n"},
  Case{Api::chat, R"({"max_tokens":0})", "max_tokens: must be at least 1", "max_tokens"},
  Case{Api::chat, R"({"max_tokens":true})", "max_tokens: must be an integer, got a boolean", "max_tokens"},
  Case{Api::chat, R"({"max_completion_tokens":-1})", "max_completion_tokens: must be at least 1", "max_completion_tokens"},
  Case{Api::chat, R"({"stop":["a","b","c","d","e"]})", "stop: must have at most 4 sequences", "stop"},
  Case{Api::chat, R"({"stop":5})", "stop: must be a string or an array of strings", "stop"},
  Case{Api::chat, R"({"stop":[1]})", "stop[0]: must be a string, got a number", "stop[0]"},
  Case{Api::chat, R"({"stream":"yes"})", "stream: must be a boolean, got a string", "stream"},
  Case{Api::chat, R"({"stream_options":true})", "stream_options: must be an object, got a boolean", "stream_options"},
  Case{Api::chat, R"({"seed":"x"})", "seed: must be an integer, got a string", "seed"},
  Case{Api::chat, R"({"presence_penalty":3})", "presence_penalty: must be between -2 and 2", "presence_penalty"},
  Case{Api::chat, R"({"frequency_penalty":-2.5})", "frequency_penalty: must be between -2 and 2", "frequency_penalty"},
  Case{Api::chat, R"({"logprobs":1})", "logprobs: must be a boolean, got a number", "logprobs"},
  Case{Api::chat, R"({"logprobs":true,"top_logprobs":21})", "top_logprobs: must be between 0 and 20", "top_logprobs"},
  Case{Api::chat, R"({"top_logprobs":2})", "top_logprobs: requires logprobs to be true", "top_logprobs"},
  Case{Api::chat, R"({"response_format":{"type":"xml"}})",
       "response_format.type: must be one of 'text', 'json_object', 'json_schema', got 'xml'", "response_format.type"},
  Case{Api::chat, R"({"response_format":{"type":"json_schema"}})", "response_format.json_schema: field required",
       "response_format.json_schema"},
  Case{Api::chat, R"({"tools":{}})", "tools: must be an array, got an object", "tools"},
  // Found by fuzz_schemas_requests: such a request used to translate into an invalid Anthropic one.
  Case{Api::chat,
       R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:imagn/jpeg;base64,AAAA"}}]}]})",
       "messages[0].content[0].image_url.url: a data URL image must be image/jpeg, image/png, image/gif or image/webp, "
       "got 'imagn/jpeg'",
       "messages[0].content[0].image_url.url"},
  Case{Api::chat, R"({"tools":[{"type":"retrieval"}]})", "tools[0].type: must be one of 'function', got 'retrieval'", "tools[0].type"},
  Case{Api::chat, R"({"tools":[{"type":"function","function":{}}]})", "tools[0].function.name: field required", "tools[0].function.name"},
  Case{Api::chat, R"({"tools":[{"type":"function","function":{"name":"has space"}}]})",
       "tools[0].function.name: must be 1-64 characters of a-z, A-Z, 0-9, '_' and '-'", "tools[0].function.name"},
  Case{Api::chat, R"({"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]})",
       "tools[0].function.parameters: must be an object, got a string", "tools[0].function.parameters"},
  Case{Api::chat, R"({"tool_choice":"sometimes"})", "tool_choice: must be one of 'none', 'auto', 'required', got 'sometimes'", "tool_choice"},
  Case{Api::chat, R"({"tool_choice":{"type":"function","function":{"name":"g"}}})",
       "tool_choice.function.name: no tool named 'g' in tools", "tool_choice.function.name"},
  Case{Api::chat, R"({"parallel_tool_calls":"no"})", "parallel_tool_calls: must be a boolean, got a string", "parallel_tool_calls"},
  Case{Api::chat, R"({"user":5})", "user: must be a string, got a number", "user"}));

INSTANTIATE_TEST_SUITE_P(OpenAiCompletion, Validation, ::testing::Values(
  Case{Api::completion, R"({"prompt":null})", "prompt: field required", "prompt"},
  Case{Api::completion, R"({"prompt":{}})",
       "prompt: must be a string, an array of strings, an array of token ids or an array of arrays of token ids", "prompt"},
  Case{Api::completion, R"({"prompt":[]})", "prompt: must not be empty", "prompt"},
  Case{Api::completion, R"({"prompt":["a",1]})",
       "prompt: must be a string, an array of strings, an array of token ids or an array of arrays of token ids", "prompt"},
  Case{Api::completion, R"({"prompt":[1,"a"]})", "prompt[1]: must be an integer, got a string", "prompt[1]"},
  Case{Api::completion, R"({"prompt":[-1]})", "prompt[0]: must be a token id between 0 and 2147483647", "prompt[0]"},
  Case{Api::completion, R"({"prompt":[[1],[]]})", "prompt[1]: must not be empty", "prompt[1]"},
  Case{Api::completion, R"({"suffix":"end"})", "suffix: not supported (insertion completions are not available)", "suffix"},
  Case{Api::completion, R"({"max_tokens":0})", "max_tokens: must be at least 1 (0 is only allowed with echo)", "max_tokens"},
  Case{Api::completion, R"({"max_tokens":-3})", "max_tokens: must be at least 0", "max_tokens"},
  Case{Api::completion, R"({"logprobs":6})", "logprobs: must be between 0 and 5", "logprobs"},
  Case{Api::completion, R"({"echo":"yes"})", "echo: must be a boolean, got a string", "echo"},
  Case{Api::completion, R"({"best_of":3})", "best_of: not supported (only best_of equal to n)", "best_of"},
  Case{Api::completion, R"({"temperature":-0.1})", "temperature: must be between 0 and 2", "temperature"},
  Case{Api::completion, R"({"model":null})", "model: field required", "model"}));

INSTANTIATE_TEST_SUITE_P(AnthropicMessages, Validation, ::testing::Values(
  Case{Api::messages, R"({"max_tokens":null})", "max_tokens: field required", "max_tokens"},
  Case{Api::messages, R"({"max_tokens":0})", "max_tokens: must be at least 1", "max_tokens"},
  Case{Api::messages, R"({"max_tokens":"10"})", "max_tokens: must be an integer, got a string", "max_tokens"},
  Case{Api::messages, R"({"model":null})", "model: field required", "model"},
  Case{Api::messages, R"({"messages":[]})", "messages: must contain at least one message", "messages"},
  Case{Api::messages, R"({"messages":null})", "messages: field required", "messages"},
  Case{Api::messages, R"({"messages":[{"role":"system","content":"x"}]})",
       "messages[0].role: must be one of 'user', 'assistant', got 'system'", "messages[0].role"},
  Case{Api::messages, R"({"messages":[{"role":"user"}]})", "messages[0].content: field required", "messages[0].content"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":1}]})",
       "messages[0].content: must be a string or an array of content blocks, got a number", "messages[0].content"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"text":"x"}]}]})",
       "messages[0].content[0].type: field required", "messages[0].content[0].type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"document"}]}]})",
       "messages[0].content[0].type: must be one of 'text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking', got 'document'",
       "messages[0].content[0].type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"text","text":3}]}]})",
       "messages[0].content[0].text: must be a string, got a number", "messages[0].content[0].text"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file"}}]}]})",
       "messages[0].content[0].source.type: must be one of 'base64', 'url', got 'file'", "messages[0].content[0].source.type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"x"}}]}]})",
       "messages[0].content[0].source.media_type: must be one of 'image/jpeg', 'image/png', 'image/gif', 'image/webp', got 'image/bmp'",
       "messages[0].content[0].source.media_type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png"}}]}]})",
       "messages[0].content[0].source.data: field required", "messages[0].content[0].source.data"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]})",
       "messages[0].content[0].type: 'tool_use' is only allowed in assistant messages", "messages[0].content[0].type"},
  Case{Api::messages, R"({"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]})",
       "messages[0].content[0].type: 'tool_result' is only allowed in user messages", "messages[0].content[0].type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]})",
       "messages[0].content[0].tool_use_id: field required", "messages[0].content[0].tool_use_id"},
  Case{Api::messages, R"({"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":[1]}]}]})",
       "messages[0].content[0].input: must be an object", "messages[0].content[0].input"},
  Case{Api::messages, R"({"messages":[{"role":"assistant","content":[{"type":"redacted_thinking"}]}]})",
       "messages[0].content[0].data: field required", "messages[0].content[0].data"},
  Case{Api::messages, R"({"system":5})", "system: must be a string or an array of text blocks", "system"},
  Case{Api::messages, R"({"system":[{"type":"image"}]})", "system[0].type: must be one of 'text', got 'image'", "system[0].type"},
  Case{Api::messages, R"({"temperature":1.5})", "temperature: must be between 0 and 1", "temperature"},
  Case{Api::messages, R"({"top_p":2})", "top_p: must be between 0 and 1", "top_p"},
  Case{Api::messages, R"({"top_k":-1})", "top_k: must be at least 0", "top_k"},
  Case{Api::messages, R"({"stop_sequences":"END"})", "stop_sequences: must be an array, got a string", "stop_sequences"},
  Case{Api::messages, R"({"stop_sequences":[1]})", "stop_sequences[0]: must be a string, got a number", "stop_sequences[0]"},
  Case{Api::messages, R"({"stream":"true"})", "stream: must be a boolean, got a string", "stream"},
  Case{Api::messages, R"({"metadata":"x"})", "metadata: must be an object, got a string", "metadata"},
  Case{Api::messages, R"({"tools":[{"name":"f"}]})", "tools[0].input_schema: field required", "tools[0].input_schema"},
  Case{Api::messages, R"({"tools":[{"input_schema":{}}]})", "tools[0].name: field required", "tools[0].name"},
  Case{Api::messages, R"({"tools":[{"type":"web_search_20250305","name":"web_search"}]})",
       "tools[0].type: unsupported tool type 'web_search_20250305' (only client tools with input_schema)", "tools[0].type"},
  Case{Api::messages, R"({"tool_choice":{"type":"required"}})",
       "tool_choice.type: must be one of 'auto', 'any', 'tool', 'none', got 'required'", "tool_choice.type"},
  Case{Api::messages, R"({"tool_choice":{"type":"tool"}})", "tool_choice.name: field required", "tool_choice.name"},
  Case{Api::messages, R"({"tool_choice":"auto"})", "tool_choice: must be an object, got a string", "tool_choice"},
  Case{Api::messages, R"({"thinking":{"type":"on"}})", "thinking.type: must be one of 'enabled', 'disabled', got 'on'", "thinking.type"},
  Case{Api::messages, R"({"thinking":{"type":"enabled"}})", "thinking.budget_tokens: field required", "thinking.budget_tokens"},
  Case{Api::messages, R"({"max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":500}})",
       "thinking.budget_tokens: must be at least 1024", "thinking.budget_tokens"},
  Case{Api::messages, R"({"max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024}})",
       "thinking.budget_tokens: must be less than max_tokens", "thinking.budget_tokens"}));

// ---------------------------------------------------------------- body-level failures

TEST(BodyErrors, MalformedJsonNamesThePosition) {
  auto result = parse_openai_chat_request("{\"model\": \"m\",\n  \"messages\": [,]}", "application/json");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message.rfind("invalid JSON at line 2 column 16 (offset 30): ", 0), 0u) << result.error().message;
  EXPECT_EQ(result.error().http_status(Protocol::openai), 400);

  auto truncated = parse_anthropic_messages_request(R"({"model": "m")", "application/json");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().message.rfind("invalid JSON at line 1 column 14 (offset 13)", 0), 0u) << truncated.error().message;

  auto trailing = parse_anthropic_messages_request(R"({"model": "m"} x)", "application/json");
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.error().message.rfind("invalid JSON at line 1 column 16 (offset 15)", 0), 0u) << trailing.error().message;
}

TEST(BodyErrors, EmptyBodyWrongTypeAndContentType) {
  for (Api api : {Api::chat, Api::completion, Api::messages}) {
    auto empty = parse(api, "  \n");
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().message, "request body is empty; expected a JSON object");

    auto array = parse(api, "[1,2]");
    ASSERT_FALSE(array.ok());
    EXPECT_EQ(array.error().message, "request body must be a JSON object, got an array");

    auto form = parse(api, json::serialize(valid_body(api)), "application/x-www-form-urlencoded");
    ASSERT_FALSE(form.ok());
    EXPECT_EQ(form.error().message, "Content-Type must be application/json, got 'application/x-www-form-urlencoded'");
    EXPECT_EQ(form.error().http_status(Protocol::anthropic), 400);
  }
}

TEST(BodyErrors, DeepNestingIsRefusedNotCrashing) {
  std::string deep = R"({"model":"m","messages":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto result = parse_openai_chat_request(deep, "application/json");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("invalid JSON"), std::string::npos);
}

TEST(BodyErrors, HugeNumbersAreRangeErrors) {
  auto result = parse_openai_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1e300})", "application/json");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message, "max_tokens: must be an integer");
  auto big = parse_openai_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"seed":18446744073709551615})", "application/json");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().message, "seed: is too large");
}

// ---------------------------------------------------------------- other layers' errors

TEST(ErrorShapes, EachKindInBothProtocols) {
  struct Expected {
    ErrorKind kind;
    int openai_status;
    const char* openai_type;
    const char* openai_code;
    int anthropic_status;
    const char* anthropic_type;
  };
  const Expected table[] = {
      {ErrorKind::invalid_request, 400, "invalid_request_error", nullptr, 400, "invalid_request_error"},
      {ErrorKind::authentication, 401, "invalid_request_error", "invalid_api_key", 401, "authentication_error"},
      {ErrorKind::permission, 403, "invalid_request_error", "permission_denied", 403, "permission_error"},
      {ErrorKind::not_found, 404, "invalid_request_error", nullptr, 404, "not_found_error"},
      {ErrorKind::model_not_found, 404, "invalid_request_error", "model_not_found", 404, "not_found_error"},
      {ErrorKind::request_too_large, 413, "invalid_request_error", "request_too_large", 413, "request_too_large"},
      {ErrorKind::rate_limit, 429, "rate_limit_error", "rate_limit_exceeded", 429, "rate_limit_error"},
      {ErrorKind::api_error, 500, "server_error", nullptr, 500, "api_error"},
      {ErrorKind::timeout, 504, "server_error", "timeout", 504, "timeout_error"},
      {ErrorKind::overloaded, 503, "server_error", "overloaded", 529, "overloaded_error"},
  };
  for (const auto& expected : table) {
    ApiError error = make_error(expected.kind, "something happened");
    EXPECT_EQ(error.http_status(Protocol::openai), expected.openai_status);
    EXPECT_EQ(error.http_status(Protocol::anthropic), expected.anthropic_status);
    json::value openai = json::parse(render_error(error, Protocol::openai));
    json::object openai_error{{"message", "something happened"},
                              {"type", expected.openai_type},
                              {"param", nullptr},
                              {"code", expected.openai_code ? json::value(expected.openai_code) : json::value()}};
    EXPECT_JSON_EQ(openai, (json::object{{"error", openai_error}}));
    json::value anthropic = json::parse(render_error(error, Protocol::anthropic));
    EXPECT_JSON_EQ(anthropic, (json::object{{"type", "error"},
                                            {"error", {{"type", expected.anthropic_type}, {"message", "something happened"}}}}));
  }
  ApiError custom = make_error(ErrorKind::invalid_request, "bad", "x");
  custom.code = "custom_code";
  EXPECT_EQ(json::parse(render_error(custom, Protocol::openai)).at("error").at("code").as_string(), "custom_code");
}

}  // namespace
}  // namespace tandem::schemas
