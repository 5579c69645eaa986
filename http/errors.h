// Error bodies in the caller's protocol. OpenAI clients expect
//   {"error":{"message","type","param":null,"code"}}
// and Anthropic clients expect
//   {"type":"error","error":{"type","message"}}
// so every error the HTTP layer produces (401/404/405/408/413/431/500/503...) picks one shape.
// The types come from the project's one error table (schemas/errors.h).
#pragma once

#include "http/request.h"
#include "schemas/protocol.h"

#include <string>
#include <string_view>

namespace tandem::http {

using schemas::Protocol;

// Anthropic when the request carries `anthropic-version` or targets /v1/messages*, else OpenAI.
Protocol detect_protocol(std::string_view path, bool has_anthropic_version);
Protocol detect_protocol(const Request& request);

// The protocol's error type for an HTTP status, e.g. (anthropic, 401) -> "authentication_error".
std::string_view error_type(Protocol protocol, int status);

// Serialized JSON error body. `code` is OpenAI's machine-readable code (null when empty);
// Anthropic's shape has no code field.
std::string error_body(Protocol protocol, int status, std::string_view message,
                       std::string_view code = {});

}  // namespace tandem::http
