// The router: a backend (backend.h) that owns no model. It resolves the name a request gives to
// one registered backend and forwards generate / count to it (CAF delegation: the backend's
// reply goes straight back to the asker); describe merges every backend's list.
//
// Addressing, in order (the first that matches wins):
//   1. a name or alias a route serves, exactly; then ignoring case;
//   2. `provider/model`: the route(s) of that provider — a name it serves, else (any_model) the
//      provider itself with `model` as the upstream name;
//   3. a prefix a route claims (`claude-` -> anthropic, `gpt-` -> openai...), in registration order;
//   4. else model_not_found (404) listing every id.
// Rules with priorities and fallback chains (the next issue) slot in here.
//
// Routes are given at spawn (local models, providers from the config) or later:
//   (register_atom, BackendRoute) -> caf::ok_atom
#pragma once

#include "actors/backend/backend.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace tandem::backend {

struct BackendRoute {
  std::string provider;             // "local", "openai", "anthropic", a configured upstream's name
  backend_actor backend;
  std::vector<std::string> models;  // ids it serves (listed in a 404's "available models")
  // Further client-facing names: name -> the model name the backend is asked for.
  std::vector<std::pair<std::string, std::string>> aliases;
  std::vector<std::string> prefixes;  // well-known name prefixes it takes ("claude-")
  bool any_model = false;             // `provider/<anything>` goes to it
};

struct RouterOptions {
  // How long describe waits for each backend; a backend that does not answer is listed from its
  // route (ids, owned_by = provider).
  std::chrono::milliseconds describe_timeout{2000};
};

using router_actor = backend_actor::extend<caf::replies_to<register_atom, BackendRoute>::with<caf::ok_atom>>;

router_actor spawn_router(caf::actor_system& system, std::vector<BackendRoute> routes, RouterOptions options = {});

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
