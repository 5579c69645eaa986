// Reasoning split of local model output (actors/serving/reasoning.h): the same result for every
// split of a stream, tags split across pieces, prefilled <think>, no block, a block cut off, and
// the real reasoning templates of ../shared (Qwen3, DeepSeek-R1) rendered with enable_thinking.
#include "actors/serving/reasoning.h"

#include "engine/chat_template.h"
#include "tests/common/test_data.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tandem::local {
namespace {

// Events folded into comparable lines: "thinking:<text>" / "text:<text>" (adjacent deltas of a
// kind joined) and "signature:<signature>".
std::vector<std::string> fold(const std::vector<schemas::StreamEvent>& events) {
  std::vector<std::string> lines;
  std::string last_kind;
  for (const auto& event : events) {
    std::string kind, text;
    if (const auto* t = std::get_if<schemas::TextDelta>(&event)) {
      kind = "text:";
      text = t->text;
    } else if (const auto* thinking = std::get_if<schemas::ThinkingDelta>(&event)) {
      if (!thinking->signature.empty()) {
        EXPECT_TRUE(thinking->thinking.empty());
        lines.push_back("signature:" + thinking->signature);
        last_kind.clear();
        continue;
      }
      kind = "thinking:";
      text = thinking->thinking;
    } else {
      ADD_FAILURE() << "unexpected event";
      continue;
    }
    EXPECT_FALSE(text.empty()) << "empty " << kind << " delta";
    if (kind == last_kind) {
      lines.back() += text;
    } else {
      lines.push_back(kind + text);
    }
    last_kind = kind;
  }
  return lines;
}

std::vector<std::string> split_at(std::string_view output, const std::vector<size_t>& cuts, bool in_reasoning) {
  ReasoningSplitter splitter(in_reasoning);
  std::vector<schemas::StreamEvent> events;
  size_t from = 0;
  for (size_t cut : cuts) {
    splitter.feed(output.substr(from, cut - from), events);
    from = cut;
  }
  splitter.feed(output.substr(from), events);
  splitter.finish(events);
  return fold(events);
}

std::vector<std::string> whole(std::string_view output, bool in_reasoning) { return split_at(output, {}, in_reasoning); }

// Every split into two and three pieces, and one character at a time, gives `expected`.
void expect_every_split(std::string_view output, bool in_reasoning, const std::vector<std::string>& expected) {
  EXPECT_EQ(whole(output, in_reasoning), expected) << output;
  for (size_t i = 0; i <= output.size(); ++i) {
    ASSERT_EQ(split_at(output, {i}, in_reasoning), expected) << "split at " << i;
    for (size_t j = i; j <= output.size(); ++j) {
      ASSERT_EQ(split_at(output, {i, j}, in_reasoning), expected) << "split at " << i << ", " << j;
    }
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < output.size(); ++i) every.push_back(i);
  EXPECT_EQ(split_at(output, every, in_reasoning), expected) << "one character at a time";
}

TEST(ReasoningSplitter, ThinkBlockThenAnswerAnySplit) {
  const std::string thinking = "The user greets me.\n\nI greet back.";
  expect_every_split("<think>\n" + thinking + "\n</think>\n\nHello there!", false,
                     {"thinking:" + thinking, "signature:" + local_thinking_signature(thinking), "text:Hello there!"});
}

TEST(ReasoningSplitter, PrefilledThinkAnySplit) {
  // DeepSeek-R1's template ends the prompt with "<think>\n": the output starts inside the block.
  const std::string thinking = "Hmm, 2 < 3 and </thin is not a tag.";
  expect_every_split(thinking + "\n</think>\n\nYes.", true,
                     {"thinking:" + thinking, "signature:" + local_thinking_signature(thinking), "text:Yes."});
}

TEST(ReasoningSplitter, NoBlockIsAllAnswer) {
  expect_every_split("  Hello <think>x</think> world", false, {"text:  Hello <think>x</think> world"});
  expect_every_split("<thin", false, {"text:<thin"});
}

TEST(ReasoningSplitter, EmptyBlockGivesNoThinking) {
  // Qwen3 with enable_thinking false writes an empty block itself sometimes.
  expect_every_split("<think>\n\n</think>\n\nJust the answer.", false, {"text:Just the answer."});
}

TEST(ReasoningSplitter, BlockCutOffKeepsReasoningAndSignature) {
  // A length finish inside the block: everything is reasoning (a partial tag too), then signed.
  expect_every_split("<think>\nstill thinking </th", false,
                     {"thinking:still thinking </th",
                      "signature:" + local_thinking_signature("still thinking </th")});
}

TEST(ReasoningSplitter, SecondBlockIsAnswerText) {
  expect_every_split("<think>a</think>b<think>c</think>", false,
                     {"thinking:a", "signature:" + local_thinking_signature("a"), "text:b<think>c</think>"});
}

TEST(ReasoningSplitter, SignatureNamesTheText) {
  EXPECT_NE(local_thinking_signature("a"), local_thinking_signature("b"));
  EXPECT_EQ(local_thinking_signature("a"), local_thinking_signature("a"));
  EXPECT_EQ(local_thinking_signature("a").rfind("tandem-local:", 0), 0u);
}

TEST(ReasoningRewriter, LogprobsStayOnAnswerTokensOnly) {
  ReasoningRewriter rewriter(true);
  std::vector<schemas::StreamEvent> out;
  auto delta = [](std::string text) {
    schemas::TextDelta d;
    d.logprobs.push_back(schemas::TokenLogprob{text, -0.5, {}});
    d.text = std::move(text);
    return d;
  };
  rewriter.add(delta("why"), out);
  rewriter.add(delta("</think>"), out);
  rewriter.add(delta("\n\nok"), out);
  rewriter.add(delta("!"), out);
  rewriter.add(schemas::Finish{}, out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(std::get<schemas::ThinkingDelta>(out[0]).thinking, "why");
  EXPECT_FALSE(std::get<schemas::ThinkingDelta>(out[1]).signature.empty());
  EXPECT_EQ(std::get<schemas::TextDelta>(out[2]).text, "ok");
  EXPECT_TRUE(std::get<schemas::TextDelta>(out[2]).logprobs.empty());  // it also held the tag's newlines
  EXPECT_EQ(std::get<schemas::TextDelta>(out[3]).text, "!");
  ASSERT_EQ(std::get<schemas::TextDelta>(out[3]).logprobs.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<schemas::Finish>(out[4]));
}

TEST(Reasoning, EnableThinkingFromTheRequest) {
  using Mode = schemas::ThinkingConfig::Mode;
  schemas::ThinkingConfig thinking;
  EXPECT_EQ(enable_thinking(thinking), std::nullopt);
  thinking.mode = Mode::disabled;
  EXPECT_EQ(enable_thinking(thinking), false);
  thinking.mode = Mode::enabled;
  EXPECT_EQ(enable_thinking(thinking), true);
  thinking.mode = Mode::adaptive;
  EXPECT_EQ(enable_thinking(thinking), true);
  thinking.effort = schemas::Effort::none;
  EXPECT_EQ(enable_thinking(thinking), false);
  thinking = {};
  thinking.effort = schemas::Effort::low;
  EXPECT_EQ(enable_thinking(thinking), true);
}

std::string read_template(const std::string& name) {
  auto path = test::shared_file("templates/" + name + ".jinja");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string render(const std::string& source, std::optional<bool> thinking) {
  engine::ChatTemplateInput input;
  input.messages = boost::json::parse(R"([{"role":"user","content":"Hi"}])");
  input.bos_token = "<s>";
  input.eos_token = "</s>";
  if (thinking) input.extra_context["enable_thinking"] = *thinking;
  return engine::ChatTemplate(source).render(input);
}

TEST(Reasoning, RealTemplatesOpenOrCloseTheBlock) {
  const auto qwen3 = read_template("Qwen-Qwen3-0.6B");
  const auto deepseek = read_template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B");
  ASSERT_TRUE(template_has_reasoning(qwen3));
  ASSERT_TRUE(template_has_reasoning(deepseek));
  EXPECT_FALSE(template_has_reasoning(read_template("Qwen-Qwen2.5-7B-Instruct")));
  EXPECT_FALSE(template_has_reasoning(read_template("meta-llama-Llama-3.1-8B-Instruct")));

  // Qwen3: the model opens <think> itself; thinking off prefills an empty, closed block.
  EXPECT_FALSE(prompt_opens_reasoning(render(qwen3, std::nullopt)));
  EXPECT_FALSE(prompt_opens_reasoning(render(qwen3, true)));
  const auto qwen3_off = render(qwen3, false);
  EXPECT_NE(qwen3_off.find("<think>\n\n</think>"), std::string::npos);
  EXPECT_FALSE(prompt_opens_reasoning(qwen3_off));
  // DeepSeek-R1 (this copy): "<think>\n" prefilled, closed unless enable_thinking is true.
  EXPECT_TRUE(prompt_opens_reasoning(render(deepseek, true)));
  EXPECT_FALSE(prompt_opens_reasoning(render(deepseek, false)));
  EXPECT_FALSE(prompt_opens_reasoning(render(deepseek, std::nullopt)));
}

TEST(Reasoning, PromptOpensReasoningOnlyAtTheEnd) {
  EXPECT_TRUE(prompt_opens_reasoning("<|Assistant|><think>\n"));
  EXPECT_FALSE(prompt_opens_reasoning("<think>a</think>b"));
  EXPECT_FALSE(prompt_opens_reasoning("<think>\nsomething"));
  EXPECT_FALSE(prompt_opens_reasoning("plain"));
}

}  // namespace
}  // namespace tandem::local
