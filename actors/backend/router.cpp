#include "actors/backend/router.h"

#include "actors/actor_metrics.h"
#include "actors/routing/chain_walk.h"

#include "actors/counter_children.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

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

// tandem_router_routed_total{rule,target} and tandem_router_fallbacks_total{from,to,reason}.
struct RouterMetrics {
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Counter>* routed = nullptr;
  prometheus::Family<prometheus::Counter>* fallbacks = nullptr;
  std::unique_ptr<actors::CounterChildren> routed_by;  // `routed`'s children, counted on every request

  explicit RouterMetrics(std::shared_ptr<prometheus::Registry> reg) : registry(std::move(reg)) {
    routed = &prometheus::BuildCounter()
                  .Name("tandem_router_routed_total")
                  .Help("Requests answered, by routing rule and the backend that answered")
                  .Register(*registry);
    routed_by = std::make_unique<actors::CounterChildren>(*routed);
    fallbacks = &prometheus::BuildCounter()
                     .Name("tandem_router_fallbacks_total")
                     .Help("Moves to the next target of a rule's chain, by backend left, backend tried and why")
                     .Register(*registry);
  }
};

struct RouterState {
  std::vector<BackendRoute> routes;
  RouterOptions options;
  std::shared_ptr<RouterMetrics> metrics;
  static inline const char* name = "tandem.router";
};

// Metered (actors/actor_metrics.h): messages, mailbox depth and handling times under actor="router".
using router_pointer = actors::metered_pointer<router_actor, RouterState>;

// The request as the chosen backend should see it.
BackendRequest addressed(BackendRequest request, const Resolution& resolution) {
  if (request.requested_model.empty()) request.requested_model = request.request.model;
  request.request.model = resolution.model;
  return request;
}

bool is_named(const ModelInfo& model, const std::string& name) {
  return model.id == name || std::find(model.aliases.begin(), model.aliases.end(), name) != model.aliases.end();
}

bool lists_name(const ModelList& list, const std::string& name) {
  return std::any_of(list.models.begin(), list.models.end(), [&](const ModelInfo& model) { return is_named(model, name); });
}

// Names that exist only as exact-name rules ("assistant" -> local qwen, then openai) are models
// to clients too: each is listed like the model its first target names (capabilities, context
// window) when that one is listed, owned by that target: a provider's name, or "tandem" (as
// local models are) for a local target. A name a backend serves already is not listed twice.
void add_rule_names(ModelList& merged, const routing::RoutingRules& rules) {
  for (const auto& rule : rules.rules()) {
    if (rule.match_kind != routing::MatchKind::exact || rule.targets.empty()) continue;
    if (lists_name(merged, rule.pattern)) continue;
    const routing::RouteTarget& first = rule.targets.front();
    const std::string model = first.model_for(rule.pattern);
    const std::string owner = first.is_local() ? "tandem" : first.backend;
    ModelInfo info;
    for (const auto& listed : merged.models) {
      if (listed.owned_by == owner && is_named(listed, model)) {
        info = listed;
        break;
      }
    }
    info.id = rule.pattern;
    info.aliases.clear();
    info.display_name.clear();
    info.owned_by = owner;
    merged.models.push_back(std::move(info));
  }
}

// Describe fan-out: one slot per route, delivered when the last one answers (or times out).
struct DescribeCollector {
  caf::typed_response_promise<ModelList> promise;
  std::vector<ModelList> parts;
  size_t pending = 0;
  std::shared_ptr<const routing::RoutingRules> rules;  // in force when describe was asked

  void deliver_if_done() {
    if (pending != 0) return;
    ModelList merged;
    for (auto& part : parts) {
      for (auto& model : part.models) merged.models.push_back(std::move(model));
    }
    if (rules) add_rule_names(merged, *rules);
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

// ---------------------------------------------------------------- rules and fallback chains

// The fallbacks counter's reason label (the contract's names).
std::string reason_label(const std::string& reason) {
  if (reason == "upstream_failure") return "upstream_error";
  return reason;
}

std::string backend_of(const std::string& label) { return label.substr(0, label.find('/')); }

// Where a rule's target goes: a local route serving the model, or the provider's route.
std::optional<Resolution> resolve_target(const std::vector<BackendRoute>& routes, const routing::RouteTarget& target,
                                         const std::string& model) {
  if (target.is_local()) {
    const std::string local(routing::kLocalBackend);
    return by_name(routes, model, &local);
  }
  if (auto named = by_name(routes, model, &target.backend)) return named;
  for (size_t i = 0; i < routes.size(); ++i) {
    if (routes[i].provider == target.backend && routes[i].any_model && !model.empty()) return Resolution{i, model};
  }
  return std::nullopt;
}

// One request's walk along its rule's chain; lives in the callbacks of its asks.
struct ChainRequest {
  routing::ChainWalk walk;
  BackendRequest request;  // as the client sent it; each target gets an addressed copy
  EventSink sink;
  caf::typed_response_promise<GenerateReply> promise;
  std::optional<GenerateReply> last_refusal;
  // A local target skipped for its SLO: a preference, not a failure, so it is asked after all
  // when every later target refused.
  std::optional<Resolution> slo_skipped;
  std::string slo_skipped_label;
  std::string asking;                 // "backend/model" of the target asked last
  std::vector<std::string> also_tried;  // targets that refused after the walk had ended


  ChainRequest(routing::ChainWalk w, BackendRequest r, EventSink s)
      : walk(std::move(w)), request(std::move(r)), sink(std::move(s)) {}

  std::vector<std::string> tried() const {
    std::vector<std::string> out;
    for (const auto& record : walk.fallbacks()) out.push_back(record.from);
    out.insert(out.end(), also_tried.begin(), also_tried.end());
    return out;
  }
};

size_t chain_size(const ChainRequest& chain);

void count_fallback(RouterState& state, const routing::FallbackRecord& record) {
  spdlog::info("router: {} -> {} ({}{}{})", record.from, record.to, record.reason, record.detail.empty() ? "" : ": ",
               record.detail);
  if (!state.metrics) return;
  state.metrics->fallbacks
      ->Add({{"from", backend_of(record.from)}, {"to", backend_of(record.to)}, {"reason", reason_label(record.reason)}})
      .Increment();
}

void finish_chain(const std::shared_ptr<ChainRequest>& chain, GenerateReply reply) {
  reply.fallbacks = chain->tried();
  chain->promise.deliver(std::move(reply));
}

void ask_target(router_pointer self, std::shared_ptr<ChainRequest> chain, Resolution resolution, bool can_fall_back,
                bool last_resort);

// The chain ended in a refusal: the SLO-skipped local target gets its turn, else the refusal stands.
void chain_exhausted(router_pointer self, const std::shared_ptr<ChainRequest>& chain, GenerateReply refusal) {
  if (chain->slo_skipped) {
    auto resolution = *chain->slo_skipped;
    chain->slo_skipped.reset();
    chain->last_refusal = std::move(refusal);
    if (!chain->asking.empty()) chain->also_tried.push_back(chain->asking);
    spdlog::info("[{}] router: every other target refused; back to {} despite its SLO", chain->request.request_id,
                 chain->slo_skipped_label);
    return ask_target(self, chain, resolution, false, true);
  }
  finish_chain(chain, std::move(refusal));
}

void try_target(router_pointer self, std::shared_ptr<ChainRequest> chain) {
  auto& state = self->state;
  auto step = chain->walk.current();
  if (!step) {
    if (chain->last_refusal) return chain_exhausted(self, chain, std::move(*chain->last_refusal));
    return finish_chain(chain, GenerateReply::refuse(unknown_model(chain->request.request.model, available_models(state.routes))));
  }
  const routing::RouteTarget& target = *step->target;
  auto resolution = resolve_target(state.routes, target, step->model);
  if (!resolution) {
    auto refusal = GenerateReply::refuse(
        unknown_model(step->model, available_models(state.routes)), "unavailable");
    chain->last_refusal = refusal;
    if (chain->walk.fail(routing::FallbackTrigger::unavailable, "no backend " + target.backend + " serves " + step->model)) {
      count_fallback(state, chain->walk.fallbacks().back());
      return try_target(self, std::move(chain));
    }
    return chain_exhausted(self, chain, std::move(refusal));
  }
  const BackendRoute& route = state.routes[resolution->route];
  if (target.is_local() && !target.slo.empty() && route.load) {
    auto load = route.load();
    // A cheap prompt length (no template, no tokenizer): from the body's size, by the fit the
    // scheduler learned from earlier requests.
    const uint64_t prompt_tokens = routing::estimate_prompt_tokens(load, chain->request.raw_body.size());
    auto verdict = routing::evaluate_slo(target.slo, load, prompt_tokens);
    spdlog::debug("[{}] router: {} predicted TTFT {} ms (queue {}, running {}, prompt ~{} tokens, {:.0f}% cached, "
                  "step {:.2f} ms + {:.3f} ms a prompt row + {:.3f} ms a decode row)",
                  chain->request.request_id, step->model,
                  verdict.predicted_ttft ? std::to_string(verdict.predicted_ttft->count()) : std::string("unknown"),
                  load.waiting, load.running, prompt_tokens, load.cached_prompt_share * 100,
                  load.step_cost.per_step * 1e3, load.step_cost.per_prefill_row * 1e3,
                  load.step_cost.per_decode_row * 1e3);
    if (chain->walk.skip_for_slo(verdict)) {
      chain->slo_skipped = *resolution;
      chain->slo_skipped_label = chain->walk.fallbacks().back().from;
      count_fallback(state, chain->walk.fallbacks().back());
      return try_target(self, std::move(chain));
    }
  }
  const bool more = step->index + 1 < chain_size(*chain) || chain->slo_skipped.has_value();
  ask_target(self, std::move(chain), *resolution, more, false);
}

size_t chain_size(const ChainRequest& chain) { return chain.walk.rule().targets.size(); }

void ask_target(router_pointer self, std::shared_ptr<ChainRequest> chain, Resolution resolution, bool can_fall_back,
                bool last_resort) {
  auto& state = self->state;
  const BackendRoute& route = state.routes[resolution.route];
  std::string answered_by = route.provider;
  std::string rule_name = chain->walk.rule().name;
  BackendRequest asked = addressed(chain->request, resolution);
  asked.can_fall_back = can_fall_back;
  chain->asking = route.provider + "/" + resolution.model;
  self->request(route.backend, caf::infinite, generate_atom::value, std::move(asked), chain->sink)
      .then(
          [self, chain, answered_by, rule_name, last_resort](GenerateReply& reply) {
            auto& state = self->state;
            if (reply.accepted) {
              reply.backend = answered_by;
              if (state.metrics) state.metrics->routed_by->get({{"rule", rule_name}, {"target", answered_by}}).Increment();
              return finish_chain(chain, std::move(reply));
            }
            if (last_resort) return finish_chain(chain, std::move(reply));
            auto trigger = fallback_trigger_of(reply);
            chain->last_refusal = reply;
            if (trigger && chain->walk.fail(*trigger, reply.error.message)) {
              count_fallback(state, chain->walk.fallbacks().back());
              return try_target(self, chain);
            }
            if (trigger) return chain_exhausted(self, chain, std::move(reply));
            finish_chain(chain, std::move(reply));
          },
          [self, chain, last_resort](caf::error& error) {
            auto refusal = GenerateReply::refuse(
                schemas::make_error(schemas::ErrorKind::unavailable, "backend failed: " + to_string(error)), "unavailable");
            if (last_resort) return finish_chain(chain, std::move(refusal));
            chain->last_refusal = refusal;
            if (chain->walk.fail(routing::FallbackTrigger::unavailable, to_string(error))) {
              count_fallback(self->state, chain->walk.fallbacks().back());
              return try_target(self, chain);
            }
            chain_exhausted(self, chain, std::move(refusal));
          });
}

// Plain addressing (no rule matched): one backend, its reply completed with who answered.
caf::result<GenerateReply> address_directly(router_pointer self, BackendRequest& request, EventSink& sink) {
  const auto& routes = self->state.routes;
  auto resolution = resolve_model(routes, request.request.model);
  if (!resolution) return GenerateReply::refuse(unknown_model(request.request.model, available_models(routes)));
  auto promise = self->make_response_promise<GenerateReply>();
  std::string answered_by = routes[resolution->route].provider;
  self->request(routes[resolution->route].backend, caf::infinite, generate_atom::value,
                addressed(std::move(request), *resolution), std::move(sink))
      .then(
          [self, promise, answered_by](GenerateReply& reply) mutable {
            if (reply.accepted) {
              reply.backend = answered_by;
              if (self->state.metrics)
                self->state.metrics->routed_by->get({{"rule", "none"}, {"target", answered_by}}).Increment();
            }
            promise.deliver(std::move(reply));
          },
          [promise](caf::error& error) mutable {
            promise.deliver(GenerateReply::refuse(
                schemas::make_error(schemas::ErrorKind::unavailable, "backend failed: " + to_string(error))));
          });
  return promise;
}

caf::result<GenerateReply> route_generate(router_pointer self, BackendRequest& request, EventSink& sink) {
  auto& state = self->state;
  const routing::RoutingRule* rule = state.options.rules.rules ? state.options.rules.rules->match(request.request.model)
                                                               : nullptr;
  if (!rule) return address_directly(self, request, sink);
  if (request.requested_model.empty()) request.requested_model = request.request.model;
  routing::ChainWalk walk(*rule, request.request.model);
  auto chain = std::make_shared<ChainRequest>(std::move(walk), std::move(request), std::move(sink));
  chain->promise = self->make_response_promise<GenerateReply>();
  auto promise = chain->promise;
  try_target(self, std::move(chain));
  return promise;
}

}  // namespace

std::optional<routing::FallbackTrigger> fallback_trigger_of(const GenerateReply& reply) {
  if (reply.accepted) return std::nullopt;
  for (auto trigger : routing::kAllFallbackTriggers) {
    if (!reply.fallback_reason.empty() && routing::fallback_trigger_name(trigger) == reply.fallback_reason) return trigger;
  }
  switch (reply.error.kind) {
    case schemas::ErrorKind::queue_full: return routing::FallbackTrigger::queue_full;
    case schemas::ErrorKind::context_length_exceeded: return routing::FallbackTrigger::context_too_long;
    case schemas::ErrorKind::model_not_found:
    case schemas::ErrorKind::unavailable: return routing::FallbackTrigger::unavailable;
    default: return std::nullopt;
  }
}

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
  auto behavior = [](router_pointer self, std::vector<BackendRoute> initial,
                     RouterOptions opts) -> router_actor::behavior_type {
    self->meter("router");
    self->state.routes = std::move(initial);
    self->state.options = opts;
    if (opts.metrics) self->state.metrics = std::make_shared<RouterMetrics>(opts.metrics);
    return {
        [self](generate_atom, BackendRequest& request, EventSink& sink) -> caf::result<GenerateReply> {
          return route_generate(self, request, sink);
        },
        [self](count_atom, BackendRequest& request) -> caf::result<TokenCount> {
          const auto& routes = self->state.routes;
          const auto& rules = self->state.options.rules.rules;
          // A rule's name counts on its first target that exists (no fallback: counting is cheap
          // and the tokenizers of a chain's targets differ anyway).
          if (const routing::RoutingRule* rule = rules ? rules->match(request.request.model) : nullptr) {
            for (const auto& target : rule->targets) {
              std::string model = target.model_for(request.request.model);
              if (auto resolution = resolve_target(routes, target, model))
                return self->delegate(routes[resolution->route].backend, count_atom::value,
                                      addressed(std::move(request), *resolution));
            }
          }
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
          collector->rules = self->state.options.rules.rules;
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
        [self](rules_atom, RoutingTable& table) {
          self->state.options.rules = std::move(table);
          return caf::ok_atom::value;
        },
    };
  };
  return system.spawn(behavior, std::move(routes), options);
}

}  // namespace tandem::backend
