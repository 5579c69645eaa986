#include "http/errors.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace tandem::http {

Protocol detect_protocol(std::string_view path, bool has_anthropic_version) {
  if (has_anthropic_version || path.starts_with("/v1/messages")) return Protocol::anthropic;
  return Protocol::openai;
}

Protocol detect_protocol(const Request& request) {
  return detect_protocol(request.path, request.header("anthropic-version").has_value());
}

std::string_view error_type(Protocol protocol, int status) {
  if (protocol == Protocol::anthropic) {
    // https://docs.anthropic.com/en/api/errors
    switch (status) {
      case 401: return "authentication_error";
      case 403: return "permission_error";
      case 404: return "not_found_error";
      case 413: return "request_too_large";
      case 429: return "rate_limit_error";
      case 503: return "overloaded_error";
      case 529: return "overloaded_error";
      default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
  }
  // OpenAI reports client errors as invalid_request_error (auth included) and 5xx as server_error.
  switch (status) {
    case 429: return "rate_limit_exceeded";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string error_body(Protocol protocol, int status, std::string_view message,
                       std::string_view code) {
  boost::json::value body;
  if (protocol == Protocol::anthropic) {
    body = {{"type", "error"},
            {"error", {{"type", error_type(protocol, status)}, {"message", message}}}};
  } else {
    boost::json::value code_value = nullptr;
    if (!code.empty()) code_value = code;
    body = {{"error",
             {{"message", message},
              {"type", error_type(protocol, status)},
              {"param", nullptr},
              {"code", code_value}}}};
  }
  return boost::json::serialize(body);
}

}  // namespace tandem::http
