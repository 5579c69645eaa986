#include "http/errors.h"

#include "schemas/errors.h"

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
  return schemas::error_shape(schemas::error_kind_for_status(status), protocol).type;
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
