// Structured outputs and logit_bias on the local path, end to end: the real tandem binary serving
// a random-weight model with Qwen2.5's chat template (Hermes tool calls) and the GPT-2 BPE
// vocabulary. Random weights write gibberish, so whatever comes back valid is the constraint's
// doing: JSON that parses and matches its schema, a forced tool call that arrives as tool_calls
// / tool_use, and clear 400s for schemas the engine refuses.
#include "tests/api/api_test_util.h"

#include <filesystem>

#include <unistd.h>

namespace tandem::test {
namespace {

const char* kSchema = R"({"type":"object","properties":{
  "ok":{"type":"boolean"},
  "color":{"enum":["red","green","blue"]},
  "tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":3}},
  "required":["ok","color","tags"],"additionalProperties":false})";

const char* kWeatherParameters = R"({"type":"object","properties":{"city":{"enum":["Paris","Oslo"]}},
  "required":["city"],"additionalProperties":false})";

class StructuredOutput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string vocab = shared_file("models/synth-qwen2-F16.gguf");
    const std::string chat_template = shared_file("templates/Qwen-Qwen2.5-7B-Instruct.jinja");
    ASSERT_FALSE(vocab.empty());
    ASSERT_FALSE(chat_template.empty());
    // One file per process: ctest runs each test of the suite in its own process, in parallel.
    model_path_ = (std::filesystem::path(::testing::TempDir()) /
                             ("structured-qwen-" + std::to_string(::getpid()) + ".gguf")).string();
    const std::string& out = model_path_;
    auto [code, output] =
        run_tandem({"synth-model", "--out", out, "--vocab-from", vocab, "--chat-template", chat_template, "--dim",
                    "64", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--ff", "128", "--ctx", "1024"});
    ASSERT_EQ(code, 0) << output;
    server_ = new TandemProcess(TandemProcess::server_arguments({"--model", out, "--alias", "structured-qwen", "--parallel", "4"}));
    port_ = server_->port();
    ASSERT_NE(port_, 0) << server_->output();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(port_, 0) << "the shared server did not start"; }

  static json::object chat(double temperature) {
    json::object body;
    body["model"] = "structured-qwen";
    body["messages"] = json::array{json::object{{"role", "user"}, {"content", "Describe the sky."}}};
    body["max_tokens"] = 400;
    body["temperature"] = temperature;
    body["seed"] = 7;
    return body;
  }
  static json::array weather_tools() {
    json::object function{{"name", "get_weather"}, {"description", "Weather of a city"},
                          {"parameters", json::parse(kWeatherParameters)}};
    json::object other{{"name", "get_time"}, {"parameters", json::parse(R"({"type":"object"})")}};
    return json::array{json::object{{"type", "function"}, {"function", function}},
                       json::object{{"type", "function"}, {"function", other}}};
  }

  static TandemProcess* server_;
  static std::uint16_t port_;
  static std::string model_path_;
};

TandemProcess* StructuredOutput::server_ = nullptr;
std::uint16_t StructuredOutput::port_ = 0;
std::string StructuredOutput::model_path_;

// Checks kSchema by hand (independent of the constraint code).
void expect_matches_schema(const json::value& value) {
  ASSERT_TRUE(value.is_object()) << json::serialize(value);
  const auto& object = value.as_object();
  EXPECT_EQ(object.size(), 3u) << json::serialize(value);
  ASSERT_TRUE(object.contains("ok") && object.contains("color") && object.contains("tags")) << json::serialize(value);
  EXPECT_TRUE(object.at("ok").is_bool());
  const std::string color(object.at("color").as_string());
  EXPECT_TRUE(color == "red" || color == "green" || color == "blue") << color;
  const auto& tags = object.at("tags").as_array();
  EXPECT_LE(tags.size(), 3u);
  for (const auto& tag : tags) EXPECT_TRUE(tag == "a" || tag == "b") << json::serialize(tag);
}

TEST_F(StructuredOutput, JsonSchemaAnswerParsesAndValidates) {
  for (double temperature : {0.0, 1.0}) {
    auto body = chat(temperature);
    body["response_format"] = json::object{
        {"type", "json_schema"},
        {"json_schema", json::object{{"name", "sky"}, {"strict", true}, {"schema", json::parse(kSchema)}}}};
    body["stop"] = json::array{"\"", "}"};  // off for constrained requests: they would cut the value
    auto response = post_json(port_, "/v1/chat/completions", body);
    ASSERT_EQ(response.status, 200) << response.body;
    const auto parsed_choice = parse(response.body);
    const auto& choice = parsed_choice.at("choices").at(0);
    EXPECT_EQ(choice.at("finish_reason"), "stop") << response.body;
    const std::string content(choice.at("message").at("content").as_string());
    expect_matches_schema(parse(content));
  }
}

TEST_F(StructuredOutput, JsonObjectModeStreamedIsAnObject) {
  auto body = chat(1.0);
  body["response_format"] = json::object{{"type", "json_object"}};
  body["max_tokens"] = 600;
  auto streamed = stream_text(port_, "/v1/chat/completions", body);
  ASSERT_TRUE(streamed.done);
  if (streamed.finish_reason == "stop") {
    EXPECT_TRUE(parse(streamed.text).is_object()) << streamed.text;
  } else {
    // Cut by max_tokens: still a valid prefix of an object.
    EXPECT_EQ(streamed.finish_reason, "length");
    // (JSON allows whitespace before the value.)
    const size_t start = streamed.text.find_first_not_of(" \t\r\n");
    ASSERT_NE(start, std::string::npos) << streamed.text;
    EXPECT_EQ(streamed.text[start], '{') << streamed.text;
  }
}

TEST_F(StructuredOutput, AnthropicOutputFormatIsHonoured) {
  auto body = chat(0.0);
  body["output_config"] = json::object{{"format", json::object{{"type", "json_schema"}, {"schema", json::parse(kSchema)}}}};
  auto response = post_json(port_, "/v1/messages", body, {{"anthropic-version", "2023-06-01"}});
  ASSERT_EQ(response.status, 200) << response.body;
  const auto parsed_block = parse(response.body);
  const auto& block = parsed_block.at("content").at(0);
  EXPECT_EQ(block.at("type"), "text");
  expect_matches_schema(parse(std::string(block.at("text").as_string())));
}

TEST_F(StructuredOutput, RequiredToolChoiceReturnsToolCalls) {
  for (const char* mode : {"required", "named"}) {
    auto body = chat(1.0);
    body["tools"] = weather_tools();
    if (std::string(mode) == "required") {
      body["tool_choice"] = "required";
    } else {
      body["tool_choice"] = json::object{{"type", "function"}, {"function", json::object{{"name", "get_weather"}}}};
    }
    auto response = post_json(port_, "/v1/chat/completions", body);
    ASSERT_EQ(response.status, 200) << response.body;
    const auto parsed_choice = parse(response.body);
    const auto& choice = parsed_choice.at("choices").at(0);
    EXPECT_EQ(choice.at("finish_reason"), "tool_calls") << response.body;
    const auto& calls = choice.at("message").at("tool_calls").as_array();
    ASSERT_EQ(calls.size(), 1u) << response.body;
    const auto& function = calls[0].at("function");
    const std::string name(function.at("name").as_string());
    auto arguments = parse(std::string(function.at("arguments").as_string()));
    ASSERT_TRUE(arguments.is_object());
    if (std::string(mode) == "named") EXPECT_EQ(name, "get_weather");
    if (name == "get_weather") {
      const std::string city(arguments.at("city").as_string());
      EXPECT_TRUE(city == "Paris" || city == "Oslo") << city;
    }
  }
}

TEST_F(StructuredOutput, AnthropicToolChoiceToolReturnsToolUse) {
  auto body = chat(1.0);
  body["tools"] = json::array{json::object{{"name", "get_weather"}, {"input_schema", json::parse(kWeatherParameters)}}};
  body["tool_choice"] = json::object{{"type", "tool"}, {"name", "get_weather"}};
  auto response = post_json(port_, "/v1/messages", body, {{"anthropic-version", "2023-06-01"}});
  ASSERT_EQ(response.status, 200) << response.body;
  auto message = parse(response.body);
  EXPECT_EQ(message.at("stop_reason"), "tool_use") << response.body;
  bool found = false;
  for (const auto& block : message.at("content").as_array()) {
    if (block.at("type") != "tool_use") continue;
    found = true;
    EXPECT_EQ(block.at("name"), "get_weather");
    const std::string city(block.at("input").at("city").as_string());
    EXPECT_TRUE(city == "Paris" || city == "Oslo") << city;
  }
  EXPECT_TRUE(found) << response.body;
}

TEST_F(StructuredOutput, UnsupportedSchemaKeywordIs400NamingThePath) {
  auto body = chat(0.0);
  body["response_format"] = json::object{
      {"type", "json_schema"},
      {"json_schema",
       json::object{{"name", "n"},
                    {"schema", json::parse(R"({"type":"object","properties":{"age":{"type":"integer","minimum":0}}})")}}}};
  auto response = post_json(port_, "/v1/chat/completions", body);
  EXPECT_EQ(response.status, 400) << response.body;
  const auto parsed_error = parse(response.body);
  const auto& error = parsed_error.at("error");
  EXPECT_EQ(error.at("param"), "response_format.json_schema.schema/properties/age") << response.body;
  EXPECT_NE(std::string(error.at("message").as_string()).find("minimum"), std::string::npos) << response.body;

  // An invalid schema (an unknown type) is refused the same way, naming where.
  auto invalid = chat(0.0);
  invalid["response_format"] = json::object{
      {"type", "json_schema"},
      {"json_schema", json::object{{"name", "n"},
                                   {"schema", json::parse(R"({"type":"object","properties":{"age":{"type":"integr"}}})")}}}};
  auto invalid_refused = post_json(port_, "/v1/chat/completions", invalid);
  EXPECT_EQ(invalid_refused.status, 400) << invalid_refused.body;
  const auto invalid_error = parse(invalid_refused.body).at("error");
  EXPECT_EQ(invalid_error.at("param"), "response_format.json_schema.schema/properties/age/type") << invalid_refused.body;
  EXPECT_NE(std::string(invalid_error.at("message").as_string()).find("integr"), std::string::npos)
      << invalid_refused.body;

  auto tool = chat(0.0);
  tool["tools"] = json::array{json::object{
      {"type", "function"},
      {"function", json::object{{"name", "f"}, {"parameters", json::parse(R"({"type":"object","properties":{"s":{"type":"string","pattern":"x"}}})")}}}}};
  tool["tool_choice"] = "required";
  auto refused = post_json(port_, "/v1/chat/completions", tool);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(parse(refused.body).at("error").at("param"), "tools[0].function.parameters/properties/s") << refused.body;
}

// GPT-2's byte-level vocabulary has the printable ASCII bytes as ids 0..93 ('!' + id): id 40 is
// "I", id 41 is "J". The sampler's ban and force are unit-tested in tests/engine/runtime.
TEST_F(StructuredOutput, LogitBiasForcesBansAndRefusesUnknownIds) {
  auto content_with = [&](json::object bias) {
    auto body = chat(1.0);
    body["max_tokens"] = 6;
    body["logit_bias"] = std::move(bias);
    auto response = post_json(port_, "/v1/chat/completions", body);
    EXPECT_EQ(response.status, 200) << response.body;
    if (response.status != 200) return std::string();
    return std::string(parse(response.body).at("choices").at(0).at("message").at("content").as_string());
  };
  EXPECT_EQ(content_with(json::object{{"40", 100}}), "IIIIII");
  EXPECT_EQ(content_with(json::object{{"40", -100}, {"41", 100}}), "JJJJJJ");
  EXPECT_EQ(content_with(json::object{{"40", 100}, {"41", -100}}), "IIIIII");
  const std::string either = content_with(json::object{{"40", 100}, {"41", 100}});
  EXPECT_EQ(either.size(), 6u);
  EXPECT_EQ(either.find_first_not_of("IJ"), std::string::npos) << either;

  auto bad = chat(0.0);
  bad["logit_bias"] = json::object{{"99999999", 5}};
  auto refused = post_json(port_, "/v1/chat/completions", bad);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(parse(refused.body).at("error").at("param"), "logit_bias") << refused.body;
}

// --max-schema-bytes: a schema over the server's limit is a 400 naming the field and the limit;
// the same schema passes a server with the default limit.
TEST_F(StructuredOutput, SchemaOverTheConfiguredLimitIsRefused) {
  TandemProcess limited(TandemProcess::server_arguments(
      {"--model", model_path_, "--alias", "structured-qwen", "--max-schema-bytes", "128"}));
  ASSERT_NE(limited.port(), 0) << limited.output();
  auto body = chat(0.0);
  body["max_tokens"] = 60;
  body["response_format"] = json::object{
      {"type", "json_schema"}, {"json_schema", json::object{{"name", "sky"}, {"schema", json::parse(kSchema)}}}};
  ASSERT_GT(json::serialize(json::parse(kSchema)).size(), 128u);
  auto refused = post_json(limited.port(), "/v1/chat/completions", body);
  EXPECT_EQ(refused.status, 400) << refused.body;
  const auto error = parse(refused.body).at("error");
  EXPECT_EQ(error.at("param"), "response_format.json_schema.schema") << refused.body;
  const std::string message(error.at("message").as_string());
  EXPECT_NE(message.find("too large"), std::string::npos) << message;
  EXPECT_NE(message.find("128"), std::string::npos) << message;

  auto accepted = post_json(port_, "/v1/chat/completions", body);
  EXPECT_EQ(accepted.status, 200) << accepted.body;
}

}  // namespace
}  // namespace tandem::test
