// The Anthropic Messages protocol, as a server (client requests in, responses out) and as a
// client of Anthropic's API (requests out, responses and streams in). Streaming output to clients
// lives in schemas/stream_writer.h.
#pragma once

#include "schemas/errors.h"
#include "schemas/internal.h"
#include "schemas/sse.h"

#include <boost/json/object.hpp>

#include <string_view>
#include <vector>

namespace tandem::schemas {

// ---------------------------------------------------------------- client requests in

// POST /v1/messages. Any broken rule gives the 400 to answer with, message naming the field.
Result<InternalRequest> parse_anthropic_messages_request(std::string_view body, std::string_view content_type);
Result<InternalRequest> anthropic_messages_request_from_json(boost::json::value body);  // kept as `original`

// POST /v1/messages/count_tokens: the same body without max_tokens (and nothing to sample).
Result<InternalRequest> parse_anthropic_count_tokens_request(std::string_view body, std::string_view content_type);
Result<InternalRequest> anthropic_count_tokens_request_from_json(boost::json::value body);  // kept as `original`

// ---------------------------------------------------------------- responses out

boost::json::object anthropic_message_response(const TextResult& result);
boost::json::object anthropic_count_tokens_response(int64_t input_tokens);  // {"input_tokens": N}
boost::json::object anthropic_usage_json(const Usage& usage);
// A tool call's `input` object from its JSON arguments text ({} when they are not an object).
boost::json::object anthropic_tool_input(std::string_view arguments);

std::string_view anthropic_stop_reason(FinishReason reason);  // end_turn, max_tokens, stop_sequence, tool_use, refusal
FinishReason finish_reason_from_anthropic(std::string_view reason);

// ---------------------------------------------------------------- cloud provider side

struct AnthropicRequestOptions {
  int64_t default_max_tokens = 4096;  // Anthropic requires max_tokens; OpenAI clients may omit it
};
// Internal → Anthropic Messages request JSON: system messages into `system`, tool messages into
// tool_result blocks of a user turn, consecutive same-role turns merged, temperature clamped to 1.
boost::json::object to_anthropic_request(const InternalRequest& request, const AnthropicRequestOptions& options = {});

// A provider's complete `message`. An error body becomes the ApiError.
Result<TextResult> parse_anthropic_message_response(std::string_view body);
Result<TextResult> anthropic_message_response_from_json(const boost::json::value& body);

// A provider's SSE stream → StreamEvents, one SSE event at a time. Finish is emitted at
// message_stop; an `error` event becomes StreamError.
class AnthropicStreamDecoder {
 public:
  std::vector<StreamEvent> decode(const SseEvent& event);
  std::vector<StreamEvent> finish();  // at end of stream
  bool done() const { return done_; }

 private:
  bool done_ = false;
  Usage usage_;
  std::optional<FinishReason> stop_reason_;
  std::string stop_sequence_;
  std::vector<std::pair<int64_t, int>> tool_blocks_;  // content block index -> tool call index
};

}  // namespace tandem::schemas
