// What a provider lists in GET /v1/models when its config names no models (the zero-config
// built-ins, or a provider that serves whatever its upstream has): the upstream's own model list
// (GET /models, same shape in both protocols), fetched when asked and kept for a while, so a
// client listing models sees the cloud ones without anyone typing their names into a file.
#pragma once

#include "cloud/providers.h"
#include "cloud/resilience/clock.h"
#include "cloud/upstream_client.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::cloud {

// GET {base}/models (OpenAI protocol; base ends in /v1) or {base}/v1/models?limit=1000
// (Anthropic), with the provider's key and headers. The timeouts are short: a listing waits for
// it, and the router answers without this provider's models after its describe timeout anyway.
UpstreamRequest models_request(const ProviderConfig& provider);

// The model ids of an upstream's list: {"data": [{"id": "..."}, ...]} (OpenAI and Anthropic
// alike). nullopt when the body is not such a list; entries without a string id are skipped.
std::optional<std::vector<std::string>> parse_model_list(std::string_view body);

// When to ask the upstream again: a fetched list stays fresh for `ttl`, a failed fetch is retried
// after `retry_after_failure` (meanwhile the last good list, if any, is answered). One fetch at a
// time: listings that arrive while it runs wait for it.
class UpstreamModelCache {
 public:
  explicit UpstreamModelCache(const resilience::Clock& clock, resilience::Millis ttl = std::chrono::minutes(10),
                              resilience::Millis retry_after_failure = std::chrono::seconds(30));

  // True when a listing now should fetch first (nothing fresh, no fetch running); marks the
  // fetch as running.
  bool begin_fetch();
  bool fetching() const { return fetching_; }
  // The outcome of the running fetch: the ids, or nullopt when it failed.
  void finish_fetch(std::optional<std::vector<std::string>> ids);
  // The ids to answer with (the last good list; empty before any).
  const std::vector<std::string>& models() const { return models_; }

 private:
  const resilience::Clock& clock_;
  resilience::Millis ttl_;
  resilience::Millis retry_after_failure_;
  std::vector<std::string> models_;
  std::optional<resilience::SteadyTime> fresh_until_;
  bool fetching_ = false;
};

}  // namespace tandem::cloud
