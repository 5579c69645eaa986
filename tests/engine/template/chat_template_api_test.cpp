// The ChatTemplate API as the server uses it: default ChatML, the variables HF passes, the
// clock, reuse across renders and threads.
#include "engine/chat_template.h"
#include "tests/engine/template/render_helper.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace tandem::engine {
namespace {

ChatTemplateInput conversation(bool generation_prompt) {
  ChatTemplateInput input;
  input.messages = boost::json::parse(R"([{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "Hi"}])");
  input.add_generation_prompt = generation_prompt;
  return input;
}

TEST(ChatTemplateApi, ChatmlDefault) {
  ChatTemplate chatml(ChatTemplate::chatml_source());
  EXPECT_EQ(chatml.render(conversation(true)),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(chatml.render(conversation(false)),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplateApi, PassesTheVariablesHuggingFacePasses) {
  ChatTemplate tmpl(
      "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools is defined }}{{ tools is none }}|"
      "{{ documents is none }}|{{ messages | length }}|{{ enable_thinking }}|{{ tools | length if tools }}");
  ChatTemplateInput input = conversation(true);
  input.bos_token = "<s>";
  input.eos_token = "</s>";
  input.extra_context["enable_thinking"] = false;
  EXPECT_EQ(tmpl.render(input), "<s>|</s>|True|TrueTrue|True|2|False|");
  input.tools = boost::json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  EXPECT_EQ(tmpl.render(input), "<s>|</s>|True|TrueFalse|True|2|False|1");
}

TEST(ChatTemplateApi, ExtraContextOverridesDefaults) {
  ChatTemplate tmpl("{{ bos_token }}{{ add_generation_prompt }}");
  ChatTemplateInput input = conversation(true);
  input.extra_context["bos_token"] = "<override>";
  EXPECT_EQ(tmpl.render(input), "<override>True");
}

// Sets TZ for one scope and puts the previous value back (tests may run in any order).
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* zone) {
    if (const char* old = std::getenv("TZ")) previous_ = old;
    ::setenv("TZ", zone, 1);
    ::tzset();
  }
  ~ScopedTimeZone() {
    if (previous_) ::setenv("TZ", previous_->c_str(), 1);
    else ::unsetenv("TZ");
    ::tzset();
  }

 private:
  std::optional<std::string> previous_;
};

std::string local_date_now(const char* format) {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[64];
  std::strftime(text, sizeof text, format, &local);
  return text;
}

TEST(ChatTemplateApi, StrftimeNowReadsAPinnedClockAsTheSameDayInEveryTimeZone) {
  ChatTemplate tmpl("{{ strftime_now('%d %b %Y') }}");
  ChatTemplateInput input = conversation(true);
  input.now = test::reference_now();
  // UTC, UTC+14 (Kiritimati) and UTC-12: a pinned date must not move with the zone.
  for (const char* zone : {"UTC0", "EAST-14", "WEST+12"}) {
    ScopedTimeZone tz(zone);
    EXPECT_EQ(tmpl.render(input), "21 Nov 2026") << zone;
  }
}

TEST(ChatTemplateApi, StrftimeNowReadsTheRealLocalTimeWhenNotPinned) {
  ChatTemplate tmpl("{{ strftime_now('%d %b %Y') }}");
  ChatTemplateInput input = conversation(true);
  for (const char* zone : {"EAST-14", "WEST+12"}) {
    ScopedTimeZone tz(zone);
    const std::string before = local_date_now("%d %b %Y");
    const std::string rendered = tmpl.render(input);
    const std::string after = local_date_now("%d %b %Y");
    // Either side of a midnight that may pass during the render.
    EXPECT_TRUE(rendered == before || rendered == after) << zone << ": " << rendered << " vs " << before;
  }
}

TEST(ChatTemplateApi, ParseTemplateDateGivesThatDay) {
  ChatTemplate tmpl("{{ strftime_now('%Y-%m-%d %H:%M') }}");
  ChatTemplateInput input = conversation(true);
  input.now = parse_template_date("2024-02-29");
  EXPECT_EQ(tmpl.render(input), "2024-02-29 12:00");
  EXPECT_EQ(parse_template_date("2026-11-21"), test::reference_now());
  for (const char* bad : {"", "2026-11-1", "2026/11/21", "2025-02-29", "2026-00-10", "2026-11-32", "x026-11-21"}) {
    EXPECT_THROW(parse_template_date(bad), std::invalid_argument) << bad;
  }
}

TEST(ChatTemplateApi, ReusableMovableAndThreadSafe) {
  ChatTemplate original(ChatTemplate::chatml_source());
  ChatTemplate moved(std::move(original));
  std::string expected = moved.render(conversation(true));
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) results[t] = moved.render(conversation(true));
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) EXPECT_EQ(result, expected);
}

TEST(ChatTemplateApi, LongConversations) {
  boost::json::array messages;
  for (int i = 0; i < 2000; ++i) {
    boost::json::object message;
    message["role"] = i % 2 ? "assistant" : "user";
    message["content"] = "message " + std::to_string(i);
    messages.push_back(std::move(message));
  }
  ChatTemplateInput input;
  input.messages = messages;
  std::string prompt = ChatTemplate(ChatTemplate::chatml_source()).render(input);
  EXPECT_NE(prompt.find("<|im_start|>assistant\nmessage 1999<|im_end|>\n<|im_start|>assistant\n"), std::string::npos);
  EXPECT_EQ(prompt.rfind("<|im_start|>user\nmessage 0<|im_end|>", 0), 0u);
}

TEST(ChatTemplateApi, NonStringContentPrintsLikePython) {
  ChatTemplate tmpl("{% for m in messages %}{{ m.content }}|{% endfor %}");
  ChatTemplateInput input;
  input.messages = boost::json::parse(R"([{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                                          {"role": "user", "content": null}, {"role": "user", "content": 1.0}])");
  EXPECT_EQ(tmpl.render(input), "[{'type': 'text', 'text': 'hi'}]|None|1.0|");
}

}  // namespace
}  // namespace tandem::engine
