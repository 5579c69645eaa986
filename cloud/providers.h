// Cloud providers: which upstreams exist (built-in `openai` / `anthropic` from the SDKs' own
// environment variables, any number more from the config file), how a requested model name finds
// its provider, and how a request for a provider is addressed (URL, credentials, forwarded
// headers). Pure data and functions: the provider actors and the router build on them.
#pragma once

#include "cloud/resilience/circuit_breaker.h"
#include "cloud/resilience/retry_policy.h"
#include "cloud/upstream_client.h"
#include "schemas/errors.h"
#include "schemas/internal.h"

#include <boost/json/value.hpp>

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::cloud {

// What one upstream model costs, in US dollars per million tokens (file key "prices": turns the
// token counts into tandem_upstream_spend_usd_total).
struct ModelPrice {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
};

struct ProviderConfig {
  std::string name;  // "openai", "anthropic", "vllm", ...
  schemas::Protocol protocol = schemas::Protocol::openai;
  // OpenAI protocol: up to and including the version ("https://api.openai.com/v1",
  // "http://localhost:8000/v1"), as OPENAI_BASE_URL. Anthropic protocol: the host root
  // ("https://api.anthropic.com"), as ANTHROPIC_BASE_URL.
  std::string base_url;
  std::string api_key_env;  // where the key came from (for messages; the key itself is never shown)
  std::string api_key;      // empty: the upstream needs none (a local vLLM or llama.cpp)
  HeaderList headers;       // extra static headers sent with every request
  UpstreamTimeouts timeouts;
  std::vector<std::string> models;  // names served; the built-ins route by prefix as well
  bool builtin = false;
  // The provider actor's circuit breaker and retry policy (file keys "breaker" and "retry",
  // cloud/resilience/README.md; the built-ins get the defaults).
  resilience::BreakerConfig breaker;
  resilience::RetryConfig retry;
  // Upstream model name -> price; models without one count tokens but no spend.
  std::vector<std::pair<std::string, ModelPrice>> prices;
};

// A client-facing model name mapped to a provider's model.
struct ModelAlias {
  std::string name;
  std::string provider;
  std::string model;
};

struct CloudConfig {
  std::vector<ProviderConfig> providers;
  std::vector<ModelAlias> aliases;

  const ProviderConfig* find(std::string_view provider_name) const;
};

struct CloudConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The config file's "providers" array and "model_aliases" object (either may be absent) plus the
// environment: OPENAI_API_KEY / OPENAI_BASE_URL, ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL.
// A file entry named "openai" or "anthropic" replaces that built-in. Throws CloudConfigError
// naming the offending key (`providers[1].protocol: ...`).
CloudConfig load_cloud_config(const boost::json::value* providers, const boost::json::value* aliases,
                              const EnvLookup& env);

// ---------------------------------------------------------------- addressing
// Resolution itself is the router's (actors/backend/router.h); a provider contributes its listed
// models, the config aliases that point at it and, for `openai` / `anthropic`, the well-known
// prefixes (claude- → anthropic; gpt-, o1, o3, o4, chatgpt- → openai).

std::vector<std::string> well_known_prefixes(const ProviderConfig& provider);
// Client-facing name → upstream model, for the aliases that point at `provider`.
std::vector<std::pair<std::string, std::string>> aliases_of(const CloudConfig& config, const ProviderConfig& provider);

// ---------------------------------------------------------------- requests upstream

// Headers of the caller that matter upstream (names in lower case).
struct ForwardedHeaders {
  std::string anthropic_version;
  std::string anthropic_beta;
};

// The URL, credentials and headers of one request to `provider`. The provider's own key is the
// only credential sent; the caller's (tandem's API keys) never are. `body` is sent as is.
UpstreamRequest make_upstream_request(const ProviderConfig& provider, schemas::Endpoint endpoint, std::string body,
                                      bool stream, const ForwardedHeaders& forwarded = {});

// The request body with only the top-level "model" value replaced, every other byte untouched
// (same-protocol passthrough). nullopt when the body is not a JSON object with a string "model".
std::optional<std::string> rewrite_model(std::string_view body, std::string_view model);

// Response headers worth passing back to the caller as they came: retry-after(-ms), rate limits,
// the upstream's request id (renamed upstream-request-id so tandem's own id stays authoritative).
HeaderList forwarded_response_headers(const ResponseHead& head);

}  // namespace tandem::cloud
