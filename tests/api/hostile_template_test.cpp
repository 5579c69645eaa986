// A GGUF whose chat template runs away (written with `tandem synth-model --chat-template`):
// `tandem chat-template` stops with the render budget's error, and the server answers the chat
// request with a 500 naming the model's template while it keeps serving everything else.
#include "tests/api/api_test_util.h"

#include <filesystem>
#include <fstream>

namespace tandem::test {
namespace {

// The issue's reproducer: 14.7 GB of memory in 60 s before the render budget existed.
const char* kDoublingTemplate =
    "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s }}";

std::string write_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::path(::testing::TempDir()) / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

// A tiny random-weight llama with stories260K's vocabulary and the given template.
std::string hostile_model(const std::string& name, const std::string& template_text) {
  const std::string stories = stories_path();
  if (stories.empty()) return {};
  const std::string template_file = write_file(name + ".jinja", template_text);
  const std::string out = (std::filesystem::path(::testing::TempDir()) / (name + ".gguf")).string();
  auto [code, output] = run_tandem({"synth-model", "--out", out, "--vocab-from", stories, "--chat-template",
                                    template_file, "--dim", "64", "--layers", "1", "--heads", "2", "--kv-heads",
                                    "1", "--ff", "128", "--ctx", "256"});
  EXPECT_EQ(code, 0) << output;
  return code == 0 ? out : std::string();
}

TEST(HostileTemplate, ChatTemplateToolStopsWithTheBudgetError) {
  const std::string model = hostile_model("hostile-cli", kDoublingTemplate);
  ASSERT_FALSE(model.empty());
  const std::string messages = write_file("hostile-messages.json", R"([{"role": "user", "content": "hi"}])");
  // (Tens of MiB are built before the limit: give a loaded machine time.)
  TandemProcess tool({"chat-template", "--model", model, "--messages", messages});
  const int code = tool.wait_exit(std::chrono::seconds(120));
  const std::string output = tool.output();
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("chat template stopped: a string would grow to"), std::string::npos) << output;
}

TEST(HostileTemplate, ServerAnswers500NamingTheTemplateAndKeepsServing) {
  const std::string model = hostile_model("hostile-server", kDoublingTemplate);
  ASSERT_FALSE(model.empty());
  TandemProcess server(TandemProcess::server_arguments({"--model", model}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();

  json::object user;
  user["role"] = "user";
  user["content"] = "hi";
  json::object chat;
  chat["model"] = "hostile-server";
  chat["messages"] = json::array{user};
  chat["max_tokens"] = 4;
  for (int attempt = 0; attempt < 3; ++attempt) {  // again and again: nothing accumulates
    auto response = post_json(port, "/v1/chat/completions", chat);
    EXPECT_EQ(response.status, 500) << response.body;
    const std::string message(parse(response.body).at("error").at("message").as_string());
    EXPECT_NE(message.find("chat template of model 'hostile-server'"), std::string::npos) << message;
    EXPECT_NE(message.find("render budget"), std::string::npos) << message;
  }
  auto anthropic = post_json(port, "/v1/messages", chat);
  EXPECT_EQ(anthropic.status, 500) << anthropic.body;
  EXPECT_EQ(parse(anthropic.body).at("error").at("type"), "api_error") << anthropic.body;

  // Unharmed: the process is up, and what needs no template still works.
  EXPECT_EQ(http_request(port, "GET", "/health").status, 200);
  json::object completion;
  completion["model"] = "hostile-server";
  completion["prompt"] = "Once upon a time";
  completion["max_tokens"] = 4;
  auto plain = post_json(port, "/v1/completions", completion);
  EXPECT_EQ(plain.status, 200) << plain.body;
  server.terminate();
  EXPECT_EQ(server.wait_exit(), 0) << server.output();
}

}  // namespace
}  // namespace tandem::test
