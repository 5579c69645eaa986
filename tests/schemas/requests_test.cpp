// Parsing every request shape of both protocols into the internal form.
#include "schema_test_util.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"

#include <gtest/gtest.h>

namespace tandem::schemas {
namespace {

using test::fixture_json;
using test::fixture_text;

InternalRequest parse_ok(Result<InternalRequest> result) {
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? std::move(result).value() : InternalRequest{};
}

TEST(OpenAiChatRequest, FullFixtureKeepsEveryField) {
  auto request = parse_ok(parse_openai_chat_request(fixture_text("requests/openai_chat_full.json"), "application/json"));
  EXPECT_EQ(request.protocol, Protocol::openai);
  EXPECT_EQ(request.endpoint, Endpoint::chat_completions);
  EXPECT_EQ(request.model, "gpt-4o");
  // The two leading system/developer messages form the system text; the later one stays in place.
  EXPECT_EQ(request.system, "You are a helpful assistant.\n\nAnswer briefly.");
  ASSERT_EQ(request.messages.size(), 6u);

  const auto& user = request.messages[0];
  EXPECT_EQ(user.role, Role::user);
  EXPECT_EQ(user.name, "alice");
  ASSERT_EQ(user.content.size(), 3u);
  EXPECT_EQ(std::get<TextPart>(user.content[0]).text, "What is in this image, and what is the weather in Paris?");
  const auto& url_image = std::get<ImagePart>(user.content[1]);
  EXPECT_EQ(url_image.source, ImagePart::Source::url);
  EXPECT_EQ(url_image.data, "https://example.com/cat.png");
  EXPECT_EQ(url_image.detail, "low");
  const auto& inline_image = std::get<ImagePart>(user.content[2]);
  EXPECT_EQ(inline_image.source, ImagePart::Source::base64);
  EXPECT_EQ(inline_image.media_type, "image/png");
  EXPECT_EQ(inline_image.data, "iVBORw0KGgo=");

  const auto& call_turn = request.messages[1];
  EXPECT_EQ(call_turn.role, Role::assistant);
  ASSERT_EQ(call_turn.content.size(), 1u);
  const auto& call = std::get<ToolCallPart>(call_turn.content[0]);
  EXPECT_EQ(call.id, "call_abc123");
  EXPECT_EQ(call.name, "get_weather");
  EXPECT_EQ(call.arguments, "{\"city\":\"Paris\"}");

  const auto& tool_turn = request.messages[2];
  EXPECT_EQ(tool_turn.role, Role::tool);
  const auto& result = std::get<ToolResultPart>(tool_turn.content.at(0));
  EXPECT_EQ(result.tool_call_id, "call_abc123");
  EXPECT_EQ(result.text, "18 degrees and sunny");

  EXPECT_EQ(request.messages[3].text(), "A cat. Paris: 18 degrees and sunny.");
  EXPECT_EQ(request.messages[4].role, Role::system);
  EXPECT_EQ(request.messages[4].text(), "Now be verbose.");
  EXPECT_EQ(request.messages[5].text(), "Thanks!");

  EXPECT_EQ(request.max_tokens, 200);  // max_completion_tokens wins over max_tokens
  EXPECT_EQ(request.sampling.temperature, 0.7);
  EXPECT_EQ(request.sampling.top_p, 0.9);
  EXPECT_EQ(request.sampling.n, 2);
  EXPECT_EQ(request.sampling.seed, 42);
  EXPECT_EQ(request.sampling.presence_penalty, 0.5);
  EXPECT_EQ(request.sampling.frequency_penalty, -0.5);
  EXPECT_TRUE(request.sampling.logprobs);
  EXPECT_EQ(request.sampling.top_logprobs, 3);
  EXPECT_EQ(request.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.include_usage);
  EXPECT_EQ(request.response_format.type, ResponseFormat::Type::json_schema);
  EXPECT_EQ(request.response_format.name, "answer");
  EXPECT_TRUE(request.response_format.strict);
  ASSERT_EQ(request.tools.size(), 1u);
  EXPECT_EQ(request.tools[0].name, "get_weather");
  EXPECT_EQ(request.tools[0].description, "Get the current weather in a city");
  EXPECT_EQ(request.tools[0].parameters.at("required").at(0).as_string(), "city");
  EXPECT_EQ(request.tool_choice.mode, ToolChoice::Mode::tool);
  EXPECT_EQ(request.tool_choice.name, "get_weather");
  EXPECT_TRUE(request.tool_choice.disable_parallel_tool_use);
  EXPECT_EQ(request.user, "user-1234");
  EXPECT_EQ(request.original, fixture_json("requests/openai_chat_full.json"));
}

TEST(OpenAiChatRequest, MinimalRequestHasDefaults) {
  auto request = parse_ok(parse_openai_chat_request(fixture_text("requests/openai_chat_minimal.json"), ""));
  EXPECT_EQ(request.model, "gpt-4o-mini");
  EXPECT_TRUE(request.system.empty());
  ASSERT_EQ(request.messages.size(), 1u);
  EXPECT_EQ(request.messages[0].text(), "Hello!");
  EXPECT_FALSE(request.max_tokens.has_value());  // left for the backend / translation default
  EXPECT_FALSE(request.sampling.temperature.has_value());
  EXPECT_EQ(request.sampling.n, 1);
  EXPECT_FALSE(request.stream);
  EXPECT_EQ(request.tool_choice.mode, ToolChoice::Mode::unset);
}

TEST(OpenAiChatRequest, NullFieldsCountAsAbsent) {
  auto request = parse_ok(parse_openai_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":null,"stop":null,
          "max_tokens":null,"tools":null,"stream_options":null,"user":null})",
      "application/json"));
  EXPECT_FALSE(request.sampling.temperature.has_value());
  EXPECT_TRUE(request.stop.empty());
  EXPECT_FALSE(request.max_tokens.has_value());
}

TEST(OpenAiChatRequest, StopAsSingleStringAndToolChoiceStrings) {
  auto request = parse_ok(parse_openai_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stop":"###","tool_choice":"required",
          "tools":[{"type":"function","function":{"name":"f"}}]})",
      "application/json"));
  EXPECT_EQ(request.stop, std::vector<std::string>{"###"});
  EXPECT_EQ(request.tool_choice.mode, ToolChoice::Mode::any);
  // A function without parameters takes none: an empty object schema.
  EXPECT_EQ(request.tools.at(0).parameters.at("type").as_string(), "object");
}

TEST(OpenAiChatRequest, MaxTokensAloneAndIntegralDoubles) {
  auto request = parse_ok(parse_openai_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":50.0})", "application/json"));
  EXPECT_EQ(request.max_tokens, 50);
}

TEST(OpenAiCompletionRequest, FixtureWithEchoAndLogprobs) {
  auto request = parse_ok(parse_openai_completion_request(fixture_text("requests/openai_completion.json"), "application/json"));
  EXPECT_EQ(request.endpoint, Endpoint::completions);
  ASSERT_EQ(request.prompts.size(), 1u);
  EXPECT_FALSE(request.prompts[0].is_tokens);
  EXPECT_EQ(request.prompts[0].text, "Say this is a test");
  EXPECT_EQ(request.max_tokens, 7);
  EXPECT_EQ(request.sampling.temperature, 0.0);
  EXPECT_TRUE(request.echo);
  EXPECT_TRUE(request.sampling.logprobs);
  EXPECT_EQ(request.sampling.top_logprobs, 2);
  EXPECT_EQ(request.stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(request.user, "u1");
}

TEST(OpenAiCompletionRequest, PromptShapes) {
  auto strings = parse_ok(parse_openai_completion_request(R"({"model":"m","prompt":["a","b"]})", ""));
  ASSERT_EQ(strings.prompts.size(), 2u);
  EXPECT_EQ(strings.prompts[1].text, "b");
  EXPECT_EQ(strings.max_tokens, 16);  // the API's default

  auto tokens = parse_ok(parse_openai_completion_request(R"({"model":"m","prompt":[1,2,3]})", ""));
  ASSERT_EQ(tokens.prompts.size(), 1u);
  EXPECT_TRUE(tokens.prompts[0].is_tokens);
  EXPECT_EQ(tokens.prompts[0].tokens, (std::vector<int64_t>{1, 2, 3}));

  auto batches = parse_ok(parse_openai_completion_request(R"({"model":"m","prompt":[[1,2],[3]]})", ""));
  ASSERT_EQ(batches.prompts.size(), 2u);
  EXPECT_EQ(batches.prompts[1].tokens, std::vector<int64_t>{3});

  // Scoring: echo with max_tokens 0 returns the prompt's logprobs without generating.
  auto scoring = parse_ok(parse_openai_completion_request(
      R"({"model":"m","prompt":"x","echo":true,"max_tokens":0,"logprobs":0})", ""));
  EXPECT_EQ(scoring.max_tokens, 0);
  EXPECT_TRUE(scoring.sampling.logprobs);
  EXPECT_EQ(scoring.sampling.top_logprobs, 0);

  auto empty_suffix = parse_openai_completion_request(R"({"model":"m","prompt":"x","suffix":""})", "");
  EXPECT_TRUE(empty_suffix.ok());
}

TEST(AnthropicMessagesRequest, FullFixtureKeepsEveryField) {
  auto request =
      parse_ok(parse_anthropic_messages_request(fixture_text("requests/anthropic_messages_full.json"), "application/json"));
  EXPECT_EQ(request.protocol, Protocol::anthropic);
  EXPECT_EQ(request.endpoint, Endpoint::messages);
  EXPECT_EQ(request.model, "claude-sonnet-4-20250514");
  EXPECT_EQ(request.max_tokens, 2048);
  EXPECT_EQ(request.system, "You are a helpful assistant.\n\nAnswer briefly.");
  ASSERT_EQ(request.messages.size(), 3u);

  const auto& user = request.messages[0];
  ASSERT_EQ(user.content.size(), 3u);
  EXPECT_EQ(std::get<ImagePart>(user.content[1]).source, ImagePart::Source::url);
  EXPECT_EQ(std::get<ImagePart>(user.content[1]).data, "https://example.com/cat.png");
  EXPECT_EQ(std::get<ImagePart>(user.content[2]).media_type, "image/png");

  const auto& assistant = request.messages[1];
  EXPECT_EQ(assistant.role, Role::assistant);
  ASSERT_EQ(assistant.content.size(), 4u);
  const auto& thinking = std::get<ThinkingPart>(assistant.content[0]);
  EXPECT_EQ(thinking.thinking, "The user wants the weather.");
  EXPECT_EQ(thinking.signature, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds");
  const auto& redacted = std::get<ThinkingPart>(assistant.content[1]);
  EXPECT_TRUE(redacted.redacted);
  EXPECT_FALSE(redacted.redacted_data.empty());
  EXPECT_EQ(std::get<TextPart>(assistant.content[2]).text, "Let me check.");
  const auto& call = std::get<ToolCallPart>(assistant.content[3]);
  EXPECT_EQ(call.id, "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(boost::json::parse(call.arguments), boost::json::parse(R"({"city":"Paris"})"));

  const auto& results = request.messages[2];
  const auto& result = std::get<ToolResultPart>(results.content.at(0));
  EXPECT_EQ(result.tool_call_id, "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(result.text, "18 degrees and sunny");
  EXPECT_EQ(std::get<TextPart>(results.content.at(1)).text, "Thanks!");

  EXPECT_EQ(request.sampling.temperature, 0.5);
  EXPECT_EQ(request.sampling.top_p, 0.9);
  EXPECT_EQ(request.sampling.top_k, 40);
  EXPECT_EQ(request.stop, (std::vector<std::string>{"END", "STOP"}));
  EXPECT_TRUE(request.stream);
  EXPECT_EQ(request.user, "user-1234");
  ASSERT_EQ(request.tools.size(), 1u);
  EXPECT_EQ(request.tools[0].parameters.at("properties").at("city").at("type").as_string(), "string");
  EXPECT_EQ(request.tool_choice.mode, ToolChoice::Mode::any);
  EXPECT_TRUE(request.tool_choice.disable_parallel_tool_use);
  EXPECT_TRUE(request.thinking.enabled);
  EXPECT_EQ(request.thinking.budget_tokens, 1024);
  EXPECT_EQ(request.original, fixture_json("requests/anthropic_messages_full.json"));
}

TEST(AnthropicMessagesRequest, StringContentAndToolChoiceTool) {
  auto request = parse_ok(parse_anthropic_messages_request(
      R"({"model":"m","max_tokens":5,"system":"be nice","messages":[{"role":"user","content":"hi"}],
          "tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},
          "thinking":{"type":"disabled"}})",
      "application/json"));
  EXPECT_EQ(request.system, "be nice");
  EXPECT_EQ(request.messages[0].text(), "hi");
  EXPECT_EQ(request.tool_choice.mode, ToolChoice::Mode::tool);
  EXPECT_EQ(request.tool_choice.name, "f");
  EXPECT_FALSE(request.thinking.enabled);
}

TEST(AnthropicCountTokensRequest, NeedsNoMaxTokens) {
  auto request = parse_ok(parse_anthropic_count_tokens_request(fixture_text("requests/anthropic_count_tokens.json"),
                                                               "application/json"));
  EXPECT_EQ(request.endpoint, Endpoint::count_tokens);
  EXPECT_EQ(request.system, "You are a scientist");
  EXPECT_FALSE(request.max_tokens.has_value());
  EXPECT_JSON_EQ(anthropic_count_tokens_response(14), boost::json::parse(R"({"input_tokens":14})"));
}

TEST(ContentType, JsonWithParametersAndMissingAreAccepted) {
  const char* body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  EXPECT_TRUE(parse_openai_chat_request(body, "application/json; charset=utf-8").ok());
  EXPECT_TRUE(parse_openai_chat_request(body, " Application/JSON ").ok());
  EXPECT_TRUE(parse_openai_chat_request(body, "").ok());
  EXPECT_TRUE(parse_openai_chat_request(body, "application/vnd.api+json").ok());
}

}  // namespace
}  // namespace tandem::schemas
