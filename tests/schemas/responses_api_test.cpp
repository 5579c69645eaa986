// The OpenAI Responses API: request parsing, the complete response object, the exact event
// stream, and translation to and from Anthropic.
#include "schema_test_util.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/responses.h"
#include "schemas/sse.h"
#include "schemas/translate.h"
#include "schemas/writers.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>

namespace tandem::schemas {
namespace {

namespace json = boost::json;
using test::fixture_json;
using test::fixture_text;

InternalRequest parse_ok(Result<InternalRequest> result) {
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? std::move(result).value() : InternalRequest{};
}

// Item ids are random; golden files name them msg_1, rs_1, fc_1... in order of appearance.
std::string normalize_ids(const std::string& text) {
  static const std::regex id_pattern("(msg|rs|fc)_[0-9A-Za-z]{24}");
  std::map<std::string, std::string> names;
  std::map<std::string, int> counts;
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), id_pattern);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const auto& match = *it;
    out += text.substr(last, match.position() - last);
    auto [entry, inserted] = names.try_emplace(match.str());
    if (inserted) entry->second = match[1].str() + "_" + std::to_string(++counts[match[1].str()]);
    out += entry->second;
    last = match.position() + match.length();
  }
  return out + text.substr(last);
}

TEST(ResponsesRequest, FullFixtureKeepsEveryField) {
  auto request = parse_ok(parse_responses_request(fixture_text("requests/openai_responses_full.json"), "application/json"));
  EXPECT_EQ(request.protocol, Protocol::openai);
  EXPECT_EQ(request.endpoint, Endpoint::responses);
  EXPECT_EQ(request.model, "gpt-5");
  // Instructions first, then the developer message that opens the input.
  EXPECT_EQ(request.system, "You are terse.\n\nUse metric units.");
  EXPECT_EQ(request.responses.instructions, "You are terse.");
  ASSERT_EQ(request.messages.size(), 5u);

  const auto& user = request.messages[0];
  EXPECT_EQ(user.role, Role::user);
  ASSERT_EQ(user.content.size(), 2u);
  EXPECT_EQ(std::get<TextPart>(user.content[0]).text, "Weather in Paris?");
  const auto& image = std::get<ImagePart>(user.content[1]);
  EXPECT_EQ(image.source, ImagePart::Source::base64);
  EXPECT_EQ(image.media_type, "image/png");
  EXPECT_EQ(image.detail, "low");
  EXPECT_EQ(image.origin, "input[1].content[1]");

  // The reasoning item and the function call form one assistant turn.
  const auto& call_turn = request.messages[1];
  EXPECT_EQ(call_turn.role, Role::assistant);
  ASSERT_EQ(call_turn.content.size(), 2u);
  EXPECT_EQ(std::get<ThinkingPart>(call_turn.content[0]).thinking, "Need the weather tool.");
  const auto& call = std::get<ToolCallPart>(call_turn.content[1]);
  EXPECT_EQ(call.id, "call_1");
  EXPECT_EQ(call.name, "get_weather");
  EXPECT_EQ(call.arguments, "{\"city\":\"Paris\"}");

  EXPECT_EQ(request.messages[2].role, Role::tool);
  const auto& output = std::get<ToolResultPart>(request.messages[2].content.at(0));
  EXPECT_EQ(output.tool_call_id, "call_1");
  EXPECT_EQ(output.text, "18 C and sunny");
  EXPECT_EQ(request.messages[3].role, Role::assistant);
  EXPECT_EQ(request.messages[3].text(), "18 C, sunny.");
  EXPECT_EQ(request.messages[4].text(), "And tomorrow?");

  ASSERT_EQ(request.tools.size(), 1u);
  EXPECT_EQ(request.tools[0].name, "get_weather");
  EXPECT_TRUE(request.tools[0].strict);  // the Responses default
  EXPECT_EQ(request.tool_choice.mode, ToolChoice::Mode::tool);
  EXPECT_EQ(request.tool_choice.name, "get_weather");
  EXPECT_TRUE(request.tool_choice.disable_parallel_tool_use);
  EXPECT_EQ(request.max_tokens, 300);
  EXPECT_EQ(request.sampling.temperature, 0.4);
  EXPECT_EQ(request.sampling.top_p, 0.8);
  EXPECT_TRUE(request.sampling.logprobs);
  EXPECT_EQ(request.sampling.top_logprobs, 2);
  EXPECT_EQ(request.response_format.type, ResponseFormat::Type::json_schema);
  EXPECT_EQ(request.response_format.name, "forecast");
  EXPECT_TRUE(request.response_format.strict);
  EXPECT_EQ(request.thinking.effort, Effort::low);
  EXPECT_EQ(request.thinking.mode, ThinkingConfig::Mode::adaptive);
  EXPECT_TRUE(request.responses.reasoning_summary);
  EXPECT_FALSE(request.responses.store);
  EXPECT_EQ(request.responses.metadata.at("session").as_string(), "s1");
  EXPECT_EQ(request.user, "u-42");
  EXPECT_TRUE(request.stream);
  EXPECT_EQ(request.original, fixture_json("requests/openai_responses_full.json"));
}

TEST(ResponsesRequest, StringInputDefaultsAndContinuation) {
  auto request = parse_ok(responses_request_from_json(json::parse(R"({"model":"m","input":"Hello"})")));
  ASSERT_EQ(request.messages.size(), 1u);
  EXPECT_EQ(request.messages[0].role, Role::user);
  EXPECT_EQ(request.messages[0].text(), "Hello");
  EXPECT_TRUE(request.responses.store);  // stored unless the client says otherwise
  EXPECT_FALSE(request.max_tokens.has_value());
  EXPECT_FALSE(request.stream);

  // A continuation may send no new input at all.
  auto continuation = parse_ok(responses_request_from_json(json::parse(R"({"model":"m","previous_response_id":"resp_1"})")));
  EXPECT_EQ(continuation.responses.previous_response_id, "resp_1");
  EXPECT_TRUE(continuation.messages.empty());

  // function_call_output with parts keeps an image so a text model can refuse it by name.
  auto with_image = parse_ok(responses_request_from_json(json::parse(
      R"({"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[
          {"type":"input_text","text":"see"},{"type":"input_image","image_url":"https://x/y.png"}]}]})")));
  const auto& result = std::get<ToolResultPart>(with_image.messages[0].content[0]);
  EXPECT_EQ(result.text, "see");
  ASSERT_EQ(result.images.size(), 1u);
  EXPECT_EQ(result.images[0].origin, "input[0].output[1]");
}

InternalRequest weather_request() {
  return parse_ok(responses_request_from_json(json::parse(
      R"({"model":"m","instructions":"Be brief.","input":"Weather in Paris?","max_output_tokens":64,
          "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],
          "metadata":{"k":"v"},"stream":true})")));
}

std::vector<StreamEvent> weather_events() {
  MessageStart start;
  start.id = "resp_test";
  start.model = "m";
  start.created = 1700000000;
  start.usage.input_tokens = 12;
  Finish finish;
  finish.reason = FinishReason::tool_calls;
  finish.usage.output_tokens = 9;
  finish.usage.reasoning_tokens = 3;  // "Plan." and its tags, as a local model counts them
  return {start,
          ThinkingDelta{"Plan.", ""},
          TextDelta{"Hel", {}},
          TextDelta{"lo", {}},
          ToolCallStart{0, "call_1", "get_weather"},
          ToolCallDelta{0, "{\"city\":"},
          ToolCallDelta{0, "\"Paris\"}"},
          finish};
}

TEST(ResponsesStream, ExactEventSequence) {
  InternalRequest request = weather_request();
  ResponsesStreamWriter writer(request, {});
  std::string out;
  for (const auto& event : weather_events()) out += writer.write(event);
  EXPECT_TRUE(writer.finished());
  EXPECT_EQ(normalize_ids(out), fixture_text("streams/responses_stream.txt"));

  // Every event is named by its `type` and numbered from 0 without gaps.
  auto events = SseParser().feed(out);
  ASSERT_EQ(events.size(), 19u);
  for (size_t i = 0; i < events.size(); ++i) {
    json::value data = json::parse(events[i].data);
    EXPECT_EQ(data.at("type").as_string(), events[i].event);
    EXPECT_EQ(data.at("sequence_number").as_int64(), int64_t(i));
  }
  // The final response is what the store keeps, and what a complete response would say.
  EXPECT_EQ(writer.response().at("status").as_string(), "completed");
  EXPECT_EQ(json::parse(events.back().data).at("response"), json::value(writer.response()));
  EXPECT_EQ(writer.result().text(), "Hello");
  EXPECT_EQ(writer.result().id, "resp_test");
  EXPECT_EQ(writer.result().usage.output_tokens, 9);
}

TEST(ResponsesStream, LogprobsAreReturnedWhenAskedFor) {
  auto request = parse_ok(responses_request_from_json(json::parse(
      R"({"model":"m","input":"x","include":["message.output_text.logprobs"],"top_logprobs":1})")));
  EXPECT_TRUE(request.sampling.logprobs);
  ResponsesStreamWriter writer(request, {});
  TokenLogprob hi{"Hi", -0.5, {TopLogprob{"Hi", -0.5}}};
  std::string out = writer.write(TextDelta{"Hi", {hi}});
  out += writer.write(Finish{});
  auto events = SseParser().feed(out);
  bool saw_delta = false;
  for (const auto& event : events) {
    if (event.event != "response.output_text.delta") continue;
    saw_delta = true;
    json::value logprobs = json::parse(event.data).at("logprobs");
    ASSERT_EQ(logprobs.as_array().size(), 1u);
    EXPECT_EQ(logprobs.at(0).at("token").as_string(), "Hi");
    EXPECT_EQ(logprobs.at(0).at("logprob").as_double(), -0.5);
    EXPECT_EQ(logprobs.at(0).at("top_logprobs").as_array().size(), 1u);
  }
  EXPECT_TRUE(saw_delta);
  const auto& part = writer.response().at("output").at(0).at("content").at(0);
  EXPECT_EQ(part.at("logprobs").as_array().size(), 1u);

  // The complete response carries them too.
  TextResult result;
  result.content = {TextPart{"Hi"}};
  result.logprobs = std::vector<TokenLogprob>{hi};
  json::object complete = responses_response(request, result);
  EXPECT_EQ(complete.at("output").at(0).at("content").at(0).at("logprobs").at(0).at("token").as_string(), "Hi");
}

TEST(ResponsesStream, MaxOutputTokensEndsIncomplete) {
  InternalRequest request = weather_request();
  ResponsesStreamWriter writer(request, {});
  writer.write(TextDelta{"Once", {}});
  Finish finish;
  finish.reason = FinishReason::length;
  std::string out = writer.write(finish);
  auto events = SseParser().feed(out);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event, "response.incomplete");
  json::value response = json::parse(events.back().data).at("response");
  EXPECT_EQ(response.at("status").as_string(), "incomplete");
  EXPECT_EQ(response.at("incomplete_details").at("reason").as_string(), "max_output_tokens");
}

TEST(ResponsesStream, FailureSendsErrorThenFailed) {
  InternalRequest request = weather_request();
  ResponsesStreamWriter writer(request, {});
  writer.write(TextDelta{"Once", {}});
  std::string out = writer.write(StreamError{make_error(ErrorKind::api_error, "the model crashed")});
  EXPECT_TRUE(writer.finished());
  EXPECT_EQ(writer.write(TextDelta{"more", {}}), "");
  auto events = SseParser().feed(out);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[events.size() - 2].event, "error");
  json::value error = json::parse(events[events.size() - 2].data);
  EXPECT_EQ(error.at("code").as_string(), "server_error");
  EXPECT_EQ(error.at("message").as_string(), "the model crashed");
  EXPECT_EQ(events.back().event, "response.failed");
  json::value failed = json::parse(events.back().data).at("response");
  EXPECT_EQ(failed.at("status").as_string(), "failed");
  EXPECT_EQ(failed.at("error").at("message").as_string(), "the model crashed");
}

TEST(ResponsesResponse, CompleteObjectMatchesGolden) {
  InternalRequest request = weather_request();
  ResultBuilder builder;
  for (const auto& event : weather_events()) builder.add(event);
  json::object response = responses_response(request, builder.result());
  EXPECT_EQ(json::parse(normalize_ids(json::serialize(response))), fixture_json("responses/responses_response.json"));
}

TEST(ResponsesResponse, StatusUsageAndDeletion) {
  EXPECT_EQ(responses_status(FinishReason::stop), "completed");
  EXPECT_EQ(responses_status(FinishReason::tool_calls), "completed");
  EXPECT_EQ(responses_status(FinishReason::length), "incomplete");
  EXPECT_EQ(responses_status(FinishReason::error), "failed");
  Usage usage;
  usage.input_tokens = 10;
  usage.cache_read_tokens = 4;
  usage.output_tokens = 3;
  // No reasoning count known (e.g. translated from an Anthropic upstream): none is made up.
  EXPECT_JSON_EQ(responses_usage_json(usage),
                 json::parse(R"({"input_tokens":14,"input_tokens_details":{"cached_tokens":4},"output_tokens":3,
                                 "total_tokens":17})"));
  usage.reasoning_tokens = 2;
  EXPECT_JSON_EQ(responses_usage_json(usage),
                 json::parse(R"({"input_tokens":14,"input_tokens_details":{"cached_tokens":4},"output_tokens":3,
                                 "output_tokens_details":{"reasoning_tokens":2},"total_tokens":17})"));
  EXPECT_JSON_EQ(responses_deleted("resp_1"), json::parse(R"({"id":"resp_1","object":"response","deleted":true})"));
}

// ---------------------------------------------------------------- translation

TEST(ResponsesTranslation, RequestGoesToAnthropicAsMessages) {
  auto request = parse_ok(parse_responses_request(fixture_text("requests/openai_responses_full.json"), "application/json"));
  json::object sent = request_for_provider(request, Protocol::anthropic, "claude-x");
  EXPECT_EQ(sent.at("model").as_string(), "claude-x");
  EXPECT_EQ(sent.at("system").as_string(), "You are terse.\n\nUse metric units.");
  EXPECT_EQ(sent.at("max_tokens").as_int64(), 300);
  const auto& messages = sent.at("messages").as_array();
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(messages[1].at("role").as_string(), "assistant");
  const auto& call_blocks = messages[1].at("content").as_array();
  EXPECT_EQ(call_blocks[0].at("type").as_string(), "thinking");
  EXPECT_EQ(call_blocks[1].at("type").as_string(), "tool_use");
  EXPECT_EQ(call_blocks[1].at("input").at("city").as_string(), "Paris");
  EXPECT_EQ(messages[2].at("content").at(0).at("type").as_string(), "tool_result");
  EXPECT_EQ(sent.at("tool_choice").at("name").as_string(), "get_weather");
  EXPECT_JSON_EQ(sent.at("thinking"), json::parse(R"({"type":"adaptive"})"));
  EXPECT_EQ(sent.at("output_config").at("effort").as_string(), "low");
  EXPECT_EQ(sent.at("output_config").at("format").at("type").as_string(), "json_schema");

  // To an OpenAI provider the body passes through untouched but for the model.
  json::object same = request_for_provider(request, Protocol::openai, "gpt-5-mini");
  json::object expected = fixture_json("requests/openai_responses_full.json").as_object();
  expected["model"] = "gpt-5-mini";
  EXPECT_JSON_EQ(same, expected);
}

TEST(ResponsesTranslation, AnthropicUpstreamStreamBecomesResponsesEvents) {
  InternalRequest request = weather_request();
  ResponsesStreamWriter writer(request, {});
  AnthropicStreamDecoder decoder;
  std::string out;
  for (const auto& sse : SseParser().feed(fixture_text("streams/anthropic_provider_stream.txt"))) {
    for (const auto& event : decoder.decode(sse)) out += writer.write(event);
  }
  EXPECT_TRUE(writer.finished());
  auto events = SseParser().feed(out);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().event, "response.created");
  EXPECT_EQ(events.back().event, "response.completed");
  const auto& output = writer.response().at("output").as_array();
  ASSERT_FALSE(output.empty());
  EXPECT_EQ(output.back().at("type").as_string(), "function_call");
  EXPECT_TRUE(json::parse(output.back().at("arguments").as_string()).is_object());
  EXPECT_GT(writer.response().at("usage").at("output_tokens").as_int64(), 0);
}

// ---------------------------------------------------------------- writers by request

TEST(WritersForRequest, EachEndpointGetsItsOwnShape) {
  InternalRequest responses = weather_request();
  auto stream = make_stream_writer(responses, {});
  EXPECT_NE(dynamic_cast<ResponsesStreamWriter*>(stream.get()), nullptr);
  TextResult result;
  result.id = "resp_1";
  result.content = {TextPart{"hi"}};
  EXPECT_EQ(complete_response(responses, {result}).at("object").as_string(), "response");

  auto chat = parse_ok(openai_chat_request_from_json(json::parse(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2,"stream":true,"stream_options":{"include_usage":true}})")));
  auto chat_stream = make_stream_writer(chat, {});
  auto* chat_writer = dynamic_cast<OpenAiChatStreamWriter*>(chat_stream.get());
  ASSERT_NE(chat_writer, nullptr);
  Finish finish;
  chat_writer->write_choice(0, finish);
  EXPECT_FALSE(chat_writer->finished());  // n = 2: the second choice is still due
  chat_writer->write_choice(1, finish);
  EXPECT_TRUE(chat_writer->finished());
  TextResult other = result;
  other.content = {TextPart{"ho"}};
  EXPECT_EQ(complete_response(chat, {result, other}).at("choices").as_array().size(), 2u);

  auto messages = parse_ok(anthropic_messages_request_from_json(
      json::parse(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]})")));
  EXPECT_NE(dynamic_cast<AnthropicStreamWriter*>(make_stream_writer(messages, {}).get()), nullptr);
  EXPECT_EQ(complete_response(messages, {result}).at("type").as_string(), "message");

  auto legacy = parse_ok(openai_completion_request_from_json(json::parse(R"({"model":"m","prompt":"x"})")));
  EXPECT_NE(dynamic_cast<OpenAiCompletionStreamWriter*>(make_stream_writer(legacy, {}).get()), nullptr);
  EXPECT_EQ(complete_response(legacy, {result}).at("object").as_string(), "text_completion");
}

}  // namespace
}  // namespace tandem::schemas
