// The upstream client's value types: error names, header lookup, proxy settings read from the
// environment, and the SSE body adapter. None of them touches libcurl.
#include "cloud/upstream_client.h"

#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>

namespace tandem::cloud {

std::string_view transfer_error_name(TransferError error) {
  switch (error) {
    case TransferError::none: return "none";
    case TransferError::resolve_failed: return "resolve_failed";
    case TransferError::connect_failed: return "connect_failed";
    case TransferError::connect_timeout: return "connect_timeout";
    case TransferError::headers_timeout: return "headers_timeout";
    case TransferError::idle_timeout: return "idle_timeout";
    case TransferError::total_timeout: return "total_timeout";
    case TransferError::connection_reset: return "connection_reset";
    case TransferError::tls_failed: return "tls_failed";
    case TransferError::protocol_error: return "protocol_error";
    case TransferError::cancelled: return "cancelled";
    case TransferError::other: return "other";
  }
  return "other";
}

std::string_view ResponseHead::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return value;
  return {};
}

namespace {
// The first of `names` that is set (even to nothing, which means "no proxy", as in libcurl).
std::optional<std::string> environment(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (const char* value = std::getenv(name)) return value;
  }
  return std::nullopt;
}
}  // namespace

ProxySettings ProxySettings::from_environment() {
  ProxySettings settings;
  std::string all = environment({"all_proxy", "ALL_PROXY"}).value_or("");
  // Not HTTP_PROXY: in a CGI program it is the client's "Proxy:" header (libcurl skips it too).
  settings.http = environment({"http_proxy"}).value_or(all);
  settings.https = environment({"https_proxy", "HTTPS_PROXY"}).value_or(all);
  settings.no_proxy = environment({"no_proxy", "NO_PROXY"}).value_or("");
  return settings;
}

const std::string& ProxySettings::for_url(std::string_view url) const {
  static const std::string none;
  if (url.starts_with("https://")) return https;
  if (url.starts_with("http://")) return http;
  return none;
}

SseBodyAdapter::SseBodyAdapter(EventHandler on_event, std::size_t max_event_bytes)
    : on_event_(std::move(on_event)), parser_(max_event_bytes) {}

bool SseBodyAdapter::feed(std::string_view bytes) {
  scratch_.clear();
  bool ok = parser_.feed(bytes, scratch_);
  for (auto& event : scratch_) on_event_(std::move(event));
  scratch_.clear();
  return ok;
}

}  // namespace tandem::cloud
