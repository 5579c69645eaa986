// Every real chat template in ../shared/templates rendered for every conversation of
// conversations.json must match what Jinja2 produced byte for byte; a missing rendering means
// Jinja2 raised, and so must we, with the template's own message.
#include "engine/chat_template.h"
#include "tests/common/test_data.h"
#include "tests/engine/template/case_files.h"
#include "tests/engine/template/render_helper.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

namespace tandem::engine {
namespace {

using test::read_file;
using test::shared_file;

boost::json::object load_conversations() {
  std::string path = shared_file("templates/conversations.json");
  if (path.empty()) return {};
  return boost::json::parse(read_file(path)).as_object();
}

// The messages of raise_exception("...") calls in a template source.
std::vector<std::string> raised_messages(const std::string& source) {
  std::vector<std::string> messages;
  std::regex call(R"(raise_exception\(\s*(["'])((?:(?!\1).)*)\1\s*\))");
  for (auto it = std::sregex_iterator(source.begin(), source.end(), call); it != std::sregex_iterator(); ++it) {
    messages.push_back((*it)[2].str());
  }
  return messages;
}

TEST(ReferenceRenderings, EveryTemplateAndConversationMatchesJinja2) {
  boost::json::object spec = load_conversations();
  ASSERT_FALSE(spec.empty());
  const auto& conversations = spec.at("conversations").as_object();
  const auto& templates = spec.at("templates").as_object();
  ASSERT_GE(templates.size(), 8u);
  int compared = 0, raised = 0;
  for (const auto& [name, info_value] : templates) {
    const auto& info = info_value.as_object();
    std::string source_path = shared_file("templates/" + std::string(name) + ".jinja");
    ASSERT_FALSE(source_path.empty());
    std::string source = read_file(source_path);
    ChatTemplate chat_template(source);
    for (const auto& [case_name, messages] : conversations) {
      SCOPED_TRACE(std::string(name) + "." + std::string(case_name));
      ChatTemplateInput input;
      input.messages = messages;
      input.add_generation_prompt = spec.at("add_generation_prompt").as_bool();
      input.bos_token = std::string(info.at("bos_token").as_string());
      input.eos_token = std::string(info.at("eos_token").as_string());
      input.now = test::reference_now();
      auto expected_path = test::shared_dir() / "templates" / (std::string(name) + "." + std::string(case_name) + ".txt");
      if (std::filesystem::exists(expected_path)) {
        EXPECT_EQ(chat_template.render(input), read_file(expected_path.string()));
        ++compared;
      } else {
        try {
          chat_template.render(input);
          ADD_FAILURE() << "Jinja2 raised for this conversation, we rendered";
        } catch (const TemplateError& error) {
          auto own = raised_messages(source);
          EXPECT_NE(std::find(own.begin(), own.end(), std::string(error.what())), own.end())
              << "not one of the template's raise_exception messages: " << error.what();
        }
        ++raised;
      }
    }
  }
  EXPECT_EQ(compared + raised, static_cast<int>(templates.size() * conversations.size()));
  EXPECT_GT(compared, 0);
}

// The same templates on harder conversations (tools, tool calls and results, reasoning, thinking
// switches, role errors), with what Jinja2 rendered (template_scenarios.json).
class TemplateScenario : public ::testing::TestWithParam<test::TemplateCase> {};

TEST_P(TemplateScenario, MatchesJinja2) {
  const auto& spec = GetParam().spec;
  std::string path = shared_file(std::string(spec.at("template_file").as_string()));
  ASSERT_FALSE(path.empty());
  ChatTemplate chat_template(read_file(path));
  ChatTemplateInput input;
  input.messages = spec.at("messages");
  input.tools = spec.at("tools");
  input.add_generation_prompt = spec.at("add_generation_prompt").as_bool();
  input.bos_token = std::string(spec.at("bos_token").as_string());
  input.eos_token = std::string(spec.at("eos_token").as_string());
  input.extra_context = spec.at("vars").as_object();
  input.now = test::reference_now();
  if (spec.contains("expected")) {
    EXPECT_EQ(chat_template.render(input), std::string(spec.at("expected").as_string()));
    return;
  }
  try {
    chat_template.render(input);
    ADD_FAILURE() << "Jinja2 raised for this conversation, we rendered";
  } catch (const TemplateError& error) {
    if (spec.contains("message")) {
      EXPECT_EQ(std::string(error.what()), std::string(spec.at("message").as_string()));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(RealTemplates, TemplateScenario,
                         ::testing::ValuesIn(test::load_template_cases("template_scenarios.json")),
                         [](const auto& info) { return info.param.name; });

TEST(TemplateScenarios, CaseFileIsPresent) {
  EXPECT_GE(test::load_template_cases("template_scenarios.json").size(), 80u);
}

}  // namespace
}  // namespace tandem::engine
