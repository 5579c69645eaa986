// The router: a backend (backend.h) that owns no model. It resolves the name a request gives to
// one registered backend and forwards generate / count to it (CAF delegation: the backend's
// reply goes straight back to the asker); describe merges every backend's list, plus the names
// only exact-name rules define (owned by the rule's first target).
//
// Addressing, in order (the first that matches wins):
//   1. a name or alias a route serves, exactly; then ignoring case;
//   2. `provider/model`: the route(s) of that provider — a name it serves, else (any_model) the
//      provider itself with `model` as the upstream name;
//   3. a prefix a route claims (`claude-` -> anthropic, `gpt-` -> openai...), in registration order;
//   4. else model_not_found (404) listing every id.
//
// Before that addressing, the routing rules (actors/routing/rules.h), when any are set: the first
// rule matching the requested name (or the default rule) gives a chain of targets ("local" or a
// provider, with an optional model rewrite). The router asks the first target; a refusal whose
// trigger the rule falls back on (unknown target, breaker open, local queue full, prompt too
// long for the local context, upstream failure before the commit point) moves to the next one,
// the sink untouched; a local target with an SLO is skipped when its scheduler's predicted TTFT
// or queue is over the limit. The reply names the backend that answered and the targets tried
// before it; an exhausted chain answers the last refusal (with its retry-after). A request no
// rule matches is addressed as above. Decisions are counted (tandem_router_routed_total,
// tandem_router_fallbacks_total) when a metrics registry is given.
//
// Routes are given at spawn (local models, providers from the config) or later:
//   (register_atom, BackendRoute) -> caf::ok_atom
// Rules are replaced whole (a hot reload; requests in flight keep the rule they started with):
//   (rules_atom, RoutingTable) -> caf::ok_atom
#pragma once

#include "actors/backend/backend.h"
#include "actors/routing/rules.h"
#include "actors/routing/ttft_predictor.h"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace prometheus {
class Registry;
}

namespace tandem::backend {

// What `GET /v1/backends` shows of one backend (the shared contract's shape). Unknown: nullopt.
struct BackendStatus {
  std::string name;                  // "local" or a provider's name
  std::string kind;                  // "local" | "cloud"
  std::vector<std::string> models;
  std::string state = "ready";       // cloud: closed | open | half_open; local: ready
  double error_rate = 0;             // recent window
  std::optional<double> latency_p50_ms;
  int64_t in_flight = 0;
  std::optional<int64_t> queue, running, kv_used, kv_capacity;
  std::optional<double> tokens_per_second;
};

struct BackendRoute {
  std::string provider;             // "local", "openai", "anthropic", a configured upstream's name
  backend_actor backend;
  std::vector<std::string> models;  // ids it serves (listed in a 404's "available models")
  // Further client-facing names: name -> the model name the backend is asked for.
  std::vector<std::pair<std::string, std::string>> aliases;
  std::vector<std::string> prefixes;  // well-known name prefixes it takes ("claude-")
  bool any_model = false;             // `provider/<anything>` goes to it
  // Its live status for /v1/backends (thread-safe, cheap); empty: not reported.
  std::function<BackendStatus()> status;
  // Local models: the scheduler's published load, for SLO rules (thread-safe, cheap).
  std::function<routing::SchedulerLoad()> load;
};

using rules_atom = caf::atom_constant<caf::atom("rules")>;

// The rules in force; null = none (plain addressing only).
struct RoutingTable {
  std::shared_ptr<const routing::RoutingRules> rules;
};

struct RouterOptions {
  // How long describe waits for each backend; a backend that does not answer is listed from its
  // route (ids, owned_by = provider).
  std::chrono::milliseconds describe_timeout{2000};
  RoutingTable rules;
  std::shared_ptr<prometheus::Registry> metrics;  // null: decisions are not counted
};

using router_actor = backend_actor::extend<caf::replies_to<register_atom, BackendRoute>::with<caf::ok_atom>,
                                           caf::replies_to<rules_atom, RoutingTable>::with<caf::ok_atom>>;

router_actor spawn_router(caf::actor_system& system, std::vector<BackendRoute> routes, RouterOptions options = {});

// The fallback trigger a refusal means (its fallback_reason, else its error kind: a full local
// queue, a prompt beyond the context, an unknown model); nullopt: the caller's own error.
std::optional<routing::FallbackTrigger> fallback_trigger_of(const GenerateReply& reply);

// Where `name` goes (pure: the router's lookup, exposed for tests and diagnostics). nullopt: no
// route; else the route's index and the model name to ask the backend for.
struct Resolution {
  size_t route = 0;
  std::string model;
};
std::optional<Resolution> resolve_model(const std::vector<BackendRoute>& routes, const std::string& name);

// The ids of every route, for "available models: ..." in a 404.
std::vector<std::string> available_models(const std::vector<BackendRoute>& routes);

}  // namespace tandem::backend

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tandem::backend::BackendRoute)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tandem::backend::RoutingTable)
