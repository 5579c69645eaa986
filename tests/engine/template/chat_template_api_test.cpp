// The ChatTemplate API as the server uses it: default ChatML, the variables HF passes, the
// clock, reuse across renders and threads.
#include "engine/chat_template.h"
#include "tests/engine/template/render_helper.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <ctime>
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

TEST(ChatTemplateApi, StrftimeNowUsesTheInjectedClockElseRealTime) {
  ChatTemplate tmpl("{{ strftime_now('%d %b %Y') }}");
  ChatTemplateInput input = conversation(true);
  input.now = test::reference_now();
  EXPECT_EQ(tmpl.render(input), "21 Nov 2026");

  input.now.reset();
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char expected[64];
  std::strftime(expected, sizeof expected, "%d %b %Y", &local);
  EXPECT_EQ(tmpl.render(input), expected);
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
