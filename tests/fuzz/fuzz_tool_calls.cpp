// libFuzzer target: the tool-call parser on arbitrary model output. Invariants: it never crashes;
// feeding the output in any pieces (one call, byte by byte, random chunks) gives the same text
// and the same calls as parse_tool_calls on the whole; output with no call in it comes back as
// the very same text (nothing the model wrote is lost).
#include "actors/serving/tool_calls.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace tandem;

// What a client ends up with: text runs and calls in order. Ids are random by design, so only
// the count of id characters is kept.
struct Folded {
  std::vector<std::string> parts;  // "T:<text>" or "C:<name>:<arguments>"

  bool operator==(const Folded&) const = default;
};

Folded fold(const std::vector<schemas::StreamEvent>& events) {
  Folded folded;
  for (const auto& event : events) {
    if (const auto* text = std::get_if<schemas::TextDelta>(&event)) {
      if (text->text.empty()) continue;
      if (!folded.parts.empty() && folded.parts.back().rfind("T:", 0) == 0) {
        folded.parts.back() += text->text;
      } else {
        folded.parts.push_back("T:" + text->text);
      }
    } else if (const auto* start = std::get_if<schemas::ToolCallStart>(&event)) {
      folded.parts.push_back("C:" + start->name + ":");
    } else if (const auto* delta = std::get_if<schemas::ToolCallDelta>(&event)) {
      if (folded.parts.empty() || folded.parts.back().rfind("C:", 0) != 0) std::abort();  // delta without start
      folded.parts.back() += delta->arguments;
    }
  }
  return folded;
}

Folded fold(const std::vector<schemas::ContentPart>& parts) {
  Folded folded;
  for (const auto& part : parts) {
    if (const auto* text = std::get_if<schemas::TextPart>(&part)) {
      if (text->text.empty()) continue;
      if (!folded.parts.empty() && folded.parts.back().rfind("T:", 0) == 0) {
        folded.parts.back() += text->text;
      } else {
        folded.parts.push_back("T:" + text->text);
      }
    } else if (const auto* call = std::get_if<schemas::ToolCallPart>(&part)) {
      folded.parts.push_back("C:" + call->name + ":" + call->arguments);
    }
  }
  return folded;
}

// Feeds `output` cut at the given lengths (the rest in one last piece).
Folded feed_in_pieces(local::ToolCallFormat format, std::string_view output,
                      const std::vector<size_t>& lengths) {
  local::ToolCallParser parser(format, schemas::Protocol::openai);
  std::vector<schemas::StreamEvent> events;
  size_t at = 0;
  for (size_t length : lengths) {
    if (at >= output.size()) break;
    length = std::min(length, output.size() - at);
    parser.feed(output.substr(at, length), events);
    at += length;
  }
  parser.feed(output.substr(at), events);
  parser.finish(events);
  return fold(events);
}

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const local::ToolCallFormat kFormats[] = {local::ToolCallFormat::none, local::ToolCallFormat::hermes,
                                                 local::ToolCallFormat::llama3, local::ToolCallFormat::mistral};
  const local::ToolCallFormat format = kFormats[data[0] % 4];
  const uint8_t chunk_seed = data[1];
  std::string_view output(reinterpret_cast<const char*>(data + 2), size - 2);

  const Folded whole = fold(local::parse_tool_calls(format, output, schemas::Protocol::openai));
  check(feed_in_pieces(format, output, {}) == whole);
  check(feed_in_pieces(format, output, std::vector<size_t>(output.size(), 1)) == whole);
  // Chunk lengths 1..16 from a small generator seeded by the input.
  std::vector<size_t> lengths;
  uint32_t state = chunk_seed * 2654435761u + 1;
  for (size_t total = 0; total < output.size();) {
    state = state * 1103515245u + 12345u;
    lengths.push_back(1 + (state >> 16) % 16);
    total += lengths.back();
  }
  check(feed_in_pieces(format, output, lengths) == whole);

  // No call found: the text is exactly what the model wrote.
  bool any_call = false;
  std::string text;
  for (const auto& part : whole.parts) {
    if (part.rfind("C:", 0) == 0) any_call = true;
    else text += part.substr(2);
  }
  if (!any_call) check(text == output);
  return 0;
}
