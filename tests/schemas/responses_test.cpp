// Complete responses: rendering for our clients matches the golden fixtures (written from the
// public API references), and parsing the same documents as a provider's answer gives back the
// result we rendered them from.
#include "schema_test_util.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tandem::schemas {
namespace {

namespace json = boost::json;
using test::fixture_json;
using test::fixture_text;

TextResult simple_chat_result() {
  TextResult result;
  result.id = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT";
  result.model = "gpt-4.1-2025-04-14";
  result.created = 1741569952;
  result.content = {TextPart{"Hello! How can I assist you today?"}};
  result.finish_reason = FinishReason::stop;
  result.usage.input_tokens = 15;
  result.usage.cache_read_tokens = 4;
  result.usage.output_tokens = 10;
  return result;
}

TEST(OpenAiChatResponse, TextAnswerMatchesFixture) {
  EXPECT_JSON_EQ(openai_chat_response(simple_chat_result()), fixture_json("responses/openai_chat_response.json"));
}

TEST(OpenAiChatResponse, ToolCallsMatchFixture) {
  TextResult result;
  result.id = "chatcmpl-abc123";
  result.model = "gpt-4o-mini";
  result.created = 1699896916;
  result.content = {ToolCallPart{"call_abc123", "get_current_weather", "{\n\"location\": \"Boston, MA\"\n}"}};
  result.finish_reason = FinishReason::tool_calls;
  result.usage = {82, 17, std::nullopt, std::nullopt};
  EXPECT_JSON_EQ(openai_chat_response(result), fixture_json("responses/openai_chat_response_tools.json"));
}

TEST(OpenAiChatResponse, LogprobsMatchFixture) {
  TextResult result;
  result.id = "chatcmpl-123";
  result.model = "gpt-4o-mini";
  result.created = 1702685778;
  result.content = {TextPart{"Hello!"}};
  result.finish_reason = FinishReason::length;
  result.usage = {9, 2, std::nullopt, std::nullopt};
  result.logprobs = std::vector<TokenLogprob>{
      {"Hello", -0.31725305, {{"Hello", -0.31725305}, {"Hi", -1.3190403}}},
      {"!", -0.02380986, {{"!", -0.02380986}}},
  };
  EXPECT_JSON_EQ(openai_chat_response(result), fixture_json("responses/openai_chat_response_logprobs.json"));
}

TEST(OpenAiChatResponse, SeveralChoicesShareIdAndSumOutput) {
  TextResult first = simple_chat_result(), second = simple_chat_result();
  second.content = {TextPart{"Hi."}};
  second.finish_reason = FinishReason::length;
  second.usage.output_tokens = 3;
  json::object response = openai_chat_response(std::vector<TextResult>{first, second});
  ASSERT_EQ(response.at("choices").as_array().size(), 2u);
  EXPECT_EQ(response.at("choices").at(1).at("index").as_int64(), 1);
  EXPECT_EQ(response.at("choices").at(1).at("message").at("content").as_string(), "Hi.");
  EXPECT_EQ(response.at("choices").at(1).at("finish_reason").as_string(), "length");
  EXPECT_EQ(response.at("usage").at("completion_tokens").as_int64(), 13);
  EXPECT_EQ(response.at("usage").at("prompt_tokens").as_int64(), 19);
}

TEST(OpenAiChatResponse, ThinkingBecomesReasoningContentAndBadUtf8IsReplaced) {
  TextResult result = simple_chat_result();
  result.content.insert(result.content.begin(), ThinkingPart{"hmm", "", false, ""});
  result.logprobs = std::vector<TokenLogprob>{{"\xE2\x82", -1.0, {}}};  // half of "€"
  json::object response = openai_chat_response(result);
  EXPECT_EQ(response.at("choices").at(0).at("message").at("reasoning_content").as_string(), "hmm");
  const auto& token = response.at("choices").at(0).at("logprobs").at("content").at(0);
  EXPECT_EQ(token.at("token").as_string(), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_JSON_EQ(token.at("bytes"), json::parse("[226, 130]"));
}

TEST(OpenAiCompletionResponse, EchoWithLogprobsMatchesFixture) {
  TextResult result;
  result.id = "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7";
  result.model = "gpt-3.5-turbo-instruct";
  result.created = 1589478378;
  result.content = {TextPart{"Say this is a test."}};
  result.finish_reason = FinishReason::length;
  result.usage = {5, 1, std::nullopt, std::nullopt};
  result.logprobs = std::vector<TokenLogprob>{
      {"Say", NAN, {}},  // the first prompt token has no logprob
      {" this", -5.1, {{" this", -5.1}, {" it", -1.2}}},
      {" is", -0.9, {{" is", -0.9}}},
      {" a", -0.2, {{" a", -0.2}}},
      {" test", -0.01, {{" test", -0.01}}},
      {".", -1.5, {{".", -1.5}}},
  };
  EXPECT_JSON_EQ(openai_completion_response(result), fixture_json("responses/openai_completion_response.json"));
}

TEST(AnthropicMessageResponse, ThinkingTextAndToolUseMatchFixture) {
  TextResult result;
  result.id = "msg_013Zva2CMHLNnXjNJJKqJ2EF";
  result.model = "claude-sonnet-4-20250514";
  result.content = {ThinkingPart{"The user asks about the weather; I should call the tool.", "EqQBCgIYAhIM", false, ""},
                    TextPart{"I'll check the weather in San Francisco."},
                    ToolCallPart{"toolu_01A09q90qw90lq917835lq9", "get_weather",
                                 R"({"location": "San Francisco, CA", "unit": "celsius"})"}};
  result.finish_reason = FinishReason::tool_calls;
  result.usage = {472, 91, 2048, 0};
  EXPECT_JSON_EQ(anthropic_message_response(result), fixture_json("responses/anthropic_message_response.json"));
}

TEST(AnthropicMessageResponse, StopSequenceIsNamed) {
  TextResult result;
  result.id = "msg_01XFDUDYJgAACzvnptvVoYEL";
  result.model = "claude-3-5-haiku-20241022";
  result.content = {TextPart{"Hi! My name is Claude"}};
  result.finish_reason = FinishReason::stop_sequence;
  result.stop_sequence = "###";
  result.usage = {12, 6, std::nullopt, std::nullopt};
  EXPECT_JSON_EQ(anthropic_message_response(result), fixture_json("responses/anthropic_message_stop_sequence.json"));
}

TEST(AnthropicMessageResponse, BrokenToolArgumentsStillGiveAnObject) {
  TextResult result;
  result.content = {ToolCallPart{"t", "f", "{\"a\": "}};
  EXPECT_JSON_EQ(anthropic_message_response(result).at("content").at(0).at("input"), json::object{});
}

TEST(FinishReasons, MapBothWays) {
  EXPECT_EQ(anthropic_stop_reason(FinishReason::stop), "end_turn");
  EXPECT_EQ(anthropic_stop_reason(FinishReason::length), "max_tokens");
  EXPECT_EQ(anthropic_stop_reason(FinishReason::stop_sequence), "stop_sequence");
  EXPECT_EQ(anthropic_stop_reason(FinishReason::tool_calls), "tool_use");
  EXPECT_EQ(anthropic_stop_reason(FinishReason::content_filter), "refusal");
  EXPECT_EQ(openai_finish_reason(FinishReason::stop_sequence), "stop");
  EXPECT_EQ(openai_finish_reason(FinishReason::tool_calls), "tool_calls");
  EXPECT_EQ(openai_finish_reason(FinishReason::content_filter), "content_filter");
  for (auto reason : {FinishReason::stop, FinishReason::length, FinishReason::stop_sequence, FinishReason::tool_calls,
                      FinishReason::content_filter}) {
    EXPECT_EQ(finish_reason_from_anthropic(anthropic_stop_reason(reason)), reason);
  }
  EXPECT_EQ(finish_reason_from_openai("length"), FinishReason::length);
  EXPECT_EQ(finish_reason_from_openai("content_filter"), FinishReason::content_filter);
}

TEST(Ids, PrefixesRandomSuffixAndConversion) {
  seed_id_generator(7);
  std::string a = generate_id("chatcmpl-");
  seed_id_generator(7);
  EXPECT_EQ(generate_id("chatcmpl-"), a);  // seeded: reproducible in tests
  EXPECT_EQ(a.size(), 9u + 24u);
  EXPECT_NE(generate_id("msg_"), generate_id("msg_"));
  EXPECT_EQ(convert_message_id("msg_01XFDUDY", Protocol::openai), "chatcmpl-01XFDUDY");
  EXPECT_EQ(convert_message_id("chatcmpl-abc", Protocol::anthropic), "msg_abc");
  EXPECT_EQ(convert_message_id("cmpl-abc", Protocol::anthropic), "msg_abc");
}

// ---------------------------------------------------------------- provider answers

TEST(ProviderResponse, OpenAiFixturesParseBackToTheResult) {
  for (const char* name : {"responses/openai_chat_response.json", "responses/openai_chat_response_tools.json",
                           "responses/openai_chat_response_logprobs.json"}) {
    auto parsed = parse_openai_chat_response(fixture_text(name));
    ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.error().message;
    EXPECT_JSON_EQ(openai_chat_response(*parsed), fixture_json(name));
  }
  auto simple = parse_openai_chat_response(fixture_text("responses/openai_chat_response.json"));
  EXPECT_EQ(simple->usage.input_tokens, 15);  // prompt_tokens minus cached
  EXPECT_EQ(simple->usage.cache_read_tokens, 4);
  EXPECT_EQ(simple->text(), "Hello! How can I assist you today?");
}

TEST(ProviderResponse, AnthropicFixturesParseBackToTheResult) {
  for (const char* name : {"responses/anthropic_message_response.json", "responses/anthropic_message_stop_sequence.json"}) {
    auto parsed = parse_anthropic_message_response(fixture_text(name));
    ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.error().message;
    EXPECT_JSON_EQ(anthropic_message_response(*parsed), fixture_json(name));
  }
  auto stopped = parse_anthropic_message_response(fixture_text("responses/anthropic_message_stop_sequence.json"));
  EXPECT_EQ(stopped->finish_reason, FinishReason::stop_sequence);
  EXPECT_EQ(stopped->stop_sequence, "###");
}

TEST(ProviderResponse, ErrorBodiesBecomeApiErrors) {
  auto openai = parse_openai_chat_response(fixture_text("provider/openai_error.json"));
  ASSERT_FALSE(openai.ok());
  EXPECT_EQ(openai.error().kind, ErrorKind::model_not_found);
  EXPECT_EQ(openai.error().message, "The model `gpt-5-turbo` does not exist or you do not have access to it.");

  auto anthropic = parse_anthropic_message_response(fixture_text("provider/anthropic_error.json"));
  ASSERT_FALSE(anthropic.ok());
  EXPECT_EQ(anthropic.error().kind, ErrorKind::overloaded);
  EXPECT_EQ(anthropic.error().http_status(Protocol::anthropic), 529);

  auto garbage = parse_openai_chat_response("<html>502 Bad Gateway</html>");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().kind, ErrorKind::api_error);
  EXPECT_EQ(garbage.error().message.rfind("invalid response from provider: invalid JSON", 0), 0u);

  auto no_choices = parse_openai_chat_response(R"({"id":"x","choices":[]})");
  ASSERT_FALSE(no_choices.ok());
  EXPECT_EQ(no_choices.error().message, "invalid response from provider: no choices");
}

}  // namespace
}  // namespace tandem::schemas
