// The fake upstream's answers have the shapes of the public API references (checked by parsing
// them back with schemas/, the same parsers the providers use).
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/sse.h"
#include "tests/fakes/fake_answers.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace tandem::fakes {
namespace {

namespace json = boost::json;

std::vector<schemas::SseEvent> parse_frames(const std::vector<std::string>& frames) {
  schemas::SseParser parser;
  std::vector<schemas::SseEvent> events;
  for (const auto& frame : frames) parser.feed(frame, events);
  return events;
}

FakeAnswer rich_answer() {
  FakeAnswer answer;
  answer.thinking = "Considering the weather.";
  answer.text = "Checking.";
  answer.tool_calls.push_back({"toolu_1", "get_weather", R"({"city":"Paris","unit":"c"})"});
  answer.tool_calls.push_back({"toolu_2", "get_time", R"({"tz":"CET"})"});
  answer.cache_read_tokens = 100;
  answer.cache_creation_tokens = 20;
  return answer;
}

TEST(FakeAnswers, AnthropicStreamHasTheReferenceEventSequence) {
  auto events = parse_frames(anthropic_stream_frames(rich_answer()));
  std::vector<std::string> names;
  for (const auto& event : events) names.push_back(event.event);
  std::vector<std::string> expected = {
      "message_start",
      "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
      "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_delta",
      "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta",
      "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta",
      "content_block_delta", "content_block_stop",
      "message_delta", "message_stop"};
  EXPECT_EQ(names, expected);
  for (const auto& event : events) EXPECT_EQ(json::parse(event.data).at("type").as_string(), event.event);
  auto start = json::parse(events[0].data).at("message").at("usage");
  EXPECT_EQ(start.at("cache_read_input_tokens").as_int64(), 100);
  EXPECT_EQ(start.at("cache_creation_input_tokens").as_int64(), 20);
  auto signature = json::parse(events[4].data).at("delta");
  EXPECT_EQ(signature.at("type").as_string(), "signature_delta");
  auto tool_start = json::parse(events[12].data).at("content_block");
  EXPECT_EQ(tool_start.at("type").as_string(), "tool_use");
  EXPECT_EQ(tool_start.at("id").as_string(), "toolu_1");
  std::string arguments;
  for (int i = 13; i <= 16; ++i) {
    auto delta = json::parse(events[i].data).at("delta");
    EXPECT_EQ(delta.at("type").as_string(), "input_json_delta");
    arguments += delta.at("partial_json").as_string();
  }
  EXPECT_EQ(arguments, R"({"city":"Paris","unit":"c"})");
  auto message_delta = json::parse(events[24].data);
  EXPECT_EQ(message_delta.at("delta").at("stop_reason").as_string(), "tool_use");
}

template <class Decoder>
schemas::TextResult fold(const std::vector<std::string>& frames) {
  Decoder decoder;
  schemas::ResultBuilder builder;
  for (const auto& event : parse_frames(frames))
    for (const auto& stream_event : decoder.decode(event)) builder.add(stream_event);
  for (const auto& stream_event : decoder.finish()) builder.add(stream_event);
  EXPECT_TRUE(builder.finished());
  EXPECT_FALSE(builder.error().has_value());
  return builder.result();
}

void expect_rich_answer(const schemas::TextResult& result) {
  EXPECT_EQ(result.text(), "Checking.");
  EXPECT_EQ(result.finish_reason, schemas::FinishReason::tool_calls);
  EXPECT_EQ(result.usage.cache_read_tokens.value_or(-1), 100);
  int tool_calls = 0;
  for (const auto& part : result.content)
    if (const auto* call = std::get_if<schemas::ToolCallPart>(&part)) {
      ++tool_calls;
      if (call->id == "toolu_2") {
        EXPECT_EQ(json::parse(call->arguments), json::parse(R"({"tz":"CET"})"));
      }
    }
  EXPECT_EQ(tool_calls, 2);
}

TEST(FakeAnswers, EveryShapeParsesWithTheSchemasParsers) {
  auto anthropic = schemas::parse_anthropic_message_response(anthropic_message_json(rich_answer()));
  ASSERT_TRUE(anthropic.ok()) << anthropic.error().message;
  expect_rich_answer(*anthropic);
  expect_rich_answer(fold<schemas::AnthropicStreamDecoder>(anthropic_stream_frames(rich_answer())));
  auto openai = schemas::parse_openai_chat_response(openai_chat_json(rich_answer()));
  ASSERT_TRUE(openai.ok()) << openai.error().message;
  expect_rich_answer(*openai);
  expect_rich_answer(fold<schemas::OpenAiStreamDecoder>(openai_stream_frames(rich_answer(), true)));
}

TEST(FakeAnswers, AnthropicMessageShape) {
  auto body = json::parse(anthropic_message_json(rich_answer()));
  EXPECT_EQ(body.at("type").as_string(), "message");
  EXPECT_EQ(body.at("content").as_array().size(), 4u);
  EXPECT_EQ(body.at("content").at(2).at("input").at("city").as_string(), "Paris");
  EXPECT_EQ(body.at("usage").at("cache_read_input_tokens").as_int64(), 100);
}

TEST(FakeAnswers, OpenAiStreamEndsWithUsageChunkAndDone) {
  auto frames = openai_stream_frames(rich_answer(), true);
  ASSERT_GE(frames.size(), 3u);
  EXPECT_EQ(frames.back(), "data: [DONE]\n\n");
  auto events = parse_frames(frames);
  auto usage_chunk = json::parse(events[events.size() - 2].data);
  EXPECT_TRUE(usage_chunk.at("choices").as_array().empty());
  EXPECT_EQ(usage_chunk.at("usage").at("prompt_tokens").as_int64(), 112);
  EXPECT_EQ(usage_chunk.at("usage").at("prompt_tokens_details").at("cached_tokens").as_int64(), 100);
  auto finish_chunk = json::parse(events[events.size() - 3].data);
  EXPECT_EQ(finish_chunk.at("choices").at(0).at("finish_reason").as_string(), "tool_calls");
  std::string second_arguments;
  for (const auto& event : events) {
    if (event.data == "[DONE]") continue;
    auto chunk = json::parse(event.data);
    for (const auto& choice : chunk.at("choices").as_array()) {
      auto* calls = choice.at("delta").as_object().if_contains("tool_calls");
      if (!calls) continue;
      for (const auto& call : calls->as_array())
        if (call.at("index").as_int64() == 1) second_arguments += call.at("function").at("arguments").as_string();
    }
  }
  EXPECT_EQ(second_arguments, R"({"tz":"CET"})");
}

TEST(FakeAnswers, OpenAiCompleteAnswerCarriesReasoningAndToolCalls) {
  auto body = json::parse(openai_chat_json(rich_answer()));
  auto message = body.at("choices").at(0).at("message");
  EXPECT_EQ(message.at("reasoning_content").as_string(), "Considering the weather.");
  EXPECT_EQ(message.at("tool_calls").as_array().size(), 2u);
  EXPECT_EQ(body.at("choices").at(0).at("finish_reason").as_string(), "tool_calls");
}

TEST(FakeAnswers, ErrorShapes) {
  auto anthropic = json::parse(anthropic_error_json("overloaded_error", "Overloaded"));
  EXPECT_EQ(anthropic.at("type").as_string(), "error");
  EXPECT_EQ(anthropic.at("error").at("type").as_string(), "overloaded_error");
  EXPECT_EQ(anthropic_error_frame("api_error", "x").rfind("event: error\ndata: ", 0), 0u);
  auto openai = json::parse(openai_error_json("invalid_request_error", "bad", "invalid_value"));
  EXPECT_EQ(openai.at("error").at("code").as_string(), "invalid_value");
  EXPECT_TRUE(openai.at("error").at("param").is_null());
}

TEST(FakeAnswers, TheStandaloneScriptAnswersEachProtocolAndScriptedErrors) {
  auto request = [](std::string target, std::string body) {
    RecordedRequest recorded;
    recorded.method = "POST";
    recorded.target = std::move(target);
    recorded.body = std::move(body);
    return recorded;
  };
  auto anthropic = protocol_answer(request("/v1/messages", R"({"model":"claude-x","max_tokens":5})"));
  EXPECT_EQ(anthropic.status, 200);
  EXPECT_FALSE(anthropic.chunked);
  EXPECT_EQ(json::parse(anthropic.pieces.at(0)).at("model").as_string(), "claude-x");
  auto streamed = protocol_answer(request("/v1/chat/completions", R"({"model":"tools","stream":true,"stream_options":{"include_usage":true}})"));
  EXPECT_TRUE(streamed.chunked);
  EXPECT_EQ(streamed.pieces.back(), "data: [DONE]\n\n");
  EXPECT_NE(streamed.pieces[streamed.pieces.size() - 2].find("\"usage\":{"), std::string::npos);
  auto limited = protocol_answer(request("/v1/messages", R"({"model":"error-429"})"));
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(json::parse(limited.pieces.at(0)).at("error").at("type").as_string(), "rate_limit_error");
  auto counted = protocol_answer(request("/v1/messages/count_tokens", R"({"model":"m"})"));
  EXPECT_EQ(counted.pieces.at(0), R"({"input_tokens":17})");
}

}  // namespace
}  // namespace tandem::fakes
