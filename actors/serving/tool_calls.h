// Tool calls in a local model's output. A chat template teaches its model one way of writing a
// call; this finds which (from the template's own markers) and turns the model's text into the
// protocol-neutral ToolCallStart/ToolCallDelta events, both for a complete output and for text
// arriving token by token. Output that only looks like a call (bad JSON, no name) stays text:
// nothing the model wrote is ever lost.
#pragma once

#include "schemas/internal.h"

#include <string>
#include <string_view>
#include <vector>

namespace tandem::local {

enum class ToolCallFormat {
  none,     // the template teaches no call syntax (Phi-3.5, ChatML fallback): output stays text
  hermes,   // <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call> (Qwen2.5/3, Hermes)
  llama3,   // {"name": ..., "parameters": {...}}, optionally after <|python_tag|> (Llama 3.1/3.2)
  mistral,  // [TOOL_CALLS][{"name": ..., "arguments": {...}, "id": ...}] (Mistral Nemo)
};

std::string_view tool_call_format_name(ToolCallFormat format);

// The syntax `template_source` (a Jinja chat template) asks its model to call tools with.
ToolCallFormat detect_tool_call_format(std::string_view template_source);

// Whether to look for calls at all: the request offered tools and did not say tool_choice none.
bool wants_tool_calls(const schemas::InternalRequest& request);

// Incremental parser for one generation. Text passes through as soon as it cannot be the start
// of a call (a possible marker prefix is held back, like stop strings are); a call is buffered
// until complete and then emitted as ToolCallStart + one ToolCallDelta with its arguments.
// Whitespace that only separates calls from each other or from the end is dropped.
class ToolCallParser {
 public:
  // `protocol` picks the id style of the calls: call_... (OpenAI) or toolu_... (Anthropic).
  ToolCallParser(ToolCallFormat format, schemas::Protocol protocol);

  // Appends the TextDelta / ToolCallStart / ToolCallDelta events `text` completes.
  void feed(std::string_view text, std::vector<schemas::StreamEvent>& out);
  // End of output: flushes held-back text and a call still open (complete if its JSON is).
  void finish(std::vector<schemas::StreamEvent>& out);

  int calls_emitted() const { return calls_; }

 private:
  enum class State { text, block };
  enum class Scan { open, done, invalid };
  void scan_text(std::vector<schemas::StreamEvent>& out);
  void open_block(std::string start, size_t body_start, bool bare);
  Scan scan_block(size_t& position);
  bool emit_calls(std::string_view body, std::vector<schemas::StreamEvent>& out);
  void emit_text(std::string_view text, std::vector<schemas::StreamEvent>& out);
  void emit_call(const std::string& name, const std::string& arguments,
                 std::vector<schemas::StreamEvent>& out);

  ToolCallFormat format_;
  schemas::Protocol protocol_;
  State state_ = State::text;
  std::string input_;       // text not yet decided on
  std::string block_;       // the open call block as written (marker included), for fallback
  size_t body_start_ = 0;   // where the block's JSON starts in block_
  size_t scanned_ = 0;      // JSON-balance scan position in block_
  int depth_ = 0;           // JSON nesting depth at scanned_
  int significant_ = 0;     // JSON tokens seen (non-space characters outside strings, strings)
  char opener_ = 0;
  bool in_string_ = false, escaped_ = false;
  bool bare_ = false;       // block opened by a JSON value at the start, not by a marker
  std::string pending_ws_;  // whitespace not yet known to be text rather than call separation
  bool seen_text_ = false;  // non-whitespace text already emitted
  bool after_call_ = false; // nothing but whitespace since the last call
  int calls_ = 0;
};

// Parses a complete output into content parts in order (TextPart / ToolCallPart).
std::vector<schemas::ContentPart> parse_tool_calls(ToolCallFormat format, std::string_view output,
                                                   schemas::Protocol protocol);

// Rewrites one generation's events for a request with tools: its text goes through a
// ToolCallParser and Finish becomes `tool_calls` when calls were emitted (a stop at the end of
// the call; a length cut keeps `length`). Other events pass through in order.
class ToolCallRewriter {
 public:
  ToolCallRewriter(ToolCallFormat format, schemas::Protocol protocol) : parser_(format, protocol) {}
  void add(schemas::StreamEvent event, std::vector<schemas::StreamEvent>& out);

 private:
  ToolCallParser parser_;
};

}  // namespace tandem::local
