// Logs as an operator reads them, from the real binary in both formats: the access line carries
// backend, model, status, tokens in/out, TTFT and duration; `--log-format json` writes one JSON
// object per line; API keys and prompt text never appear at info level.
#include "tests/api/api_test_util.h"

#include <sstream>
#include <string>
#include <vector>

namespace tandem::test {
namespace {

const std::string kKey = "sk-logging-test-key-7f3a9c";
const std::string kWrongKey = "sk-logging-wrong-key-2b8e1d";
const std::string kPrompt = "zebra-violet-marmalade prompt text";

json::object chat(bool stream) {
  json::object user;
  user["role"] = "user";
  user["content"] = kPrompt;
  json::object body;
  body["model"] = "stories260K";
  body["messages"] = json::array{user};
  body["max_tokens"] = 6;
  body["temperature"] = 0;
  body["stream"] = stream;
  return body;
}

// Serves one streamed and one complete chat with the key, one refused with a wrong key, and
// returns everything the server wrote at info level.
std::string serve_and_log(const std::string& format) {
  TandemProcess server(TandemProcess::server_arguments(
      {"--model", stories_path(), "--api-keys", kKey, "--log-format", format, "--log-level", "info"}));
  auto port = server.port();
  EXPECT_NE(port, 0) << server.output();
  if (port == 0) return {};
  const HeaderList auth = {{"authorization", "Bearer " + kKey}};
  {
    SseClient client(port, "/v1/chat/completions", json::serialize(chat(true)), auth);
    EXPECT_EQ(client.status(), 200);
    client.rest();
  }
  EXPECT_EQ(post_json(port, "/v1/chat/completions", chat(false), auth).status, 200);
  EXPECT_EQ(post_json(port, "/v1/chat/completions", chat(false), {{"x-api-key", kWrongKey}}).status, 401);
  server.terminate();
  EXPECT_EQ(server.wait_exit(), 0);
  return server.output();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

void expect_no_secrets(const std::string& output) {
  EXPECT_EQ(output.find(kKey), std::string::npos) << "the key reached the log:\n" << output;
  EXPECT_EQ(output.find(kWrongKey), std::string::npos) << "a presented key reached the log:\n" << output;
  EXPECT_EQ(output.find("zebra-violet"), std::string::npos) << "prompt text reached the log:\n" << output;
}

TEST(Logging, TextAccessLinesCarryBackendModelTokensAndTtftButNoSecrets) {
  const auto output = serve_and_log("text");
  expect_no_secrets(output);
  int streamed = 0, complete = 0;
  for (const auto& line : lines_of(output)) {
    if (line.find("POST /v1/chat/completions 200") == std::string::npos) continue;
    EXPECT_NE(line.find(" model=stories260K "), std::string::npos) << line;
    EXPECT_NE(line.find(" backend="), std::string::npos) << line;
    EXPECT_NE(line.find(" tokens_out=6 "), std::string::npos) << line;
    EXPECT_EQ(line.find(" tokens_in=-"), std::string::npos) << line;
    if (line.find(" ttft_ms=-") == std::string::npos) {
      ++streamed;
    } else {
      ++complete;
    }
  }
  EXPECT_EQ(streamed, 1) << output;
  EXPECT_EQ(complete, 1) << output;
}

TEST(Logging, JsonFormatIsOneObjectPerLineWithTheAccessFields) {
  const auto output = serve_and_log("json");
  expect_no_secrets(output);
  int access_lines = 0;
  bool saw_streamed = false;
  for (const auto& line : lines_of(output)) {
    boost::system::error_code ec;
    auto value = json::parse(line, ec);
    ASSERT_FALSE(ec) << "not JSON: " << line;
    const auto& object = value.as_object();
    for (const char* key : {"time", "level", "request_id", "message", "fields"}) {
      EXPECT_TRUE(object.contains(key)) << key << " missing: " << line;
    }
    EXPECT_TRUE(object.at("time").is_string());
    EXPECT_TRUE(object.at("fields").is_object());
    const auto& fields = object.at("fields").as_object();
    if (!fields.contains("status")) continue;
    ++access_lines;
    EXPECT_TRUE(object.at("request_id").is_string()) << line;
    EXPECT_TRUE(fields.at("duration_ms").is_number()) << line;
    for (const char* key : {"method", "target", "backend", "model", "tokens_in", "tokens_out", "ttft_ms"}) {
      EXPECT_TRUE(fields.contains(key)) << key << " missing: " << line;
    }
    if (fields.at("status").to_number<int>() != 200 || !fields.at("model").is_string()) continue;
    EXPECT_EQ(fields.at("model").as_string(), "stories260K");
    EXPECT_GT(fields.at("tokens_in").to_number<int>(), 0);
    EXPECT_EQ(fields.at("tokens_out").to_number<int>(), 6);
    if (fields.at("ttft_ms").is_number()) {
      saw_streamed = true;
      EXPECT_LE(fields.at("ttft_ms").to_number<double>(), fields.at("duration_ms").to_number<double>());
    }
  }
  EXPECT_EQ(access_lines, 3) << output;
  EXPECT_TRUE(saw_streamed) << output;
}

}  // namespace
}  // namespace tandem::test
