// Tool-call parsing of local model output (actors/serving/tool_calls.h): each format the shared chat
// templates teach, complete and streamed split anywhere, and the fall back to text.
#include "actors/serving/tool_calls.h"

#include "tests/common/test_data.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tandem::local {
namespace {

using schemas::Protocol;
using schemas::StreamEvent;

// Events folded into comparable lines: "text:<text>" (adjacent deltas joined) and
// "call:<index>:<name>:<arguments>" (ids vary; checked separately).
std::vector<std::string> fold(const std::vector<StreamEvent>& events) {
  std::vector<std::string> lines;
  bool last_text = false;
  for (const auto& event : events) {
    if (const auto* text = std::get_if<schemas::TextDelta>(&event)) {
      if (text->text.empty()) continue;
      if (last_text) {
        lines.back() += text->text;
      } else {
        lines.push_back("text:" + text->text);
      }
      last_text = true;
      continue;
    }
    last_text = false;
    if (const auto* start = std::get_if<schemas::ToolCallStart>(&event)) {
      lines.push_back("call:" + std::to_string(start->index) + ":" + start->name + ":");
    } else if (const auto* delta = std::get_if<schemas::ToolCallDelta>(&event)) {
      EXPECT_FALSE(lines.empty());
      EXPECT_EQ(lines.back().rfind("call:" + std::to_string(delta->index) + ":", 0), 0u)
          << "arguments of call " << delta->index << " follow another event";
      lines.back() += delta->arguments;
    }
  }
  return lines;
}

std::vector<StreamEvent> parse_in_pieces(ToolCallFormat format, const std::vector<std::string>& pieces,
                                         Protocol protocol = Protocol::openai) {
  ToolCallParser parser(format, protocol);
  std::vector<StreamEvent> events;
  for (const auto& piece : pieces) parser.feed(piece, events);
  parser.finish(events);
  return events;
}

std::vector<std::string> parse_whole(ToolCallFormat format, const std::string& output) {
  return fold(parse_in_pieces(format, {output}));
}

// The result of `output` parsed whole; fails unless every two-piece split and the byte-by-byte
// stream give the same result.
std::vector<std::string> parse_everywhere(ToolCallFormat format, const std::string& output) {
  const auto whole = parse_whole(format, output);
  for (size_t split = 0; split <= output.size(); ++split) {
    EXPECT_EQ(fold(parse_in_pieces(format, {output.substr(0, split), output.substr(split)})), whole)
        << "split at byte " << split << " of: " << output;
  }
  std::vector<std::string> bytes;
  for (char c : output) bytes.emplace_back(1, c);
  EXPECT_EQ(fold(parse_in_pieces(format, bytes)), whole) << "byte by byte: " << output;
  return whole;
}

using Lines = std::vector<std::string>;

// ---------------------------------------------------------------- format detection

TEST(ToolCallFormatTest, DetectedFromTheSharedTemplates) {
  const std::pair<const char*, ToolCallFormat> cases[] = {
      {"Qwen-Qwen2.5-7B-Instruct", ToolCallFormat::hermes},
      {"Qwen-Qwen3-0.6B", ToolCallFormat::hermes},
      {"meta-llama-Llama-3.1-8B-Instruct", ToolCallFormat::llama3},
      {"meta-llama-Llama-3.2-3B-Instruct", ToolCallFormat::llama3},
      {"mistralai-Mistral-Nemo-Instruct-2407", ToolCallFormat::mistral},
      {"microsoft-Phi-3.5-mini-instruct", ToolCallFormat::none},
  };
  for (const auto& [name, expected] : cases) {
    auto path = test::shared_file(std::string("templates/") + name + ".jinja");
    ASSERT_FALSE(path.empty());
    EXPECT_EQ(tool_call_format_name(detect_tool_call_format(test::read_file(path))),
              tool_call_format_name(expected))
        << name;
  }
  EXPECT_EQ(detect_tool_call_format("{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}"),
            ToolCallFormat::none);
}

TEST(ToolCallFormatTest, ToolChoiceNoneOrNoToolsMeansNoParsing) {
  schemas::InternalRequest request;
  EXPECT_FALSE(wants_tool_calls(request));
  request.tools.push_back(schemas::ToolDefinition{"get_weather", "", {}, false});
  EXPECT_TRUE(wants_tool_calls(request));
  request.tool_choice.mode = schemas::ToolChoice::Mode::auto_;
  EXPECT_TRUE(wants_tool_calls(request));
  request.tool_choice.mode = schemas::ToolChoice::Mode::none;
  EXPECT_FALSE(wants_tool_calls(request));
}

// ---------------------------------------------------------------- Hermes (Qwen)

const std::string kWeatherCall =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>";

TEST(HermesToolCallsTest, OneCall) {
  EXPECT_EQ(parse_everywhere(ToolCallFormat::hermes, kWeatherCall),
            (Lines{"call:0:get_weather:{\"city\":\"Paris\",\"days\":2}"}));
}

TEST(HermesToolCallsTest, TextBeforeAndAfterIsKept) {
  EXPECT_EQ(parse_everywhere(ToolCallFormat::hermes, "Let me check the weather.\n" + kWeatherCall + "\nOne moment."),
            (Lines{"text:Let me check the weather.", "call:0:get_weather:{\"city\":\"Paris\",\"days\":2}",
                   "text:One moment."}));
}

TEST(HermesToolCallsTest, ParallelCallsGetIndexesAndDistinctIds) {
  const std::string output = kWeatherCall +
                             "\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}\n</tool_call>\n";
  EXPECT_EQ(parse_everywhere(ToolCallFormat::hermes, output),
            (Lines{"call:0:get_weather:{\"city\":\"Paris\",\"days\":2}", "call:1:get_time:{\"zone\":\"CET\"}"}));
  auto parts = parse_tool_calls(ToolCallFormat::hermes, output, Protocol::openai);
  ASSERT_EQ(parts.size(), 2u);
  const auto& first = std::get<schemas::ToolCallPart>(parts[0]);
  const auto& second = std::get<schemas::ToolCallPart>(parts[1]);
  EXPECT_EQ(first.id.rfind("call_", 0), 0u) << first.id;
  EXPECT_GT(first.id.size(), 10u);
  EXPECT_NE(first.id, second.id);
}

TEST(HermesToolCallsTest, AnthropicCallsGetToolUseIds) {
  auto parts = parse_tool_calls(ToolCallFormat::hermes, kWeatherCall, Protocol::anthropic);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(std::get<schemas::ToolCallPart>(parts[0]).id.rfind("toolu_", 0), 0u);
}

TEST(HermesToolCallsTest, ArgumentsAsJsonTextAndMissingArguments) {
  EXPECT_EQ(parse_everywhere(ToolCallFormat::hermes,
                             "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": [1, \\\"}\\\"]}\"}</tool_call>"),
            (Lines{"call:0:f:{\"a\":[1,\"}\"]}"}));
  EXPECT_EQ(parse_everywhere(ToolCallFormat::hermes, "<tool_call>{\"name\": \"now\"}</tool_call>"),
            (Lines{"call:0:now:{}"}));
}

TEST(HermesToolCallsTest, MalformedCallsStayTextUnchanged) {
  const std::string cases[] = {
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {city: Paris}}\n</tool_call>",  // bad JSON
      "<tool_call>\n{\"arguments\": {}}\n</tool_call>",                                       // no name
      "<tool_call>\n{\"name\": \"f\", \"arguments\": [1, 2]}\n</tool_call>",                  // not an object
      "<tool_call>\n{\"name\": \"f\", \"arguments\": {}} trailing\n</tool_call>",             // extra text
      "Say <tool_call> to call a tool.",                                                       // prose
      "Ends with <tool_",                                                                      // marker cut
  };
  for (const auto& output : cases) {
    EXPECT_EQ(parse_everywhere(ToolCallFormat::hermes, output), (Lines{"text:" + output}));
  }
}

TEST(HermesToolCallsTest, MalformedCallThenValidCall) {
  const std::string bad = "<tool_call>{\"name\": 1}</tool_call>";
  EXPECT_EQ(parse_everywhere(ToolCallFormat::hermes, bad + "\n" + kWeatherCall),
            (Lines{"text:" + bad, "call:0:get_weather:{\"city\":\"Paris\",\"days\":2}"}));
  // A marker followed by prose is released at the prose; a later real call still parses.
  EXPECT_EQ(parse_everywhere(ToolCallFormat::hermes, "<tool_call> is the tag. " + kWeatherCall),
            (Lines{"text:<tool_call> is the tag.", "call:0:get_weather:{\"city\":\"Paris\",\"days\":2}"}));
}

TEST(HermesToolCallsTest, UnterminatedCallParsesWhenItsJsonIsComplete) {
  EXPECT_EQ(parse_everywhere(ToolCallFormat::hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n"),
            (Lines{"call:0:f:{\"x\":1}"}));
  // Cut by max_tokens in the middle of the JSON: all of it comes back as text.
  const std::string cut = "Checking.\n<tool_call>\n{\"name\": \"f\", \"argum";
  EXPECT_EQ(parse_everywhere(ToolCallFormat::hermes, cut), (Lines{"text:" + cut}));
}

TEST(HermesToolCallsTest, TextStreamsUntilAMarkerCouldStart) {
  ToolCallParser parser(ToolCallFormat::hermes, Protocol::openai);
  std::vector<StreamEvent> events;
  parser.feed("The answer is 4", events);
  EXPECT_EQ(fold(events), (Lines{"text:The answer is 4"}));
  events.clear();
  parser.feed(". <tool", events);  // "<tool" may be a marker: held, as is the space before it
  EXPECT_EQ(fold(events), (Lines{"text:."}));
  events.clear();
  parser.feed("box> is a word", events);
  EXPECT_EQ(fold(events), (Lines{"text: <toolbox> is a word"}));
  events.clear();
  parser.feed("\n<tool_call>\n{\"name\": \"f\", ", events);  // an open call: nothing yet
  EXPECT_TRUE(fold(events).empty());
  parser.feed("\"arguments\": {}}\n</tool_call>", events);
  EXPECT_EQ(fold(events), (Lines{"call:0:f:{}"}));
  EXPECT_EQ(parser.calls_emitted(), 1);
}

TEST(HermesToolCallsTest, PlainTextIsUntouchedByEveryFormat) {
  const std::string text = "\n  Hello, {world} [1] <b>bold</b>\n\n";
  for (auto format : {ToolCallFormat::none, ToolCallFormat::hermes, ToolCallFormat::llama3, ToolCallFormat::mistral}) {
    EXPECT_EQ(parse_everywhere(format, text), (Lines{"text:" + text})) << tool_call_format_name(format);
  }
}

TEST(HermesToolCallsTest, FormatNoneNeverParses) {
  EXPECT_EQ(parse_everywhere(ToolCallFormat::none, kWeatherCall), (Lines{"text:" + kWeatherCall}));
}

// ---------------------------------------------------------------- Llama 3.x

TEST(Llama3ToolCallsTest, BareJsonWithParameters) {
  EXPECT_EQ(parse_everywhere(ToolCallFormat::llama3,
                             "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"note\": \"a } b\"}}"),
            (Lines{"call:0:get_weather:{\"city\":\"Paris\",\"note\":\"a } b\"}"}));
  EXPECT_EQ(parse_everywhere(ToolCallFormat::llama3, "\n {\"type\": \"function\", \"name\": \"f\", \"parameters\": {}}\n"),
            (Lines{"call:0:f:{}"}));
}

TEST(Llama3ToolCallsTest, PythonTagMarker) {
  EXPECT_EQ(parse_everywhere(ToolCallFormat::llama3, "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"q\": \"x\"}}"),
            (Lines{"call:0:f:{\"q\":\"x\"}"}));
}

TEST(Llama3ToolCallsTest, JsonThatIsNoCallStaysText) {
  const std::string cases[] = {
      "{\"answer\": 42}",                     // an object, but not a call
      "{not json at all}",                    // released at the second character
      "{\"name\": \"f\", \"parameters\": {",  // cut short
      "Sure: {\"name\": \"f\", \"parameters\": {}}",  // a call only opens the answer
  };
  for (const auto& output : cases) {
    EXPECT_EQ(parse_everywhere(ToolCallFormat::llama3, output), (Lines{"text:" + output}));
  }
}

TEST(Llama3ToolCallsTest, ProseStartingWithABraceIsReleasedAtOnce) {
  ToolCallParser parser(ToolCallFormat::llama3, Protocol::openai);
  std::vector<StreamEvent> events;
  parser.feed("{x", events);
  EXPECT_EQ(fold(events), (Lines{"text:{x"}));
}

// ---------------------------------------------------------------- Mistral

TEST(MistralToolCallsTest, MarkedArrayOfCalls) {
  EXPECT_EQ(parse_everywhere(ToolCallFormat::mistral,
                             "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"x\": 1}, \"id\": \"abc123def\"}, "
                             "{\"name\": \"b\", \"arguments\": {}}]"),
            (Lines{"call:0:a:{\"x\":1}", "call:1:b:{}"}));
}

TEST(MistralToolCallsTest, BareArrayAtTheStart) {
  // [TOOL_CALLS] is a control token the detokenizer drops: the array arrives alone.
  EXPECT_EQ(parse_everywhere(ToolCallFormat::mistral, "[{\"name\": \"a\", \"arguments\": {\"s\": \"[x]\"}}]"),
            (Lines{"call:0:a:{\"s\":\"[x]\"}"}));
}

TEST(MistralToolCallsTest, TextAndBrokenCallsStayText) {
  const std::string cases[] = {
      "[1] is a footnote",
      "[TOOL_CALLS] none",
      "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}, {\"arguments\": {}}]",  // one bad: all text
      "[]",
  };
  for (const auto& output : cases) {
    EXPECT_EQ(parse_everywhere(ToolCallFormat::mistral, output), (Lines{"text:" + output}));
  }
}

TEST(MistralToolCallsTest, MarkerAfterText) {
  EXPECT_EQ(parse_everywhere(ToolCallFormat::mistral, "Let me look. [TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}]"),
            (Lines{"text:Let me look.", "call:0:a:{}"}));
}

}  // namespace
}  // namespace tandem::local
