// Cross-origin resource sharing: lets a web page on another origin call the API from a browser.
// Off unless origins are configured (`--cors-origins`: `*` or a comma-separated list). A
// preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered before any API-key
// check, because browsers never send credentials on it; actual responses to an allowed origin
// carry Access-Control-Allow-Origin and expose the headers clients read (request id, retry-after).
// No Access-Control-Allow-Credentials: the API authenticates with headers, not cookies.
#pragma once

#include "http/request.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::http {

class CorsPolicy {
 public:
  CorsPolicy() = default;  // disabled
  // Entries are origins ("https://app.example.com", scheme and host[:port], no path) or "*".
  explicit CorsPolicy(std::vector<std::string> origins);

  bool enabled() const { return any_origin_ || !origins_.empty(); }
  // What to send as Access-Control-Allow-Origin for a request from `origin`: "*" when every
  // origin is allowed, the origin itself when listed, nothing otherwise.
  std::optional<std::string> allow_origin(std::string_view origin) const;

  static bool is_preflight(const Request& request);
  // The preflight's headers; nothing when the origin is not allowed. Of the requested headers,
  // those the API uses are allowed: authorization, x-api-key, content-type, anthropic-version,
  // anthropic-beta, the SDKs' x-stainless-*, and a few more the SDKs send.
  std::optional<Headers> preflight_headers(const Request& request) const;
  // Headers for an actual response to `request` (empty when CORS is off or no Origin was sent).
  Headers response_headers(const Request& request) const;

  static bool is_allowed_request_header(std::string_view lower_case_name);

 private:
  bool any_origin_ = false;
  std::vector<std::string> origins_;
};

// "--cors-origins" value → the origin list; an error message naming the bad entry otherwise.
// "" means off; "*" means any origin; "a,b" lists origins (trailing slashes are dropped).
struct CorsOriginsParse {
  std::vector<std::string> origins;
  std::string error;  // empty when valid
};
CorsOriginsParse parse_cors_origins(std::string_view value);

}  // namespace tandem::http
