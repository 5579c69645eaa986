// The API surface current clients send: Anthropic Messages as it is now (system turns, adaptive
// thinking, output_config, context_management, cache_control, documents, media in tool results,
// usage with cache fields) and OpenAI chat's n, logit_bias, reasoning_effort and n > 1 streams.
#include "schema_test_util.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/responses.h"
#include "schemas/sse.h"
#include "schemas/stream_writer.h"

#include <gtest/gtest.h>

namespace tandem::schemas {
namespace {

namespace json = boost::json;
using test::fixture_json;
using test::fixture_text;

InternalRequest parse_ok(Result<InternalRequest> result) {
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? std::move(result).value() : InternalRequest{};
}

TEST(AnthropicCurrentRequest, CodingAgentRequestParses) {
  auto request = parse_ok(
      parse_anthropic_messages_request(fixture_text("requests/anthropic_messages_current.json"), "application/json"));
  EXPECT_EQ(request.system, "You are a coding agent.\n\nWork in the repository.");
  ASSERT_EQ(request.messages.size(), 5u);

  // Plain-text documents are text; the PDF stays a document naming where it came from.
  const auto& first = request.messages[0].content;
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(std::get<TextPart>(first[0]).text, "Summarize the notes.");
  EXPECT_EQ(std::get<TextPart>(first[1]).text, "notes.txt\n\nMeeting notes\n\nShip on Friday.");
  EXPECT_EQ(std::get<TextPart>(first[2]).text, "Part one.\nPart two.");
  const auto& pdf = std::get<DocumentPart>(first[3]);
  EXPECT_EQ(pdf.source, DocumentPart::Source::base64);
  EXPECT_EQ(pdf.media_type, "application/pdf");
  EXPECT_EQ(pdf.title, "spec.pdf");
  EXPECT_EQ(pdf.origin, "messages[0].content[3]");

  // The image and the PDF URL inside the tool result are kept, not dropped.
  const auto& result = std::get<ToolResultPart>(request.messages[2].content.at(0));
  EXPECT_EQ(result.text, "Here it is.");
  ASSERT_EQ(result.images.size(), 1u);
  EXPECT_EQ(result.images[0].origin, "messages[2].content[0].content[1]");
  ASSERT_EQ(result.documents.size(), 1u);
  EXPECT_EQ(result.documents[0].source, DocumentPart::Source::url);
  EXPECT_EQ(result.documents[0].origin, "messages[2].content[0].content[2]");

  // The mid-conversation system turn stays where it was.
  EXPECT_EQ(request.messages[3].role, Role::system);
  EXPECT_EQ(request.messages[3].text(), "The user prefers short answers.");
  EXPECT_EQ(request.messages[4].role, Role::user);

  EXPECT_EQ(request.thinking.mode, ThinkingConfig::Mode::adaptive);
  EXPECT_TRUE(request.thinking.enabled);
  EXPECT_EQ(request.thinking.effort, Effort::medium);
  EXPECT_TRUE(request.context_management);
  EXPECT_EQ(request.user, "agent-7");
}

TEST(AnthropicCurrentRequest, ThinkingModesAndOutputFormat) {
  auto disabled = parse_ok(anthropic_messages_request_from_json(json::parse(
      R"({"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"disabled"}})")));
  EXPECT_EQ(disabled.thinking.mode, ThinkingConfig::Mode::disabled);
  EXPECT_FALSE(disabled.thinking.enabled);

  auto enabled = parse_ok(anthropic_messages_request_from_json(json::parse(
      R"({"model":"m","max_tokens":4000,"messages":[{"role":"user","content":"x"}],
          "thinking":{"type":"enabled","budget_tokens":2048},"output_config":{"effort":"max",
          "format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}}}}}})")));
  EXPECT_EQ(enabled.thinking.mode, ThinkingConfig::Mode::enabled);
  EXPECT_EQ(enabled.thinking.budget_tokens, 2048);
  EXPECT_EQ(enabled.thinking.effort, Effort::max);
  EXPECT_EQ(enabled.response_format.type, ResponseFormat::Type::json_schema);
  EXPECT_EQ(enabled.response_format.schema.at("properties").at("a").at("type").as_string(), "string");

  auto unset = parse_ok(anthropic_messages_request_from_json(
      json::parse(R"({"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}]})")));
  EXPECT_EQ(unset.thinking.mode, ThinkingConfig::Mode::unset);
  EXPECT_FALSE(unset.context_management);
}

TEST(AnthropicCurrentRequest, TranslatesToOpenAiWithEffortAndFiles) {
  auto request = parse_ok(
      parse_anthropic_messages_request(fixture_text("requests/anthropic_messages_current.json"), "application/json"));
  json::object openai = to_openai_chat_request(request);
  EXPECT_EQ(openai.at("reasoning_effort").as_string(), "medium");
  // The later system turn stays a system message in place; the PDF becomes an OpenAI file part.
  const auto& messages = openai.at("messages").as_array();
  bool saw_file = false, saw_late_system = false;
  for (size_t i = 1; i < messages.size(); ++i) {
    const auto& message = messages[i].as_object();
    if (message.at("role").as_string() == "system") saw_late_system = true;
    if (!message.at("content").is_array()) continue;
    for (const auto& part : message.at("content").as_array()) {
      if (part.at("type").as_string() != "file") continue;
      saw_file = true;
      EXPECT_EQ(part.at("file").at("file_data").as_string(), "data:application/pdf;base64,JVBERi0xLjQ=");
      EXPECT_EQ(part.at("file").at("filename").as_string(), "spec.pdf");
    }
  }
  EXPECT_TRUE(saw_file);
  EXPECT_TRUE(saw_late_system);
}

TEST(AnthropicCurrentRequest, ThinkingTranslatesToAnthropicShapes) {
  auto adaptive = parse_ok(openai_chat_request_from_json(json::parse(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"minimal"})")));
  json::object out = to_anthropic_request(adaptive);
  EXPECT_JSON_EQ(out.at("thinking"), json::parse(R"({"type":"adaptive"})"));
  EXPECT_JSON_EQ(out.at("output_config"), json::parse(R"({"effort":"low"})"));

  auto none = parse_ok(openai_chat_request_from_json(
      json::parse(R"({"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"none"})")));
  EXPECT_JSON_EQ(to_anthropic_request(none).at("thinking"), json::parse(R"({"type":"disabled"})"));
  EXPECT_FALSE(to_anthropic_request(none).contains("output_config"));

  auto plain = parse_ok(openai_chat_request_from_json(json::parse(R"({"model":"m","messages":[{"role":"user","content":"x"}]})")));
  EXPECT_FALSE(to_anthropic_request(plain).contains("thinking"));
  EXPECT_FALSE(to_openai_chat_request(plain).contains("reasoning_effort"));
}

TEST(UsageFields, CacheCountsAreAlwaysPresent) {
  Usage usage;
  usage.input_tokens = 7;
  usage.output_tokens = 3;
  EXPECT_JSON_EQ(anthropic_usage_json(usage),
                 json::parse(R"({"input_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":3})"));
  EXPECT_JSON_EQ(openai_usage_json(usage),
                 json::parse(R"({"prompt_tokens":7,"completion_tokens":3,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":0}})"));
  usage.cache_read_tokens = 5;
  usage.cache_creation_tokens = 2;
  EXPECT_EQ(anthropic_usage_json(usage).at("cache_read_input_tokens").as_int64(), 5);
  EXPECT_EQ(anthropic_usage_json(usage).at("cache_creation_input_tokens").as_int64(), 2);
  EXPECT_EQ(openai_usage_json(usage).at("prompt_tokens").as_int64(), 14);
  EXPECT_EQ(openai_usage_json(usage).at("prompt_tokens_details").at("cached_tokens").as_int64(), 5);
}

// ---------------------------------------------------------------- OpenAI chat

TEST(OpenAiChatCurrentRequest, NLogitBiasAndReasoningEffort) {
  auto request = parse_ok(openai_chat_request_from_json(json::parse(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":3,
          "logit_bias":{"50256":-100,"11":2.5,"0":100},"reasoning_effort":"high"})")));
  EXPECT_EQ(request.sampling.n, 3);
  std::vector<std::pair<int64_t, double>> expected{{50256, -100.0}, {11, 2.5}, {0, 100.0}};
  EXPECT_EQ(request.sampling.logit_bias, expected);
  EXPECT_EQ(request.thinking.effort, Effort::high);
  EXPECT_EQ(request.thinking.mode, ThinkingConfig::Mode::adaptive);
  EXPECT_TRUE(request.thinking.enabled);

  // The bias goes to an OpenAI upstream as sent.
  json::object sent = to_openai_chat_request(request);
  EXPECT_JSON_EQ(sent.at("logit_bias"), json::parse(R"({"50256":-100.0,"11":2.5,"0":100.0})"));
  EXPECT_EQ(sent.at("reasoning_effort").as_string(), "high");
  EXPECT_EQ(sent.at("n").as_int64(), 3);

  auto none = parse_ok(openai_chat_request_from_json(
      json::parse(R"({"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"none"})")));
  EXPECT_EQ(none.thinking.mode, ThinkingConfig::Mode::disabled);
  EXPECT_FALSE(none.thinking.enabled);
}

TEST(OpenAiChatCurrentRequest, LegacyCompletionsTakeLogitBiasToo) {
  auto request = parse_ok(openai_completion_request_from_json(
      json::parse(R"({"model":"m","prompt":"x","logit_bias":{"7":-1}})")));
  ASSERT_EQ(request.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(request.sampling.logit_bias[0].first, 7);
}

TEST(OpenAiChatResponse, SeveralChoicesCountThePromptOnce) {
  TextResult a, b;
  a.id = "chatcmpl-1";
  a.model = "m";
  a.created = 1700000000;
  a.content = {ThinkingPart{"hmm", "", false, ""}, TextPart{"A"}};
  a.usage.input_tokens = 10;
  a.usage.output_tokens = 4;
  b = a;
  b.content = {TextPart{"B"}};
  b.finish_reason = FinishReason::length;
  b.usage.output_tokens = 6;
  json::object response = openai_chat_response(std::vector<TextResult>{a, b});
  const auto& choices = response.at("choices").as_array();
  ASSERT_EQ(choices.size(), 2u);
  EXPECT_EQ(choices[0].at("index").as_int64(), 0);
  EXPECT_EQ(choices[0].at("message").at("content").as_string(), "A");
  EXPECT_EQ(choices[0].at("message").at("reasoning_content").as_string(), "hmm");
  EXPECT_EQ(choices[1].at("index").as_int64(), 1);
  EXPECT_EQ(choices[1].at("message").at("content").as_string(), "B");
  EXPECT_FALSE(choices[1].at("message").as_object().contains("reasoning_content"));
  EXPECT_EQ(choices[1].at("finish_reason").as_string(), "length");
  EXPECT_EQ(response.at("usage").at("prompt_tokens").as_int64(), 10);
  EXPECT_EQ(response.at("usage").at("completion_tokens").as_int64(), 10);
}

TEST(OpenAiChatStream, TwoChoicesInterleaveWithTheirIndex) {
  StreamWriterOptions options;
  options.id = "chatcmpl-n";
  options.model = "m";
  options.created = 1700000000;
  options.include_usage = true;
  options.choices = 2;
  OpenAiChatStreamWriter writer(options);
  MessageStart start;
  start.usage.input_tokens = 8;
  Finish finish_a, finish_b;
  finish_a.usage.output_tokens = 2;
  finish_b.reason = FinishReason::length;
  finish_b.usage.output_tokens = 3;

  std::string out;
  out += writer.write_choice(0, start);
  out += writer.write_choice(1, start);
  out += writer.write_choice(1, ThinkingDelta{"why", ""});
  out += writer.write_choice(0, TextDelta{"A", {}});
  out += writer.write_choice(1, TextDelta{"B", {}});
  out += writer.write_choice(0, finish_a);
  EXPECT_FALSE(writer.finished());  // choice 1 is still running: no usage, no [DONE] yet
  out += writer.write_choice(1, finish_b);
  EXPECT_TRUE(writer.finished());
  EXPECT_EQ(writer.write_choice(0, TextDelta{"late", {}}), "");

  EXPECT_EQ(out, fixture_text("streams/openai_chat_stream_n2.txt"));

  // Through the SSE parser: the lines are what a client reassembles per index.
  auto events = SseParser().feed(out);
  ASSERT_EQ(events.size(), 9u);
  EXPECT_EQ(events.back().data, "[DONE]");
  json::value usage = json::parse(events[7].data).at("usage");
  EXPECT_EQ(usage.at("prompt_tokens").as_int64(), 8);
  EXPECT_EQ(usage.at("completion_tokens").as_int64(), 5);
}

TEST(OpenAiChatStream, ErrorEndsEveryChoice) {
  StreamWriterOptions options;
  options.id = "chatcmpl-n";
  options.model = "m";
  options.created = 1;
  options.choices = 2;
  OpenAiChatStreamWriter writer(options);
  writer.write_choice(0, TextDelta{"A", {}});
  std::string out = writer.write_choice(1, StreamError{make_error(ErrorKind::api_error, "boom")});
  EXPECT_TRUE(writer.finished());
  EXPECT_NE(out.find("\"message\":\"boom\""), std::string::npos);
  EXPECT_NE(out.find("data: [DONE]"), std::string::npos);
}

// Reasoning token counts: written where the protocol has the field and only when counted.
TEST(UsageFields, ReasoningTokensOnlyWhenCounted) {
  Usage counted{8, 12, std::nullopt, std::nullopt, 9};
  Usage unknown{8, 12, std::nullopt, std::nullopt};
  EXPECT_EQ(openai_usage_json(counted).at("completion_tokens_details").at("reasoning_tokens").as_int64(), 9);
  EXPECT_FALSE(openai_usage_json(unknown).contains("completion_tokens_details"));
  EXPECT_EQ(responses_usage_json(counted).at("output_tokens_details").at("reasoning_tokens").as_int64(), 9);
  EXPECT_FALSE(responses_usage_json(unknown).contains("output_tokens_details"));
  // Anthropic's usage has no such field: nothing is added.
  EXPECT_FALSE(json::serialize(anthropic_usage_json(counted)).find("reasoning") != std::string::npos);
  // A zero count is a count (a local answer that did not reason).
  Usage zero{8, 12, std::nullopt, std::nullopt, 0};
  EXPECT_EQ(openai_usage_json(zero).at("completion_tokens_details").at("reasoning_tokens").as_int64(), 0);
}

TEST(UsageFields, ReasoningTokensCarriedFromAnOpenAiUpstream) {
  auto result = parse_openai_chat_response(R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"o4",
      "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],
      "usage":{"prompt_tokens":5,"completion_tokens":40,"total_tokens":45,
               "completion_tokens_details":{"reasoning_tokens":32}}})");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->usage.reasoning_tokens.value_or(-1), 32);
  // Streamed: the usage chunk's count reaches the Finish event.
  OpenAiStreamDecoder decoder;
  std::vector<StreamEvent> events;
  auto feed = [&](std::string data) {
    SseEvent event;
    event.data = std::move(data);
    for (auto& e : decoder.decode(event)) events.push_back(std::move(e));
  };
  feed(R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"o4","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]})");
  feed(R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"o4","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})");
  feed(R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"o4","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":40,"completion_tokens_details":{"reasoning_tokens":32}}})");
  feed("[DONE]");
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(std::holds_alternative<Finish>(events.back()));
  EXPECT_EQ(std::get<Finish>(events.back()).usage.reasoning_tokens.value_or(-1), 32);
  // An upstream that does not say leaves it unknown.
  auto silent = parse_openai_chat_response(R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
      "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],
      "usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}})");
  ASSERT_TRUE(silent.ok());
  EXPECT_FALSE(silent->usage.reasoning_tokens.has_value());
}

TEST(UsageFields, ReasoningTokensSumOverChoicesStreamedAndComplete) {
  StreamWriterOptions options;
  options.id = "chatcmpl-n";
  options.model = "m";
  options.created = 1;
  options.include_usage = true;
  options.choices = 2;
  OpenAiChatStreamWriter writer(options);
  Finish a, b;
  a.usage = Usage{8, 10, std::nullopt, std::nullopt, 6};
  b.usage = Usage{8, 7, std::nullopt, std::nullopt, 3};
  std::string out = writer.write_choice(0, a);
  out += writer.write_choice(1, b);
  auto events = SseParser().feed(out);
  ASSERT_GE(events.size(), 2u) << out;
  json::value usage = json::parse(events[events.size() - 2].data).at("usage");
  EXPECT_EQ(usage.at("completion_tokens_details").at("reasoning_tokens").as_int64(), 9) << out;

  TextResult first, second;
  first.usage = a.usage;
  second.usage = b.usage;
  json::object complete = openai_chat_response(std::vector<TextResult>{first, second});
  EXPECT_EQ(complete.at("usage").at("completion_tokens_details").at("reasoning_tokens").as_int64(), 9);
}

// Legacy completions with n > 1: chunks carry their choice's index; usage and [DONE] come after
// the last choice's finish, the prompt counted once.
TEST(OpenAiCompletionStream, TwoChoicesInterleaveWithTheirIndex) {
  StreamWriterOptions options;
  options.id = "cmpl-n";
  options.model = "m";
  options.created = 1700000000;
  options.include_usage = true;
  options.choices = 2;
  OpenAiCompletionStreamWriter writer(options);
  MessageStart start;
  start.usage.input_tokens = 5;
  Finish finish_a, finish_b;
  finish_a.usage = Usage{5, 2, std::nullopt, std::nullopt};
  finish_b.reason = FinishReason::length;
  finish_b.usage = Usage{5, 3, std::nullopt, std::nullopt};

  std::string out;
  out += writer.write_choice(0, start);
  out += writer.write_choice(1, start);
  out += writer.write_choice(1, TextDelta{" B", {{" B", -0.5, {}}}});
  out += writer.write_choice(0, TextDelta{" A", {{" A", -0.25, {}}}});
  out += writer.write_choice(1, TextDelta{"b", {{"b", -0.5, {}}}});
  out += writer.write_choice(0, finish_a);
  EXPECT_FALSE(writer.finished());
  out += writer.write_choice(1, finish_b);
  EXPECT_TRUE(writer.finished());
  EXPECT_EQ(writer.write_choice(1, TextDelta{"late", {}}), "");

  auto events = SseParser().feed(out);
  ASSERT_EQ(events.size(), 7u);  // 3 texts, 2 finishes, usage, [DONE]
  std::vector<int64_t> indexes;
  for (size_t i = 0; i < 5; ++i) indexes.push_back(json::parse(events[i].data).at("choices").at(0).at("index").as_int64());
  EXPECT_EQ(indexes, (std::vector<int64_t>{1, 0, 1, 0, 1}));
  // Each choice's logprobs text_offset runs on its own text.
  EXPECT_EQ(json::parse(events[2].data).at("choices").at(0).at("logprobs").at("text_offset").at(0).as_int64(), 2);
  EXPECT_EQ(json::parse(events[1].data).at("choices").at(0).at("logprobs").at("text_offset").at(0).as_int64(), 0);
  EXPECT_EQ(json::parse(events[3].data).at("choices").at(0).at("finish_reason").as_string(), "stop");
  EXPECT_EQ(json::parse(events[4].data).at("choices").at(0).at("finish_reason").as_string(), "length");
  json::value usage = json::parse(events[5].data).at("usage");
  EXPECT_EQ(usage.at("prompt_tokens").as_int64(), 5);
  EXPECT_EQ(usage.at("completion_tokens").as_int64(), 5);
  EXPECT_EQ(events[6].data, "[DONE]");
}

TEST(OpenAiCompletionResponse, SeveralChoicesCountThePromptOnce) {
  TextResult a, b;
  a.id = "cmpl-1";
  a.content = {TextPart{" A"}};
  a.usage = Usage{5, 2, std::nullopt, std::nullopt};
  b.content = {TextPart{" B"}};
  b.finish_reason = FinishReason::length;
  b.usage = Usage{5, 3, std::nullopt, std::nullopt};
  json::object response = openai_completion_response(std::vector<TextResult>{a, b});
  ASSERT_EQ(response.at("choices").as_array().size(), 2u);
  EXPECT_EQ(response.at("choices").at(1).at("index").as_int64(), 1);
  EXPECT_EQ(response.at("choices").at(1).at("text").as_string(), " B");
  EXPECT_EQ(response.at("usage").at("prompt_tokens").as_int64(), 5);
  EXPECT_EQ(response.at("usage").at("completion_tokens").as_int64(), 5);
}

}  // namespace
}  // namespace tandem::schemas
