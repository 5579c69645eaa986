#include "schemas/errors.h"

#include <boost/json.hpp>

namespace tandem::schemas {

namespace json = boost::json;

// OpenAI's own conventions (type invalid_request_error with a `code` for most client errors,
// server_error for 5xx); Anthropic's documented error types and statuses (529 = overloaded).
ErrorShape error_shape(ErrorKind kind, Protocol protocol) {
  if (protocol == Protocol::openai) {
    switch (kind) {
      case ErrorKind::invalid_request: return {400, "invalid_request_error", ""};
      case ErrorKind::authentication: return {401, "invalid_request_error", "invalid_api_key"};
      case ErrorKind::permission: return {403, "invalid_request_error", "permission_denied"};
      case ErrorKind::not_found: return {404, "invalid_request_error", ""};
      case ErrorKind::model_not_found: return {404, "invalid_request_error", "model_not_found"};
      case ErrorKind::request_too_large: return {413, "invalid_request_error", "request_too_large"};
      case ErrorKind::rate_limit: return {429, "rate_limit_error", "rate_limit_exceeded"};
      case ErrorKind::api_error: return {500, "server_error", ""};
      case ErrorKind::timeout: return {504, "server_error", "timeout"};
      case ErrorKind::overloaded: return {503, "server_error", "overloaded"};
      case ErrorKind::context_length_exceeded: return {400, "invalid_request_error", "context_length_exceeded"};
      case ErrorKind::queue_full: return {429, "rate_limit_error", "rate_limit_exceeded"};
      case ErrorKind::unavailable: return {503, "server_error", "overloaded"};
      case ErrorKind::unsupported: return {400, "invalid_request_error", "unsupported"};
      case ErrorKind::upstream_error: return {502, "server_error", "bad_gateway"};
    }
  } else {
    switch (kind) {
      case ErrorKind::invalid_request: return {400, "invalid_request_error", ""};
      case ErrorKind::authentication: return {401, "authentication_error", ""};
      case ErrorKind::permission: return {403, "permission_error", ""};
      case ErrorKind::not_found: return {404, "not_found_error", ""};
      case ErrorKind::model_not_found: return {404, "not_found_error", ""};
      case ErrorKind::request_too_large: return {413, "request_too_large", ""};
      case ErrorKind::rate_limit: return {429, "rate_limit_error", ""};
      case ErrorKind::api_error: return {500, "api_error", ""};
      case ErrorKind::timeout: return {504, "timeout_error", ""};
      case ErrorKind::overloaded: return {529, "overloaded_error", ""};
      case ErrorKind::context_length_exceeded: return {400, "invalid_request_error", ""};
      case ErrorKind::queue_full: return {529, "overloaded_error", ""};
      case ErrorKind::unavailable: return {503, "overloaded_error", ""};
      case ErrorKind::unsupported: return {400, "invalid_request_error", ""};
      case ErrorKind::upstream_error: return {502, "api_error", ""};
    }
  }
  return {500, "api_error", ""};
}

ErrorKind error_kind_for_status(int status) {
  switch (status) {
    case 401: return ErrorKind::authentication;
    case 403: return ErrorKind::permission;
    case 404: return ErrorKind::not_found;
    case 413: return ErrorKind::request_too_large;
    case 429: return ErrorKind::rate_limit;
    case 502: return ErrorKind::upstream_error;
    case 503: return ErrorKind::unavailable;
    case 504: return ErrorKind::timeout;
    case 529: return ErrorKind::overloaded;
    default: return status >= 500 ? ErrorKind::api_error : ErrorKind::invalid_request;
  }
}

ApiError make_error(ErrorKind kind, std::string message, std::string param) {
  ApiError error;
  error.kind = kind;
  error.message = std::move(message);
  error.param = std::move(param);
  return error;
}

ApiError invalid_field(std::string param, std::string_view what) {
  std::string message = param.empty() ? std::string(what) : param + ": " + std::string(what);
  return make_error(ErrorKind::invalid_request, std::move(message), std::move(param));
}

std::string render_error(const ApiError& error, Protocol protocol) {
  ErrorShape shape = error_shape(error.kind, protocol);
  if (protocol == Protocol::openai) {
    std::string_view code = error.code.empty() ? shape.code : std::string_view(error.code);
    json::object body{{"error", json::object{
                                    {"message", error.message},
                                    {"type", shape.type},
                                    {"param", error.param.empty() ? json::value() : json::value(error.param)},
                                    {"code", code.empty() ? json::value() : json::value(code)},
                                }}};
    return json::serialize(body);
  }
  json::object body{{"type", "error"},
                    {"error", json::object{{"type", shape.type}, {"message", error.message}}}};
  return json::serialize(body);
}

}  // namespace tandem::schemas
