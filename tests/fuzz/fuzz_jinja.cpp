// libFuzzer target: the chat-template lexer, parser and evaluator on arbitrary template text.
// Chat templates come from downloaded GGUF files, so any source must either fail to parse with a
// TemplateError or render (or fail) with a TemplateError — under a tight render budget, so a
// runaway template is an error too, never a hang, a crash or an exhausted memory.
#include "engine/chat_template.h"

#include <boost/json/parse.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace {

const boost::json::value& sample_messages() {
  static const boost::json::value messages = boost::json::parse(R"([
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi \u00e9\u4e16 <|im_end|> {{ x }}"},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
      "function": {"name": "get", "arguments": {"city": "Paris", "days": [1, 2.5, null, true]}}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\": 21}"},
    {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]}])");
  return messages;
}

const boost::json::value& sample_tools() {
  static const boost::json::value tools = boost::json::parse(R"([{"type": "function",
    "function": {"name": "get", "description": "weather", "parameters": {"type": "object",
    "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");
  return tools;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem::engine;
  std::string source(reinterpret_cast<const char*>(data), size);
  try {
    ChatTemplate chat_template(source);
    ChatTemplateInput input;
    input.messages = sample_messages();
    input.tools = (size % 2 == 0) ? sample_tools() : boost::json::value();
    input.bos_token = "<s>";
    input.eos_token = "</s>";
    input.now = std::chrono::system_clock::time_point(std::chrono::hours(24 * 20000));
    // Tight enough that each input costs milliseconds; the limits themselves are what is fuzzed.
    input.budget.max_output_bytes = 64 << 10;
    input.budget.max_string_bytes = 64 << 10;
    input.budget.max_items = 4'096;
    input.budget.max_steps = 20'000;
    input.budget.max_time = std::chrono::milliseconds(2000);
    (void)chat_template.render(input);
  } catch (const TemplateError&) {
    // The one way a template may fail.
  }
  return 0;
}
