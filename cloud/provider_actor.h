// One actor per cloud provider, speaking the backend seam (actors/backend/backend.h). Every
// upstream call of a provider goes through it: it owns the provider's circuit breaker and is the
// one place that retries (cloud/resilience): full-jitter backoff honouring retry-after, a
// per-attempt headers timeout, a retry budget, and only before the commit point (the first event
// sent to the client). A call the breaker refuses, or one that failed for good before the commit
// point, is refused with `fallback_reason` set ("breaker_open", "upstream_failure") so the
// router can try the next target of its chain; the caller's own 4xx is not a failure.
//
// generate: a request in the provider's own protocol passes through byte for byte (only `model`
//   rewritten when the router mapped it); the upstream's status, forwarded headers and body / SSE
//   frames come back as ResponseHead + RawBytes, exactly as they came. A request in the other
//   protocol is translated through schemas/ and always streamed upstream; the upstream's events
//   become schemas::StreamEvents (the session folds them for a non-streaming client).
//   The reply waits for the upstream's response headers (for a non-streaming passthrough, its
//   whole body), so a failure before the answer starts is a refusal in the caller's protocol
//   with the upstream's status and message; a failure after it is an in-band error.
// count: forwarded to Anthropic-protocol upstreams (/v1/messages/count_tokens); OpenAI-protocol
//   upstreams answer "cannot count" (ErrorKind::unsupported), never an estimate.
// describe: the provider's listed models and the aliases pointing at it, owned_by = provider.
#pragma once

#include "actors/backend/backend.h"
#include "actors/backend/router.h"
#include "cloud/provider_monitor.h"
#include "cloud/providers.h"
#include "cloud/resilience/clock.h"
#include "cloud/resilience/retry_policy.h"
#include "cloud/upstream_client.h"

#include <caf/all.hpp>

#include <memory>

namespace tandem::cloud {

// What a provider actor reads besides its config; tests inject a ManualClock and a fixed
// "random" number so breaker periods, budgets and backoff waits are exact.
struct ProviderOptions {
  const resilience::Clock* clock = nullptr;    // null: the steady clock (must outlive the actor)
  resilience::UniformRandom random;            // null: a seeded generator
  std::shared_ptr<ProviderMonitor> monitor;    // null: one without metrics
};

backend::backend_actor spawn_provider_actor(caf::actor_system& system, ProviderConfig provider,
                                            std::vector<std::pair<std::string, std::string>> aliases,
                                            std::shared_ptr<UpstreamClient> client, ProviderOptions options = {});

// The router's route to a provider actor: its models, aliases, well-known prefixes, and any
// `provider/<model>`; with a monitor, its status for /v1/backends.
backend::BackendRoute provider_route(const CloudConfig& config, const ProviderConfig& provider,
                                     backend::backend_actor actor, std::shared_ptr<ProviderMonitor> monitor = nullptr);

// Spawns one actor per configured provider (sharing `client`) and returns their routes, in the
// config's order. With a registry, the tandem_upstream_* / tandem_breaker_* metrics go there.
std::vector<backend::BackendRoute> spawn_cloud_backends(caf::actor_system& system, const CloudConfig& config,
                                                        std::shared_ptr<UpstreamClient> client,
                                                        std::shared_ptr<prometheus::Registry> metrics = nullptr);

// The refusal or in-band error for a transfer that failed: unavailable (503) when the upstream
// cannot be reached, timeout (504) naming the limit, upstream_error (502) for a broken answer.
schemas::ApiError transfer_failure_error(const ProviderConfig& provider, const TransferResult& result);

// An upstream's error answer (either protocol's JSON shape, or anything else) as the caller's
// error: kind from the status, the upstream's own message, retry-after kept.
schemas::ApiError upstream_status_error(const ProviderConfig& provider, const ResponseHead& head,
                                        std::string_view body);

// Splits a byte stream into whole SSE frames (up to and including their blank line), keeping
// the bytes exactly as they came; passthrough forwards frames, never half of one.
class SseFrameSplitter {
 public:
  // Appends the new bytes and returns every complete frame now available (possibly several, as
  // one string), or an empty string.
  std::string feed(std::string_view bytes);
  // What is left at the end: a frame the upstream never finished.
  const std::string& pending() const { return buffer_; }

 private:
  std::string buffer_;
};

}  // namespace tandem::cloud
