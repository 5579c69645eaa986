// Later system turns on templates that accept only a leading system message
// (actors/serving/chat_messages.h fold_later_system_turns): where each turn goes, and that the
// real templates of ../shared that refuse them (Mistral Nemo) render the folded conversation.
#include "actors/serving/chat_messages.h"

#include "engine/chat_template.h"
#include "tests/common/test_data.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace tandem::local {
namespace {

namespace json = boost::json;

json::array conversation(std::string_view text) { return json::parse(text).as_array(); }

std::string folded(std::string_view text) {
  auto messages = conversation(text);
  fold_later_system_turns(messages);
  return json::serialize(messages);
}

TEST(FoldSystemTurns, JoinsTheNextUserTurn) {
  EXPECT_EQ(folded(R"([{"role":"system","content":"S"},{"role":"user","content":"a"},{"role":"assistant","content":"b"},
                      {"role":"system","content":"Be brief."},{"role":"user","content":"c"}])"),
            json::serialize(conversation(R"([{"role":"system","content":"S"},{"role":"user","content":"a"},
                      {"role":"assistant","content":"b"},{"role":"user","content":"[System]\nBe brief.\n\nc"}])")));
}

TEST(FoldSystemTurns, TrailingTurnBecomesAUserTurnAfterAnAssistant) {
  EXPECT_EQ(folded(R"([{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"system","content":"Now stop."}])"),
            json::serialize(conversation(R"([{"role":"user","content":"a"},{"role":"assistant","content":"b"},
                      {"role":"user","content":"[System]\nNow stop."}])")));
}

TEST(FoldSystemTurns, TurnBeforeAnAssistantJoinsThePreviousUserTurn) {
  // No user turn before the next assistant turn: a user turn of its own would break alternation.
  EXPECT_EQ(folded(R"([{"role":"user","content":"a"},{"role":"system","content":"x"},{"role":"assistant","content":"b"}])"),
            json::serialize(conversation(R"([{"role":"user","content":"a\n\n[System]\nx"},{"role":"assistant","content":"b"}])")));
}

TEST(FoldSystemTurns, LeadingSystemTurnsBecomeOne) {
  EXPECT_EQ(folded(R"([{"role":"system","content":"A"},{"role":"system","content":"B"},{"role":"user","content":"u"}])"),
            json::serialize(conversation(R"([{"role":"system","content":"A\n\nB"},{"role":"user","content":"u"}])")));
}

TEST(FoldSystemTurns, NothingToFoldChangesNothing) {
  auto messages = conversation(R"([{"role":"system","content":"S"},{"role":"user","content":"a"}])");
  const auto before = json::serialize(messages);
  EXPECT_FALSE(fold_later_system_turns(messages));
  EXPECT_EQ(json::serialize(messages), before);
}

std::string read_template(const std::string& name) {
  auto path = test::shared_file("templates/" + name + ".jinja");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string render(const std::string& source, const json::array& messages) {
  engine::ChatTemplateInput input;
  input.messages = messages;
  input.bos_token = "<s>";
  input.eos_token = "</s>";
  return engine::ChatTemplate(source).render(input);
}

constexpr std::string_view agent_turns = R"([{"role":"system","content":"You tell stories."},
  {"role":"user","content":"Once upon a time"},{"role":"assistant","content":"there was a dog."},
  {"role":"system","content":"Keep it short."},{"role":"user","content":"Go on."}])";

TEST(FoldSystemTurns, MistralNemoRefusesThemAndRendersTheFoldedConversation) {
  const auto mistral = read_template("mistralai-Mistral-Nemo-Instruct-2407");
  auto messages = conversation(agent_turns);
  EXPECT_THROW(render(mistral, messages), engine::TemplateError);
  ASSERT_TRUE(fold_later_system_turns(messages));
  EXPECT_EQ(render(mistral, messages),
            "<s>[INST]Once upon a time[/INST]there was a dog.</s>"
            "[INST]You tell stories.\n\n[System]\nKeep it short.\n\nGo on.[/INST]");
}

}  // namespace
}  // namespace tandem::local
