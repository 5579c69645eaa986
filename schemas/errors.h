// API errors as both protocols spell them, and Result<T>: what every parser of this library returns.
// Other layers (auth, routing, limits, backends) build their 401/404/413/429/500/529 answers here
// too, so a client always gets its own protocol's error shape.
#pragma once

#include "schemas/protocol.h"

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tandem::schemas {

// What went wrong, independent of protocol; each kind maps to a status and a type per protocol
// (error_shape: the project's one error table — http/, the backends and the cloud providers all
// answer through it). Backend refusals and failures are these kinds too (actors/backend).
enum class ErrorKind {
  invalid_request,          // 400: validation, malformed JSON, wrong content type
  authentication,           // 401
  permission,               // 403
  not_found,                // 404: unknown route
  model_not_found,          // 404: unknown model
  request_too_large,        // 413
  rate_limit,               // 429: the caller (or tandem's key upstream) sent too much
  api_error,                // 500: internal failure
  timeout,                  // 504: upstream/backend did not answer in time
  overloaded,               // 529 (Anthropic) / 503 (OpenAI): an upstream is overloaded
  context_length_exceeded,  // 400: prompt + max_tokens beyond the model's context
  queue_full,               // a local model's queue is full: OpenAI 429 / Anthropic 529 (what
                            // each protocol's clients back off on)
  unavailable,              // 503: the backend is shutting down or not reachable right now
  unsupported,              // 400: the model cannot do this (e.g. an upstream that cannot count
                            // tokens): said plainly, never answered with an invented value
  upstream_error,           // 502: an upstream answered with something unusable
};

// The kind an HTTP status means (an upstream's status, or one the HTTP layer answers with):
// 401 authentication, 404 not_found, 429 rate_limit, 503 unavailable, 529 overloaded, other
// 4xx invalid_request, other 5xx api_error...
ErrorKind error_kind_for_status(int status);

// The status code and `type` string a protocol uses for an error kind (plus OpenAI's `code`).
struct ErrorShape {
  int http_status = 500;
  std::string_view type;
  std::string_view code;  // OpenAI `code` (empty: null); unused by Anthropic
};
ErrorShape error_shape(ErrorKind kind, Protocol protocol);

struct ApiError {
  ErrorKind kind = ErrorKind::invalid_request;
  std::string message;  // names the field: "max_tokens: field required"
  std::string param;    // the offending field path ("messages[1].role"), empty when none
  std::string code;     // overrides the shape's OpenAI code when not empty
  int status = 0;       // overrides the kind's HTTP status when not 0 (an upstream's exact one)
  int retry_after = 0;  // seconds for a `retry-after` header; 0: none

  int http_status(Protocol protocol) const { return status ? status : error_shape(kind, protocol).http_status; }
};

ApiError make_error(ErrorKind kind, std::string message, std::string param = {});
// A 400 invalid_request error for a field: message "<param>: <what>".
ApiError invalid_field(std::string param, std::string_view what);

// The complete JSON body of an error response:
//   OpenAI    {"error":{"message","type","param","code"}}
//   Anthropic {"type":"error","error":{"type","message"}}
std::string render_error(const ApiError& error, Protocol protocol);

// An expected-like holder: either a value or the ApiError to answer with.
template <class T>
class Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(ApiError error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const ApiError& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, ApiError> state_;
};

}  // namespace tandem::schemas
