#include "cloud/provider_models.h"

#include <boost/json/parse.hpp>

#include <algorithm>

namespace tandem::cloud {

namespace json = boost::json;

UpstreamRequest models_request(const ProviderConfig& provider) {
  // The provider's own credentials and headers, exactly as its generate calls send them.
  UpstreamRequest request = make_upstream_request(provider, schemas::Endpoint::chat_completions, "", false, {});
  request.method = "GET";
  std::erase_if(request.headers, [](const auto& header) { return header.first == "content-type"; });
  request.url = provider.protocol == schemas::Protocol::anthropic ? provider.base_url + "/v1/models?limit=1000"
                                                                   : provider.base_url + "/models";
  request.timeouts.total = resilience::Millis(1800);
  return request;
}

std::optional<std::vector<std::string>> parse_model_list(std::string_view body) {
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  const json::value* data = parsed.as_object().if_contains("data");
  if (!data || !data->is_array()) return std::nullopt;
  std::vector<std::string> ids;
  for (const auto& entry : data->as_array()) {
    if (!entry.is_object()) continue;
    const json::value* id = entry.as_object().if_contains("id");
    if (id && id->is_string() && !id->as_string().empty()) ids.emplace_back(id->as_string());
  }
  return ids;
}

UpstreamModelCache::UpstreamModelCache(const resilience::Clock& clock, resilience::Millis ttl,
                                       resilience::Millis retry_after_failure)
    : clock_(clock), ttl_(ttl), retry_after_failure_(retry_after_failure) {}

bool UpstreamModelCache::begin_fetch() {
  if (fetching_) return false;
  if (fresh_until_ && clock_.now() < *fresh_until_) return false;
  fetching_ = true;
  return true;
}

void UpstreamModelCache::finish_fetch(std::optional<std::vector<std::string>> ids) {
  fetching_ = false;
  if (ids) {
    models_ = std::move(*ids);
    fresh_until_ = clock_.now() + ttl_;
  } else {
    fresh_until_ = clock_.now() + retry_after_failure_;
  }
}

}  // namespace tandem::cloud
