// The OpenAI protocol: Chat Completions and legacy Completions, both as a server (client requests
// in, responses out) and as a client of an OpenAI-compatible cloud provider (requests out,
// responses and streams in). Streaming output to clients lives in schemas/stream_writer.h.
#pragma once

#include "schemas/errors.h"
#include "schemas/internal.h"
#include "schemas/sse.h"

#include <boost/json/object.hpp>

#include <string_view>
#include <vector>

namespace tandem::schemas {

// ---------------------------------------------------------------- client requests in

// POST /v1/chat/completions. A wrong content type, empty or malformed body, or any rule of the
// API broken gives the 400 to answer with (message naming the field, param set).
Result<InternalRequest> parse_openai_chat_request(std::string_view body, std::string_view content_type);
Result<InternalRequest> openai_chat_request_from_json(boost::json::value body);  // kept as `original`

// POST /v1/completions (legacy): prompt as a string, strings, token ids or arrays of token ids;
// max_tokens defaults to 16 (0 only with echo, for scoring); `suffix` is refused.
Result<InternalRequest> parse_openai_completion_request(std::string_view body, std::string_view content_type);
Result<InternalRequest> openai_completion_request_from_json(boost::json::value body);  // kept as `original`

// ---------------------------------------------------------------- responses out

// `chat.completion` with one choice per result (n > 1: several; id/model/created from the first,
// usage summed over the output tokens, input counted once).
boost::json::object openai_chat_response(const TextResult& result);
boost::json::object openai_chat_response(const std::vector<TextResult>& choices);
// `text_completion` (legacy). Legacy logprobs carry text_offset counted from the start of the
// returned text (which includes the prompt when echo was asked).
boost::json::object openai_completion_response(const TextResult& result);
boost::json::object openai_completion_response(const std::vector<TextResult>& choices);

std::string_view openai_finish_reason(FinishReason reason);   // stop, length, tool_calls, content_filter
FinishReason finish_reason_from_openai(std::string_view reason);

// Pieces the stream writers share.
boost::json::object openai_usage_json(const Usage& usage);
// The `reasoning_effort` for a thinking config ("" when the client asked nothing).
std::string openai_reasoning_effort(const ThinkingConfig& thinking);
// OpenAI reasoning efforts ("none" ... "xhigh") into the thinking config; the error names `param`.
void apply_openai_reasoning_effort(std::string_view effort, ThinkingConfig& thinking);
boost::json::object openai_chat_logprobs_json(const std::vector<TokenLogprob>& logprobs);
boost::json::object openai_completion_logprobs_json(const std::vector<TokenLogprob>& logprobs,
                                                    int64_t first_text_offset = 0);

// ---------------------------------------------------------------- cloud provider side

struct OpenAiRequestOptions {
  bool use_max_completion_tokens = false;  // newer models refuse `max_tokens`
  bool request_stream_usage = true;        // ask for the usage chunk so Finish carries usage
};
// Internal → OpenAI Chat Completions request JSON. An OpenAI request is better sent as its
// `original` (see request_for_provider in schemas/translate.h).
boost::json::object to_openai_chat_request(const InternalRequest& request, const OpenAiRequestOptions& options = {});

// A provider's complete `chat.completion` (first choice). An error body becomes the ApiError.
Result<TextResult> parse_openai_chat_response(std::string_view body);
Result<TextResult> openai_chat_response_from_json(const boost::json::value& body);

// A provider's SSE stream of `chat.completion.chunk`s → StreamEvents, one SSE event at a time.
// Finish is emitted at `data: [DONE]` (after the optional usage chunk), or by finish() when the
// stream ended without it.
class OpenAiStreamDecoder {
 public:
  std::vector<StreamEvent> decode(const SseEvent& event);
  std::vector<StreamEvent> finish();  // at end of stream
  bool done() const { return done_; }

 private:
  void emit_start(const boost::json::object& chunk, std::vector<StreamEvent>& out);
  bool started_ = false;
  bool done_ = false;
  std::optional<FinishReason> finish_reason_;
  Usage usage_;
  std::vector<int> seen_tool_indices_;
};

}  // namespace tandem::schemas
