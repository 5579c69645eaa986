// Pieces of tandem-load shared between its .cpp files and the self-test; not for other users.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/load/load.h"
#include "schemas/sse.h"

namespace tandem::load {

using Clock = std::chrono::steady_clock;

// Server-Sent Events come apart with the protocol library's incremental parser (tandem-load
// needs nothing else from schemas/).
using SseParser = schemas::SseParser;
using SseEvent = schemas::SseEvent;

// What one event (or one non-streamed body) of a reply means for the measurements.
struct ReplyInfo {
  bool content = false;                      // carried non-empty generated text
  std::optional<std::int64_t> output_tokens;  // the server's usage count, when present
  // "stream_error" for an error the server reported in-band, "bad_response" for a reply
  // that is not the protocol's JSON; empty when fine.
  std::string error_kind;
  std::string error_message;
  bool done = false;                          // the protocol's end-of-stream marker
};

// The request path ("/v1/chat/completions", ...) for this protocol and endpoint.
std::string request_path(const Config& config);
// The JSON request body for one prompt.
std::string request_body(const Config& config, const std::string& model, const std::string& prompt);
ReplyInfo interpret_event(const Config& config, const SseEvent& event);
ReplyInfo interpret_body(const Config& config, std::string_view body);
// A one-line summary of an error response body ("type: message"), or the raw body cut short.
std::string describe_error_body(std::string_view body);
// The first model id of a GET /v1/models reply (both protocols list {"data":[{"id":...}]}).
std::optional<std::string> first_model_id(std::string_view body);

// The measurements of one request.
struct RequestResult {
  std::optional<std::string> error_kind;  // see Report::errors; unset on success
  std::string error_message;
  Clock::time_point start{};
  Clock::time_point end{};
  std::vector<Clock::time_point> content_times;  // arrival of each content delta
  std::optional<std::int64_t> usage_tokens;
};

struct RunInfo {
  std::string url;
  std::string path;
  std::string model;
  double wall_s = 0;
};

Report aggregate(const Config& config, const RunInfo& run, const std::vector<RequestResult>& results);

}  // namespace tandem::load
