// The protocol-neutral form every request and response passes through: OpenAI and Anthropic
// requests parse into InternalRequest, backends answer with StreamEvents or a TextResult, and the
// writers render those back in the caller's protocol (or the cloud provider's).
#pragma once

#include "schemas/errors.h"

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tandem::schemas {

// ---------------------------------------------------------------- messages

enum class Role { system, developer, user, assistant, tool };
std::string_view role_name(Role role);

struct TextPart {
  std::string text;
};

struct ImagePart {
  enum class Source { base64, url };
  Source source = Source::url;
  std::string media_type;  // base64 only, e.g. "image/png"
  std::string data;        // the base64 payload, or the URL
  std::string detail;      // OpenAI "auto"/"low"/"high"; empty when not given
  std::string origin;      // the request field it came from ("messages[1].content[0]"), for refusals
};

// A document a text model cannot read as text (a PDF, a file id). Plain-text documents become
// TextParts when parsed; this part exists so a backend can refuse the rest naming the field.
struct DocumentPart {
  enum class Source { base64, url, file };
  Source source = Source::base64;
  std::string media_type;  // base64 only, e.g. "application/pdf"
  std::string data;        // the base64 payload, the URL, or the file id
  std::string title;
  std::string origin;      // the request field it came from, for refusals
};

// An assistant's call of a tool. `arguments` is JSON text (OpenAI sends a string; Anthropic's
// `input` object is serialized), so partial/invalid model output survives untouched.
struct ToolCallPart {
  std::string id;
  std::string name;
  std::string arguments = "{}";
};

// The answer to a tool call (an OpenAI `tool` message, an Anthropic `tool_result` block).
struct ToolResultPart {
  std::string tool_call_id;
  std::string text;
  std::vector<ImagePart> images;        // kept, so a text-only backend refuses rather than drops them
  bool is_error = false;
  std::vector<DocumentPart> documents;  // non-text documents, likewise
};

// Anthropic extended thinking, kept as-is so it can be sent back with its signature.
struct ThinkingPart {
  std::string thinking;
  std::string signature;
  bool redacted = false;      // a `redacted_thinking` block
  std::string redacted_data;  // its opaque `data`
};

using ContentPart = std::variant<TextPart, ImagePart, ToolCallPart, ToolResultPart, ThinkingPart, DocumentPart>;

struct Message {
  Role role = Role::user;
  std::vector<ContentPart> content;
  std::string name;  // OpenAI's optional participant name

  std::string text() const;  // all text parts concatenated
};

// ---------------------------------------------------------------- request

struct SamplingParams {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<double> presence_penalty;
  std::optional<double> frequency_penalty;
  std::optional<int64_t> seed;
  int64_t n = 1;
  // Token id -> bias added to its logit (-100 bans, +100 forces), OpenAI `logit_bias`.
  std::vector<std::pair<int64_t, double>> logit_bias;
  bool logprobs = false;     // chat `logprobs: true`, or legacy `logprobs: k` (k may be 0)
  int64_t top_logprobs = 0;  // alternatives per token: chat `top_logprobs`, legacy `logprobs`
};

struct ToolDefinition {
  std::string name;
  std::string description;
  boost::json::value parameters;  // JSON Schema of the input (OpenAI parameters / input_schema)
  bool strict = false;            // OpenAI function.strict
};

struct ToolChoice {
  enum class Mode { unset, auto_, any, tool, none };  // any = OpenAI "required"
  Mode mode = Mode::unset;
  std::string name;  // Mode::tool
  bool disable_parallel_tool_use = false;  // OpenAI parallel_tool_calls: false
};

struct ResponseFormat {
  enum class Type { text, json_object, json_schema };
  Type type = Type::text;
  std::string name;           // json_schema.name
  boost::json::value schema;  // json_schema.schema
  bool strict = false;
};

// How hard a reasoning model should think: OpenAI `reasoning_effort` / `reasoning.effort`,
// Anthropic `output_config.effort`. Each protocol accepts its own subset.
enum class Effort { unset, none, minimal, low, medium, high, xhigh, max };
std::string_view effort_name(Effort effort);  // "" for unset

struct ThinkingConfig {
  // unset: the client said nothing; disabled: it asked for no thinking; enabled: Anthropic's
  // fixed budget; adaptive: the model decides (Anthropic `adaptive`, or an OpenAI effort).
  enum class Mode { unset, disabled, enabled, adaptive };
  Mode mode = Mode::unset;
  bool enabled = false;  // mode is enabled or adaptive
  int64_t budget_tokens = 0;  // Mode::enabled only
  Effort effort = Effort::unset;
};

enum class Endpoint { chat_completions, completions, messages, count_tokens, responses };

// OpenAI Responses API state carried by a request (see schemas/responses.h).
struct ResponsesOptions {
  bool store = true;                 // the API's default: keep the response for GET / continuation
  std::string previous_response_id;  // continue that stored conversation
  std::string instructions;          // as given; not carried over to a continuation
  boost::json::value metadata;       // echoed back in the response object
  bool reasoning_summary = false;    // `reasoning.summary` asked for
};

// A legacy completions prompt: text, or token ids.
struct Prompt {
  std::string text;
  std::vector<int64_t> tokens;
  bool is_tokens = false;
};

struct InternalRequest {
  Protocol protocol = Protocol::openai;
  Endpoint endpoint = Endpoint::chat_completions;
  std::string model;
  // Anthropic `system`, or the OpenAI system/developer messages that open the conversation.
  // Later system messages (OpenAI allows them anywhere) stay in `messages` in order.
  std::string system;
  std::vector<Message> messages;
  std::vector<Prompt> prompts;  // legacy completions only
  bool echo = false;            // legacy completions only
  SamplingParams sampling;
  std::vector<std::string> stop;
  std::optional<int64_t> max_tokens;  // empty when an OpenAI client left it out
  std::vector<ToolDefinition> tools;
  ToolChoice tool_choice;
  ResponseFormat response_format;
  ThinkingConfig thinking;
  // Anthropic `context_management` was sent (clearing old tool uses/thinking server-side); a backend
  // with nothing to clear may say so. Anthropic `cache_control` anywhere is accepted: it is a hint.
  bool context_management = false;
  ResponsesOptions responses;  // Endpoint::responses only
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage
  std::string user;            // OpenAI `user`, Anthropic metadata.user_id
  boost::json::value original; // the request as received, for same-protocol pass-through
};

// ---------------------------------------------------------------- output

enum class FinishReason { stop, length, stop_sequence, tool_calls, content_filter, error };

struct Usage {
  int64_t input_tokens = 0;  // not counting cached tokens (Anthropic's meaning)
  int64_t output_tokens = 0;
  std::optional<int64_t> cache_read_tokens;
  std::optional<int64_t> cache_creation_tokens;
  // Of output_tokens, those generated inside the reasoning section, when known (a local model's
  // count, or an OpenAI upstream's completion_tokens_details); never estimated.
  std::optional<int64_t> reasoning_tokens = std::nullopt;  // initialized: Usage{in, out, read, creation} stays warning-free

  int64_t prompt_tokens() const;  // OpenAI's meaning: input + cache read + cache creation
};

struct TopLogprob {
  std::string token;  // raw bytes of the token (may be a partial UTF-8 sequence)
  double logprob = 0;
};

struct TokenLogprob {
  std::string token;
  double logprob = 0;
  std::vector<TopLogprob> top;
};

// A complete answer (one choice).
struct TextResult {
  std::string id;
  std::string model;
  int64_t created = 0;  // unix seconds
  std::vector<ContentPart> content;  // text, thinking and tool calls in output order
  FinishReason finish_reason = FinishReason::stop;
  std::string stop_sequence;  // which one matched, for FinishReason::stop_sequence
  Usage usage;
  std::optional<std::vector<TokenLogprob>> logprobs;

  std::string text() const;
};

// Streaming output, in order: MessageStart, then deltas, then Finish (or StreamError).
struct MessageStart {
  std::string id;
  std::string model;
  int64_t created = 0;
  Usage usage;  // input tokens when already known
};
struct TextDelta {
  std::string text;
  std::vector<TokenLogprob> logprobs;
};
struct ThinkingDelta {
  std::string thinking;
  std::string signature;  // Anthropic signature_delta
};
struct ToolCallStart {
  int index = 0;  // 0, 1, ... per tool call of the message
  std::string id;
  std::string name;
};
struct ToolCallDelta {
  int index = 0;
  std::string arguments;  // a fragment of the arguments' JSON text
};
struct Finish {
  FinishReason reason = FinishReason::stop;
  std::string stop_sequence;
  Usage usage;
};
struct StreamError {
  ApiError error;
};
using StreamEvent =
    std::variant<MessageStart, TextDelta, ThinkingDelta, ToolCallStart, ToolCallDelta, Finish, StreamError>;

// Folds a stream into the complete result (a non-streaming client served by a streaming backend).
class ResultBuilder {
 public:
  void add(const StreamEvent& event);
  bool finished() const { return finished_; }
  const std::optional<ApiError>& error() const { return error_; }
  const TextResult& result() const { return result_; }

 private:
  TextResult result_;
  std::vector<size_t> tool_call_positions_;  // tool call index -> position in result_.content
  bool finished_ = false;
  std::optional<ApiError> error_;
};

// ---------------------------------------------------------------- ids and time

// "<prefix><24 random alphanumerics>", e.g. generate_id("chatcmpl-"). Thread-safe.
std::string generate_id(std::string_view prefix);
// Makes generate_id deterministic on this thread (tests).
void seed_id_generator(uint64_t seed);
// msg_X ⇄ chatcmpl-X: the same suffix under the target protocol's prefix.
std::string convert_message_id(std::string_view id, Protocol target);

int64_t unix_time_now();

}  // namespace tandem::schemas
