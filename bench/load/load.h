// tandem-load: a load generator for OpenAI- and Anthropic-compatible LLM servers.
//
// N client coroutines share one request budget (and an optional time cap). Each sends a
// prompt from a fixed set, reads the (usually SSE-streamed) reply as it arrives and records
// time to first content, the gaps between content deltas, the output token count and any
// error. run_load() aggregates that into a Report, printable as text or JSON.
//
// The public surface deliberately avoids Asio/Beast/JSON headers: main.cpp and the tests
// only need the configuration and the numbers.
#pragma once

#include "schemas/protocol.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tandem::load {

using schemas::Protocol;  // the project's one protocol enum
// Only meaningful for the OpenAI protocol: /v1/chat/completions or legacy /v1/completions.
enum class Endpoint { chat, completions };

struct Config {
  std::string url = "http://127.0.0.1:8080";  // base URL; "/v1/..." is appended
  Protocol protocol = Protocol::openai;
  Endpoint endpoint = Endpoint::chat;
  std::string model;                 // empty: the first id listed by GET /v1/models
  int concurrency = 1;               // client coroutines, each with its own connection
  // Open loop: request k is due at start + k / rate (requests per second), whether or not earlier
  // ones have finished, and its latencies count from when it was due, so a server (or too few
  // clients) falling behind shows as latency instead of slowing the offered load down (the
  // coordinated-omission trap). 0: closed loop (each client sends its next request at once).
  double rate = 0;
  std::int64_t requests = 100;       // total request budget; 0 = unlimited (needs duration)
  double duration_s = 0;             // stop starting new requests after this; 0 = no cap
  int max_tokens = 64;
  std::optional<double> temperature;  // omitted from the request when unset
  std::string api_key;               // Bearer token (OpenAI) or x-api-key (Anthropic)
  bool stream = true;
  double timeout_s = 60;             // per request, connect to last byte
  int threads = 1;                   // threads running the io_context
  std::vector<std::string> prompts;  // empty: default_prompts()
};

// Throws std::invalid_argument naming the offending field.
void validate(const Config& config);

struct Percentiles {
  std::size_t count = 0;  // samples behind the numbers; all zero when count == 0
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
};

// Linear interpolation between closest ranks (numpy's default); samples need not be sorted.
Percentiles percentiles(std::vector<double> samples);

struct Report {
  std::string url;
  std::string protocol;  // "openai" / "anthropic"
  std::string endpoint;  // request path, e.g. "/v1/chat/completions"
  std::string model;
  int concurrency = 0;
  double rate = 0;  // open-loop requests per second; 0 = closed loop
  bool stream = true;

  std::int64_t requests_ok = 0;
  std::int64_t requests_failed = 0;
  // Failure kind -> count. Kinds: "http_<status>", "connection", "timeout",
  // "stream_error" (an error event inside a 200 stream), "bad_response" (unparseable or
  // truncated reply).
  std::map<std::string, std::int64_t> errors;
  std::vector<std::string> error_samples;  // first few distinct messages, for diagnosis

  double wall_s = 0;
  double requests_per_s = 0;        // successful requests / wall time
  std::int64_t output_tokens = 0;   // over successful requests
  double output_tokens_per_s = 0;
  // Requests whose token count came from the server's usage block rather than from
  // counting content deltas (one token per delta).
  std::int64_t requests_with_usage = 0;

  Percentiles ttft_ms;     // request start -> first content delta
  Percentiles itl_ms;      // gaps between consecutive content deltas, pooled over requests
  Percentiles latency_ms;  // request start -> last byte
};

// Runs the whole load test. Throws std::invalid_argument for a bad config and
// std::runtime_error when the run cannot start (unresolvable host, no model to use).
Report run_load(const Config& config);

std::string format_text(const Report& report);
std::string format_json(const Report& report);

// A small built-in prompt set, so runs are comparable without a prompt file.
std::vector<std::string> default_prompts();
// A JSON array of strings, or else one prompt per non-empty line. Throws std::runtime_error
// naming the file (and the array index for a non-string element).
std::vector<std::string> load_prompts_file(const std::string& path);

std::string to_string(Protocol protocol);

}  // namespace tandem::load
