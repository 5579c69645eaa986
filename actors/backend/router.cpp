#include "actors/backend/router.h"

#include "actors/actor_metrics.h"

#include <algorithm>
#include <cctype>
#include <memory>

namespace tandem::backend {

namespace {

bool equals_ignoring_case(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The model name `route` serves under `name`, if any.
std::optional<std::string> served_name(const BackendRoute& route, const std::string& name, bool ignore_case) {
  auto same = [&](const std::string& candidate) {
    return ignore_case ? equals_ignoring_case(candidate, name) : candidate == name;
  };
  for (const auto& id : route.models) {
    if (same(id)) return id;
  }
  for (const auto& [alias, target] : route.aliases) {
    if (same(alias)) return target;
  }
  return std::nullopt;
}

std::optional<Resolution> by_name(const std::vector<BackendRoute>& routes, const std::string& name,
                                  const std::string* provider) {
  for (bool ignore_case : {false, true}) {
    for (size_t i = 0; i < routes.size(); ++i) {
      if (provider && routes[i].provider != *provider) continue;
      if (auto model = served_name(routes[i], name, ignore_case)) return Resolution{i, *model};
    }
  }
  return std::nullopt;
}

schemas::ApiError unknown_model(const std::string& name, const std::vector<std::string>& available) {
  std::string message = "The model '" + name + "' does not exist or is not served here";
  if (available.empty()) {
    message += "; no model is loaded";
  } else {
    message += "; available models: ";
    for (size_t i = 0; i < available.size(); ++i) message += (i ? ", " : "") + available[i];
  }
  return schemas::make_error(schemas::ErrorKind::model_not_found, std::move(message), "model");
}

struct RouterState {
  std::vector<BackendRoute> routes;
  RouterOptions options;
  static inline const char* name = "tandem.router";
};

// The request as the chosen backend should see it.
BackendRequest addressed(BackendRequest request, const Resolution& resolution) {
  if (request.requested_model.empty()) request.requested_model = request.request.model;
  request.request.model = resolution.model;
  return request;
}

// Describe fan-out: one slot per route, delivered when the last one answers (or times out).
struct DescribeCollector {
  caf::typed_response_promise<ModelList> promise;
  std::vector<ModelList> parts;
  size_t pending = 0;

  void deliver_if_done() {
    if (pending != 0) return;
    ModelList merged;
    for (auto& part : parts) {
      for (auto& model : part.models) merged.models.push_back(std::move(model));
    }
    promise.deliver(std::move(merged));
  }
};

ModelList listed_from_route(const BackendRoute& route) {
  ModelList list;
  for (const auto& id : route.models) {
    ModelInfo info;
    info.id = id;
    info.owned_by = route.provider;
    list.models.push_back(std::move(info));
  }
  return list;
}

}  // namespace

std::optional<Resolution> resolve_model(const std::vector<BackendRoute>& routes, const std::string& name) {
  if (auto direct = by_name(routes, name, nullptr)) return direct;
  if (auto slash = name.find('/'); slash != std::string::npos && slash > 0) {
    const std::string provider = name.substr(0, slash);
    const std::string model = name.substr(slash + 1);
    if (auto named = by_name(routes, model, &provider)) return named;
    for (size_t i = 0; i < routes.size(); ++i) {
      if (routes[i].provider == provider && routes[i].any_model && !model.empty()) return Resolution{i, model};
    }
  }
  for (size_t i = 0; i < routes.size(); ++i) {
    for (const auto& prefix : routes[i].prefixes) {
      if (!prefix.empty() && name.starts_with(prefix)) return Resolution{i, name};
    }
  }
  return std::nullopt;
}

std::vector<std::string> available_models(const std::vector<BackendRoute>& routes) {
  std::vector<std::string> ids;
  for (const auto& route : routes) {
    for (const auto& id : route.models) ids.push_back(route.provider == "local" ? id : route.provider + "/" + id);
  }
  return ids;
}

router_actor spawn_router(caf::actor_system& system, std::vector<BackendRoute> routes, RouterOptions options) {
  auto behavior = [](actors::metered_pointer<router_actor, RouterState> self, std::vector<BackendRoute> initial,
                     RouterOptions opts) -> router_actor::behavior_type {
    self->meter("router");
    self->state.routes = std::move(initial);
    self->state.options = opts;
    return {
        [self](generate_atom, BackendRequest& request, EventSink& sink) -> caf::result<GenerateReply> {
          const auto& routes = self->state.routes;
          auto resolution = resolve_model(routes, request.request.model);
          if (!resolution) {
            return GenerateReply::refuse(unknown_model(request.request.model, available_models(routes)));
          }
          return self->delegate(routes[resolution->route].backend, generate_atom::value,
                                addressed(std::move(request), *resolution), std::move(sink));
        },
        [self](count_atom, BackendRequest& request) -> caf::result<TokenCount> {
          const auto& routes = self->state.routes;
          auto resolution = resolve_model(routes, request.request.model);
          if (!resolution) {
            return TokenCount::cannot(unknown_model(request.request.model, available_models(routes)));
          }
          return self->delegate(routes[resolution->route].backend, count_atom::value,
                                addressed(std::move(request), *resolution));
        },
        [self](describe_atom) -> caf::result<ModelList> {
          const auto& routes = self->state.routes;
          if (routes.empty()) return ModelList{};
          auto collector = std::make_shared<DescribeCollector>();
          collector->promise = self->make_response_promise<ModelList>();
          collector->parts.resize(routes.size());
          collector->pending = routes.size();
          const auto timeout = caf::duration{self->state.options.describe_timeout};
          for (size_t i = 0; i < routes.size(); ++i) {
            auto fallback = listed_from_route(routes[i]);
            self->request(routes[i].backend, timeout, describe_atom::value)
                .then(
                    [collector, i](ModelList& list) {
                      collector->parts[i] = std::move(list);
                      --collector->pending;
                      collector->deliver_if_done();
                    },
                    [collector, i, fallback](caf::error&) {
                      collector->parts[i] = fallback;
                      --collector->pending;
                      collector->deliver_if_done();
                    });
          }
          return collector->promise;
        },
        [self](register_atom, BackendRoute& route) {
          self->state.routes.push_back(std::move(route));
          return caf::ok_atom::value;
        },
    };
  };
  return system.spawn(behavior, std::move(routes), options);
}

}  // namespace tandem::backend
