// Answers in the exact shapes of the public API references, for the fake upstream to send:
// Anthropic Messages (complete, and the event stream with message_start, content blocks, ping,
// thinking + signature, tool_use with input_json_delta, message_delta usage incl. cache fields,
// message_stop, error events) and OpenAI chat completions (complete, and chunks with tool_calls
// deltas, a usage chunk and [DONE]).
#pragma once

#include "tests/fakes/fake_upstream.h"

#include <optional>
#include <string>
#include <vector>

namespace tandem::fakes {

struct FakeToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text
};

// One assistant answer, described protocol-neutrally; the builders render it.
struct FakeAnswer {
  std::string id = "msg_fake01";
  std::string model = "fake-model";
  std::string thinking;   // Anthropic thinking block / OpenAI-style reasoning_content
  std::string signature = "sig_fake_signature";
  std::string text = "Hello from the fake upstream.";
  std::vector<FakeToolCall> tool_calls;
  std::string stop_reason;  // in the rendering protocol's words; empty: end_turn / stop, or tool_use / tool_calls
  std::string stop_sequence;
  long input_tokens = 12;
  long output_tokens = 7;
  std::optional<long> cache_read_tokens;
  std::optional<long> cache_creation_tokens;
  std::size_t text_pieces = 3;  // how many deltas the text is split into when streamed
};

std::string anthropic_message_json(const FakeAnswer& answer);
std::vector<std::string> anthropic_stream_frames(const FakeAnswer& answer);
std::string anthropic_error_json(std::string_view type, std::string_view message);
std::string anthropic_error_frame(std::string_view type, std::string_view message);

std::string openai_chat_json(const FakeAnswer& answer);
std::vector<std::string> openai_stream_frames(const FakeAnswer& answer, bool include_usage);
std::string openai_error_json(std::string_view type, std::string_view message, std::string_view code = {});

// A stateless script for standalone use (SDK tests, benchmarks): answers /v1/messages in the
// Anthropic shape and /v1/chat/completions in the OpenAI shape, streamed when the body says
// "stream": true; /v1/messages/count_tokens with {"input_tokens": 17}. A requested model named
// "error-NNN" gets that status with the protocol's error body (and retry-after: 1 for 429/529);
// "tools" answers with two tool calls; "think" adds reasoning.
ScriptedResponse protocol_answer(const RecordedRequest& request);

// Splits `text` into `pieces` parts of similar size (UTF-8 safe enough for ASCII test text).
std::vector<std::string> split_text(const std::string& text, std::size_t pieces);

}  // namespace tandem::fakes
