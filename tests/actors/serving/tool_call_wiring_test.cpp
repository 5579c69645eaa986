// Tool calls through the rest of the local path, with crafted model output (the shared models
// have no tool-calling template): the generation's events rewritten by ToolCallRewriter and
// rendered by the real protocol writers, and requests carrying tool calls and results rendered
// by the real chat templates.
#include "actors/serving/chat_messages.h"
#include "actors/serving/tool_calls.h"

#include "engine/chat_template.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/sse.h"
#include "schemas/stream_writer.h"
#include "tests/common/test_data.h"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tandem::local {
namespace {

namespace json = boost::json;
using schemas::Protocol;
using schemas::StreamEvent;

const std::string kQwenOutput =
    "I'll look it up.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

// What the scheduler would report for kQwenOutput cut into `step`-byte tokens, each with a
// logprob, ending with `reason`.
std::vector<StreamEvent> generation_events(size_t step, schemas::FinishReason reason) {
  std::vector<StreamEvent> events;
  events.push_back(schemas::MessageStart{"chatcmpl-test", "qwen", 1700000000, {}});
  for (size_t at = 0; at < kQwenOutput.size(); at += step) {
    schemas::TextDelta delta;
    delta.text = kQwenOutput.substr(at, step);
    delta.logprobs.push_back(schemas::TokenLogprob{delta.text, -0.5, {}});
    events.push_back(std::move(delta));
  }
  schemas::Finish finish;
  finish.reason = reason;
  finish.usage.input_tokens = 20;
  finish.usage.output_tokens = 30;
  events.push_back(finish);
  return events;
}

std::vector<StreamEvent> rewrite(const std::vector<StreamEvent>& events, Protocol protocol) {
  ToolCallRewriter rewriter(ToolCallFormat::hermes, protocol);
  std::vector<StreamEvent> out;
  for (const auto& event : events) rewriter.add(event, out);
  return out;
}

schemas::TextResult fold(const std::vector<StreamEvent>& events) {
  schemas::ResultBuilder builder;
  for (const auto& event : events) builder.add(event);
  EXPECT_TRUE(builder.finished());
  return builder.result();
}

TEST(ToolCallRewriterTest, CompleteOpenAiResponseHasToolCalls) {
  for (size_t step : {1, 3, 7, 200}) {
    auto events = rewrite(generation_events(step, schemas::FinishReason::stop), Protocol::openai);
    size_t logprobs = 0;
    for (const auto& e : events) {
      if (auto* d = std::get_if<schemas::TextDelta>(&e)) logprobs += d->logprobs.size();
    }
    EXPECT_EQ(logprobs, (kQwenOutput.size() + step - 1) / step) << "every step keeps its logprob";

    auto body = schemas::openai_chat_response(fold(events));
    const auto& choice = body.at("choices").as_array().at(0).as_object();
    EXPECT_EQ(choice.at("finish_reason"), "tool_calls") << "step " << step;
    const auto& message = choice.at("message").as_object();
    EXPECT_EQ(message.at("content"), "I'll look it up.");
    const auto& calls = message.at("tool_calls").as_array();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].at("type"), "function");
    EXPECT_TRUE(calls[0].at("id").as_string().starts_with("call_"));
    EXPECT_EQ(calls[0].at("function").at("name"), "get_weather");
    EXPECT_EQ(json::parse(calls[0].at("function").at("arguments").as_string()), json::parse(R"({"city":"Paris"})"));
  }
}

TEST(ToolCallRewriterTest, CompleteAnthropicResponseHasToolUse) {
  auto body = schemas::anthropic_message_response(fold(rewrite(generation_events(4, schemas::FinishReason::stop),
                                                               Protocol::anthropic)));
  EXPECT_EQ(body.at("stop_reason"), "tool_use");
  const auto& content = body.at("content").as_array();
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0].at("type"), "text");
  EXPECT_EQ(content[0].at("text"), "I'll look it up.");
  EXPECT_EQ(content[1].at("type"), "tool_use");
  EXPECT_TRUE(content[1].at("id").as_string().starts_with("toolu_"));
  EXPECT_EQ(content[1].at("name"), "get_weather");
  EXPECT_EQ(content[1].at("input"), json::parse(R"({"city":"Paris"})"));
}

TEST(ToolCallRewriterTest, CutByLengthKeepsLengthAndText) {
  const std::string cut = "Checking.\n<tool_call>\n{\"name\": \"get_";
  std::vector<StreamEvent> events{schemas::TextDelta{cut.substr(0, 12), {}}, schemas::TextDelta{cut.substr(12), {}},
                                  schemas::Finish{schemas::FinishReason::length, "", {}}};
  auto result = fold(rewrite(events, Protocol::openai));
  EXPECT_EQ(result.finish_reason, schemas::FinishReason::length);
  ASSERT_EQ(result.content.size(), 1u);
  EXPECT_EQ(result.text(), cut);
}

TEST(ToolCallRewriterTest, StopAfterACompleteCallBecomesToolCallsEvenWithoutTheClosingTag) {
  auto events = generation_events(200, schemas::FinishReason::stop);
  std::get<schemas::TextDelta>(events[1]).text = kQwenOutput.substr(0, kQwenOutput.size() - 13);  // no "\n</tool_call>"
  auto result = fold(rewrite(events, Protocol::openai));
  EXPECT_EQ(result.finish_reason, schemas::FinishReason::tool_calls);
  ASSERT_EQ(result.content.size(), 2u);
  EXPECT_EQ(std::get<schemas::ToolCallPart>(result.content[1]).name, "get_weather");
}

std::vector<schemas::SseEvent> stream(Protocol protocol, schemas::Endpoint endpoint) {
  auto writer = schemas::make_stream_writer(protocol, endpoint, {});
  std::string bytes;
  for (const auto& event : rewrite(generation_events(2, schemas::FinishReason::stop), protocol)) {
    bytes += writer->write(event);
  }
  EXPECT_TRUE(writer->finished());
  schemas::SseParser parser;
  return parser.feed(bytes);
}

TEST(ToolCallRewriterTest, OpenAiStreamCarriesTheCallAndFinishReason) {
  std::string content, name, arguments, finish;
  for (const auto& event : stream(Protocol::openai, schemas::Endpoint::chat_completions)) {
    if (event.data == "[DONE]") continue;
    auto chunk = json::parse(event.data).as_object();
    const auto& choices = chunk.at("choices").as_array();
    if (choices.empty()) continue;
    const auto& choice = choices[0].as_object();
    if (!choice.at("finish_reason").is_null()) finish = choice.at("finish_reason").as_string();
    const auto& delta = choice.at("delta").as_object();
    if (auto* text = delta.if_contains("content"); text && text->is_string()) content += text->as_string();
    if (auto* calls = delta.if_contains("tool_calls")) {
      const auto& call = calls->as_array().at(0).as_object();
      EXPECT_EQ(call.at("index"), 0);
      const auto& function = call.at("function").as_object();
      if (auto* n = function.if_contains("name")) name += n->as_string();
      if (auto* a = function.if_contains("arguments")) arguments += a->as_string();
    }
  }
  EXPECT_EQ(content, "I'll look it up.");
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(json::parse(arguments), json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(finish, "tool_calls");
}

TEST(ToolCallRewriterTest, AnthropicStreamCarriesToolUseBlock) {
  std::string partial_json, stop_reason, block_type;
  for (const auto& event : stream(Protocol::anthropic, schemas::Endpoint::messages)) {
    auto data = json::parse(event.data).as_object();
    if (event.event == "content_block_start" && data.at("content_block").at("type") == "tool_use") {
      block_type = "tool_use";
      EXPECT_EQ(data.at("content_block").at("name"), "get_weather");
    } else if (event.event == "content_block_delta" && data.at("delta").at("type") == "input_json_delta") {
      partial_json += data.at("delta").at("partial_json").as_string();
    } else if (event.event == "message_delta") {
      stop_reason = data.at("delta").at("stop_reason").as_string();
    }
  }
  EXPECT_EQ(block_type, "tool_use");
  EXPECT_EQ(json::parse(partial_json), json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(stop_reason, "tool_use");
}

// ---------------------------------------------------------------- requests through templates

std::string template_source(const std::string& name) {
  auto path = test::shared_file("templates/" + name + ".jinja");
  return path.empty() ? std::string() : test::read_file(path);
}

std::string render(const std::string& template_name, const schemas::InternalRequest& request,
                   bool nine_char_ids = false) {
  auto messages = template_messages(request, nine_char_ids);
  EXPECT_TRUE(static_cast<bool>(messages));
  engine::ChatTemplate chat_template(template_source(template_name));
  engine::ChatTemplateInput input;
  input.messages = *messages;
  input.tools = template_tools(request);
  input.add_generation_prompt = true;
  input.eos_token = "<|im_end|>";
  return chat_template.render(input);
}

const char* kTools = R"([{"type": "function", "function": {"name": "get_weather",
  "description": "Get the current weather — in °C", "parameters": {"type": "object",
  "properties": {"city": {"type": "string", "description": "City name"}, "days": {"type": "integer"}},
  "required": ["city"]}}}])";

schemas::InternalRequest openai_round_trip(const std::string& id) {
  std::string body = R"({"model": "m", "tools": )" + std::string(kTools) + R"(, "messages": [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": ")" + id + R"(", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"days\": 2}"}}]},
    {"role": "tool", "tool_call_id": ")" + id + R"(", "content": "{\"temp\": 20}"},
    {"role": "assistant", "content": "It is 20 degrees."},
    {"role": "user", "content": "Thanks"}]})";
  auto parsed = schemas::parse_openai_chat_request(body, "application/json");
  EXPECT_TRUE(static_cast<bool>(parsed)) << (parsed ? "" : parsed.error().message);
  return parsed ? *parsed : schemas::InternalRequest{};
}

// The reference rendering of this conversation (tests/engine/template/template_scenarios.json).
std::string qwen_round_trip_reference() {
  auto scenarios = json::parse(test::read_file(std::string(TANDEM_SOURCE_DIR) +
                                               "/tests/engine/template/template_scenarios.json"));
  for (const auto& scenario : scenarios.as_array()) {
    if (scenario.at("name") == "Qwen-Qwen2.5-7B-Instruct.tool_round_trip") {
      return std::string(scenario.at("expected").as_string());
    }
  }
  ADD_FAILURE() << "scenario Qwen-Qwen2.5-7B-Instruct.tool_round_trip not found";
  return {};
}

TEST(ToolCallTemplatesTest, OpenAiRoundTripRendersLikeTheQwenReference) {
  EXPECT_EQ(render("Qwen-Qwen2.5-7B-Instruct", openai_round_trip("call12345")), qwen_round_trip_reference());
}

TEST(ToolCallTemplatesTest, AnthropicRoundTripRendersLikeTheQwenReference) {
  std::string body = R"({"model": "m", "max_tokens": 100, "tools": [{"name": "get_weather",
    "description": "Get the current weather — in °C", "input_schema": {"type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}, "days": {"type": "integer"}},
    "required": ["city"]}}], "messages": [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "get_weather",
      "input": {"city": "Paris", "days": 2}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "{\"temp\": 20}"}]},
    {"role": "assistant", "content": "It is 20 degrees."},
    {"role": "user", "content": "Thanks"}]})";
  auto parsed = schemas::parse_anthropic_messages_request(body, "application/json");
  ASSERT_TRUE(static_cast<bool>(parsed)) << parsed.error().message;
  EXPECT_EQ(render("Qwen-Qwen2.5-7B-Instruct", *parsed), qwen_round_trip_reference());
}

TEST(ToolCallTemplatesTest, OurOwnCallRendersBackIntoTheFormatItWasParsedFrom) {
  // A call parsed from Qwen output, sent back by the client as the assistant's turn.
  auto parts = parse_tool_calls(ToolCallFormat::hermes, kQwenOutput, Protocol::openai);
  auto request = openai_round_trip("x");
  request.messages[1].content = parts;
  auto rendered = render("Qwen-Qwen2.5-7B-Instruct", request);
  EXPECT_NE(rendered.find("<|im_start|>assistant\nI'll look it up.\n<tool_call>\n{\"name\": \"get_weather\", "
                          "\"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>"),
            std::string::npos)
      << rendered;
}

TEST(ToolCallTemplatesTest, MistralGetsNineCharacterIdsThatStillMatch) {
  auto request = openai_round_trip("call_abcdefghijklmnopqrstuvwx");
  EXPECT_THROW(render("mistralai-Mistral-Nemo-Instruct-2407", request), engine::TemplateError);
  std::string rendered = render("mistralai-Mistral-Nemo-Instruct-2407", request, true);
  const std::string id = template_call_id("call_abcdefghijklmnopqrstuvwx", true);
  EXPECT_EQ(id.size(), 9u);
  EXPECT_NE(rendered.find("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}, "
                          "\"id\": \"" + id + "\"}]"),
            std::string::npos)
      << rendered;
  EXPECT_NE(rendered.find("\"call_id\": \"" + id + "\""), std::string::npos) << rendered;
  EXPECT_EQ(template_call_id("abc123XYZ", true), "abc123XYZ");
  EXPECT_EQ(template_call_id("call_1", false), "call_1");
}

TEST(ToolCallTemplatesTest, Llama31RendersCallsWithParameters) {
  std::string rendered = render("meta-llama-Llama-3.1-8B-Instruct", openai_round_trip("call_1"));
  EXPECT_NE(rendered.find("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 2}}"),
            std::string::npos)
      << rendered;
  EXPECT_NE(rendered.find("<|start_header_id|>ipython<|end_header_id|>\n\n"),
            std::string::npos)
      << rendered;
}

}  // namespace
}  // namespace tandem::local
