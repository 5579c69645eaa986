#include "http/cors.h"

#include <algorithm>
#include <cctype>

namespace tandem::http {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Headers the SDKs and browser clients send besides the standard CORS-safelisted ones.
constexpr std::string_view kAllowedHeaders[] = {
    "authorization",  "x-api-key",      "content-type",   "anthropic-version", "anthropic-beta",
    "anthropic-dangerous-direct-browser-access", "openai-organization", "openai-project",
    "openai-beta",    "x-request-id",   "idempotency-key", "accept",          "accept-language",
    "cache-control",  "user-agent"};

constexpr std::string_view kExposedHeaders = "x-request-id, request-id, retry-after";

}  // namespace

CorsPolicy::CorsPolicy(std::vector<std::string> origins) {
  for (auto& origin : origins) {
    if (origin == "*") {
      any_origin_ = true;
    } else {
      origins_.push_back(lower(origin));
    }
  }
}

std::optional<std::string> CorsPolicy::allow_origin(std::string_view origin) const {
  if (origin.empty()) return std::nullopt;
  if (any_origin_) return std::string("*");
  // Origins compare case-insensitively in scheme and host; browsers send them lower-case anyway.
  std::string wanted = lower(origin);
  if (std::find(origins_.begin(), origins_.end(), wanted) != origins_.end()) return std::string(origin);
  return std::nullopt;
}

bool CorsPolicy::is_preflight(const Request& request) {
  return request.method == "OPTIONS" && request.header("origin") && request.header("access-control-request-method");
}

bool CorsPolicy::is_allowed_request_header(std::string_view name) {
  if (name.starts_with("x-stainless-")) return true;
  return std::find(std::begin(kAllowedHeaders), std::end(kAllowedHeaders), name) != std::end(kAllowedHeaders);
}

std::optional<Headers> CorsPolicy::preflight_headers(const Request& request) const {
  auto origin = request.header("origin");
  auto allowed = allow_origin(origin.value_or(""));
  if (!allowed) return std::nullopt;
  // List the requested headers we accept (a `*` would not cover Authorization); a header left out
  // makes the browser refuse the actual request, as it should.
  std::string allow_headers;
  std::string_view requested = request.header("access-control-request-headers").value_or("");
  while (!requested.empty()) {
    size_t comma = requested.find(',');
    std::string name = lower(trim(requested.substr(0, comma)));
    requested = comma == std::string_view::npos ? std::string_view() : requested.substr(comma + 1);
    if (name.empty() || !is_allowed_request_header(name)) continue;
    if (!allow_headers.empty()) allow_headers += ", ";
    allow_headers += name;
  }
  Headers headers;
  headers.emplace_back("access-control-allow-origin", *allowed);
  headers.emplace_back("access-control-allow-methods", "GET, POST, DELETE, OPTIONS");
  if (!allow_headers.empty()) headers.emplace_back("access-control-allow-headers", allow_headers);
  headers.emplace_back("access-control-max-age", "600");
  headers.emplace_back("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
  return headers;
}

Headers CorsPolicy::response_headers(const Request& request) const {
  Headers headers;
  if (!enabled()) return headers;
  // Caches must not hand one origin's answer to another.
  headers.emplace_back("vary", "Origin");
  auto origin = request.header("origin");
  if (!origin) return headers;
  if (auto allowed = allow_origin(*origin)) {
    headers.emplace_back("access-control-allow-origin", *allowed);
    headers.emplace_back("access-control-expose-headers", std::string(kExposedHeaders));
  }
  return headers;
}

CorsOriginsParse parse_cors_origins(std::string_view value) {
  CorsOriginsParse out;
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view entry = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (entry.empty()) continue;
    while (entry.size() > 1 && entry.back() == '/') entry.remove_suffix(1);
    if (entry != "*") {
      size_t scheme_end = entry.find("://");
      bool web_scheme = entry.starts_with("http://") || entry.starts_with("https://");
      std::string_view rest = scheme_end == std::string_view::npos ? std::string_view() : entry.substr(scheme_end + 3);
      if (!web_scheme || rest.empty() || rest.find('/') != std::string_view::npos) {
        out.error = "'" + std::string(entry) + "' is not an origin (expected '*' or scheme://host[:port], e.g. https://app.example.com)";
        out.origins.clear();
        return out;
      }
    }
    out.origins.emplace_back(entry);
  }
  return out;
}

}  // namespace tandem::http
