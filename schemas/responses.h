// The OpenAI Responses API (POST /v1/responses): requests into the internal form, the complete
// `response` object, and the semantic event stream. Continuations (previous_response_id) and
// GET/DELETE use the bounded store in schemas/response_store.h.
//
// The stream, for a reasoning item, a text message and a function call:
//   response.created, response.in_progress,
//   response.output_item.added (reasoning), response.reasoning_text.delta..., response.reasoning_text.done,
//     response.output_item.done,
//   response.output_item.added (message), response.content_part.added, response.output_text.delta...,
//     response.output_text.done, response.content_part.done, response.output_item.done,
//   response.output_item.added (function_call), response.function_call_arguments.delta...,
//     response.function_call_arguments.done, response.output_item.done,
//   response.completed (or response.incomplete when max_output_tokens cut it short);
//   a failure midway: `error`, then response.failed.
// Every event carries `type` and an increasing `sequence_number`; there is no [DONE].
#pragma once

#include "schemas/errors.h"
#include "schemas/internal.h"
#include "schemas/stream_writer.h"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::schemas {

// ---------------------------------------------------------------- client requests in

// `input` (a string, or message / function_call / function_call_output / reasoning items),
// `instructions` (the system text), function `tools`, `tool_choice`, `max_output_tokens`,
// sampling fields, `text.format`, `reasoning.effort`, `store`, `previous_response_id`.
// Refused: `background: true`, `conversation`, `prompt`, `item_reference` items, hosted tools.
// Protocol::openai, Endpoint::responses; Responses state in `request.responses`.
Result<InternalRequest> parse_responses_request(std::string_view body, std::string_view content_type);
Result<InternalRequest> responses_request_from_json(boost::json::value body);  // kept as `original`

// ---------------------------------------------------------------- responses out

// One output item of a response, with the id it is known by (stream and stored object agree).
struct ResponseItem {
  std::string id;
  boost::json::object json;
};

// The output items for a result: reasoning (thinking), one message for the text, one
// function_call per tool call, in output order; `status` of an unfinished message is "incomplete".
std::vector<ResponseItem> responses_output_items(const TextResult& result);

// The `response` object. The request's settings (instructions, tools, tool_choice, text.format,
// reasoning, sampling, store, previous_response_id, metadata) are echoed as OpenAI does.
// `status`: completed, incomplete (max_output_tokens / content_filter), or failed (error).
boost::json::object responses_response(const InternalRequest& request, const TextResult& result);
boost::json::object responses_response(const InternalRequest& request, const TextResult& result,
                                       const std::vector<ResponseItem>& output);
boost::json::object responses_usage_json(const Usage& usage);
// DELETE /v1/responses/{id}: {"id","object":"response","deleted":true}.
boost::json::object responses_deleted(std::string_view id);

// ---------------------------------------------------------------- responses read back
// A `response` object (an upstream's, passed through) as the result it carries: message text,
// function calls, reasoning, status (incomplete: length, failed: error), usage. Not a response
// object (no `object: "response"` or no id): an error.
Result<TextResult> responses_result_from_json(const boost::json::object& response);
// The `response` of the response.completed (or response.incomplete) event among SSE frames.
std::optional<boost::json::object> responses_final_response(std::string_view sse_frames);

// The response object's `status` (and incomplete_details.reason) for a finish reason.
std::string_view responses_status(FinishReason reason);

// Feed StreamEvents in order; write() returns the SSE frames. The final `response` (as
// response.completed carried it) is kept for the store.
class ResponsesStreamWriter final : public StreamWriter {
 public:
  ResponsesStreamWriter(const InternalRequest& request, StreamWriterOptions options);
  std::string write(const StreamEvent& event) override;

  // After finished(): the response object and the folded result under the response's id, model
  // and creation time (for make_stored_response / ResponseStore::put).
  const boost::json::object& response() const { return response_; }
  TextResult result() const;

 private:
  enum class Item { none, reasoning, message, function_call };
  std::string event(std::string_view type, boost::json::object data);
  std::string start(const MessageStart& event);
  std::string open_item(Item kind, boost::json::object item);
  std::string close_item();
  boost::json::object snapshot(std::string_view status) const;

  const InternalRequest& request_;
  StreamWriterOptions options_;
  ResultBuilder builder_;
  bool started_ = false;
  int64_t sequence_ = 0;
  Usage usage_;
  Item current_ = Item::none;
  std::string current_text_;          // text / reasoning / arguments of the open item
  std::vector<TokenLogprob> current_logprobs_;  // of the open message's text (when asked for)
  boost::json::object current_item_;  // the open item as announced
  std::vector<ResponseItem> output_;  // closed items
  std::vector<std::pair<int, size_t>> tool_items_;  // tool call index -> output index
  boost::json::object response_;
};

}  // namespace tandem::schemas
