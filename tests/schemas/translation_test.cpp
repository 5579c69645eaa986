// Requests translated between the protocols (for cloud providers of the other protocol), and
// round trips that keep every field both protocols share.
#include "schema_test_util.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/translate.h"

#include <gtest/gtest.h>

namespace tandem::schemas {
namespace {

namespace json = boost::json;
using test::fixture_json;
using test::fixture_text;

InternalRequest must(Result<InternalRequest> result) {
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? std::move(result).value() : InternalRequest{};
}

TEST(Translation, OpenAiRequestToAnthropicMatchesGolden) {
  auto request = must(parse_openai_chat_request(fixture_text("requests/openai_chat_full.json"), "application/json"));
  EXPECT_JSON_EQ(to_anthropic_request(request), fixture_json("translations/openai_to_anthropic.json"));
}

TEST(Translation, AnthropicRequestToOpenAiMatchesGolden) {
  auto request = must(parse_anthropic_messages_request(fixture_text("requests/anthropic_messages_full.json"), "application/json"));
  EXPECT_JSON_EQ(to_openai_chat_request(request), fixture_json("translations/anthropic_to_openai.json"));
}

// OpenAI → internal → Anthropic → internal → OpenAI gives back the very request, for a request
// made only of fields both protocols have (parallel tool results merged into one Anthropic user
// turn and split again on the way back).
TEST(Translation, OpenAiRoundTripThroughAnthropicKeepsSharedFields) {
  json::value original = fixture_json("translations/roundtrip_openai.json");
  auto first = must(openai_chat_request_from_json(original));
  json::object anthropic = to_anthropic_request(first);

  const auto& messages = anthropic.at("messages").as_array();
  ASSERT_EQ(messages.size(), 5u);
  const auto& merged = messages[2].at("content").as_array();  // both tool results and the question
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].at("type").as_string(), "tool_result");
  EXPECT_EQ(merged[1].at("tool_use_id").as_string(), "call_2");
  EXPECT_EQ(merged[2].at("text").as_string(), "Which is warmer?");

  auto second = must(anthropic_messages_request_from_json(anthropic));
  OpenAiRequestOptions options;
  options.request_stream_usage = false;  // the original did not ask for usage
  EXPECT_JSON_EQ(to_openai_chat_request(second, options), original);
}

TEST(Translation, AnthropicRoundTripThroughOpenAiKeepsSharedFields) {
  json::value original = json::parse(R"({
    "model": "claude-x", "max_tokens": 300, "system": "Be terse.",
    "messages": [
      {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                   {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
      {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                        {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"c": "Oslo"}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "-3"},
                                   {"type": "text", "text": "So?"}]}
    ],
    "temperature": 0.5, "top_p": 0.75, "stop_sequences": ["X"], "stream": true,
    "metadata": {"user_id": "u"},
    "tools": [{"name": "w", "description": "weather", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": true}
  })");
  auto first = must(anthropic_messages_request_from_json(original));
  auto second = must(openai_chat_request_from_json(to_openai_chat_request(first)));
  EXPECT_JSON_EQ(to_anthropic_request(second), original);
}

// Found by fuzz_schemas_requests: a lone empty system message was written as no message at all.
TEST(Translation, ALoneEmptySystemMessageIsWrittenBack) {
  auto parsed = parse_openai_chat_request(R"({"model":"m","messages":[{"role":"system","content":""}]})",
                                          "application/json");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  auto again = openai_chat_request_from_json(to_openai_chat_request(*parsed));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->system, "");
  EXPECT_TRUE(again->messages.empty());
}

TEST(Translation, MaxTokensDefaultAndTemperatureClamp) {
  auto request = must(parse_openai_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1.8})", ""));
  AnthropicRequestOptions options;
  options.default_max_tokens = 1234;
  json::object anthropic = to_anthropic_request(request, options);
  EXPECT_EQ(anthropic.at("max_tokens").as_int64(), 1234);
  EXPECT_EQ(anthropic.at("temperature").as_double(), 1.0);
  EXPECT_FALSE(anthropic.contains("system"));
}

TEST(Translation, ConsecutiveSameRoleTurnsAreMergedAndToolResultsGoFirst) {
  InternalRequest request;
  request.model = "m";
  request.messages = {
      Message{Role::user, {TextPart{"a"}}, ""},
      Message{Role::user, {TextPart{"b"}}, ""},
      Message{Role::assistant, {ToolCallPart{"t1", "f", "{}"}}, ""},
      Message{Role::user, {TextPart{"note"}, ToolResultPart{"t1", "ok", {}, true}}, ""},
      Message{Role::assistant, {TextPart{""}}, ""},  // nothing to send: dropped
  };
  json::object anthropic = to_anthropic_request(request);
  EXPECT_JSON_EQ(anthropic.at("messages"), json::parse(R"([
    {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
    {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok","is_error":true},
                              {"type":"text","text":"note"}]}
  ])"));
}

TEST(Translation, ResponsesConvertBetweenProtocols) {
  // A provider's Anthropic message answered to an OpenAI client and back.
  auto message = parse_anthropic_message_response(fixture_text("responses/anthropic_message_response.json"));
  ASSERT_TRUE(message.ok());
  TextResult result = *message;
  result.id = convert_message_id(result.id, Protocol::openai);
  json::object openai = openai_chat_response(result);
  EXPECT_EQ(openai.at("id").as_string(), "chatcmpl-013Zva2CMHLNnXjNJJKqJ2EF");
  EXPECT_EQ(openai.at("choices").at(0).at("finish_reason").as_string(), "tool_calls");
  EXPECT_EQ(openai.at("usage").at("prompt_tokens").as_int64(), 472 + 2048);
  EXPECT_EQ(openai.at("usage").at("prompt_tokens_details").at("cached_tokens").as_int64(), 2048);

  auto back = openai_chat_response_from_json(openai);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->usage.input_tokens, 472);
  EXPECT_EQ(back->usage.cache_read_tokens, 2048);
  EXPECT_EQ(back->usage.output_tokens, 91);
  EXPECT_EQ(back->finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(back->text(), "I'll check the weather in San Francisco.");
  EXPECT_EQ(json::parse(std::get<ToolCallPart>(back->content.back()).arguments),
            json::parse(R"({"location": "San Francisco, CA", "unit": "celsius"})"));
}

TEST(ProviderRequest, SameProtocolPassesThroughWithOnlyModelRewritten) {
  auto request = must(parse_anthropic_messages_request(fixture_text("requests/anthropic_messages_full.json"), ""));
  json::object sent = request_for_provider(request, Protocol::anthropic, "claude-real-name");
  json::value expected = fixture_json("requests/anthropic_messages_full.json");
  expected.as_object()["model"] = "claude-real-name";
  EXPECT_JSON_EQ(sent, expected);  // unknown fields and cache_control survive

  auto openai = must(parse_openai_chat_request(
      R"({"model":"local","messages":[{"role":"user","content":"hi"}],"stream":true,"logit_bias":{"50256":-100}})", ""));
  json::object openai_sent = request_for_provider(openai, Protocol::openai, "gpt-4o");
  EXPECT_EQ(openai_sent.at("model").as_string(), "gpt-4o");
  EXPECT_TRUE(openai_sent.contains("logit_bias"));
  EXPECT_EQ(openai_sent.at("stream_options").at("include_usage").as_bool(), true);  // so Finish has usage
}

TEST(ProviderRequest, OtherProtocolIsTranslated) {
  auto request = must(parse_openai_chat_request(fixture_text("requests/openai_chat_full.json"), ""));
  json::object sent = request_for_provider(request, Protocol::anthropic, "claude-real-name");
  json::value expected = fixture_json("translations/openai_to_anthropic.json");
  expected.as_object()["model"] = "claude-real-name";
  EXPECT_JSON_EQ(sent, expected);

  auto legacy = must(parse_openai_completion_request(R"({"model":"m","prompt":"Once upon"})", ""));
  json::object legacy_sent = request_for_provider(legacy, Protocol::anthropic, "");
  EXPECT_EQ(legacy_sent.at("messages").at(0).at("content").as_string(), "Once upon");
  EXPECT_EQ(legacy_sent.at("max_tokens").as_int64(), 16);
}

}  // namespace
}  // namespace tandem::schemas
