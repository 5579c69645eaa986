#include "app/api/api.h"

#include "actors/backend/router.h"
#include "actors/serving/local_backend.h"
#include "actors/serving/scheduler_metrics.h"
#include "app/api/endpoints.h"
#include "app/api/local_load.h"
#include "app/api/model_loading.h"
#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tandem::api {

struct ApiService::Impl {
  ApiState state;
  std::vector<std::string> local_ids;
  size_t extra_backends = 0;
  std::vector<std::shared_ptr<LocalLoad>> local_loads;  // kept alive with the schedulers' observers
};

namespace {

// What one model's KV pool holds: K and V, fp16, for every layer.
double kv_pool_mib(const engine::ModelConfig& config, uint64_t tokens) {
  const double bytes = static_cast<double>(tokens) * config.n_layer * config.n_head_kv * config.head_dim * 2 * 2;
  return bytes / (1024.0 * 1024.0);
}

local::LocalModel load_model(const ApiOptions& options, size_t index,
                             const std::shared_ptr<prometheus::Registry>& metrics,
                             std::shared_ptr<LocalLoad>& published) {
  const std::string& path = options.models[index];
  auto model = load_local_model(path, options.threads);
  local::LocalModel served;
  const std::string stem = model_id_from_path(path);
  if (index < options.aliases.size() && !options.aliases[index].empty()) {
    served.id = options.aliases[index];
    if (stem != served.id) served.aliases.push_back(stem);  // the file's own name still routes
  } else {
    served.id = stem;
  }
  served.created = schemas::unix_time_now();
  served.max_schema_bytes = options.max_schema_bytes;

  actors::SchedulerOptions scheduler_options;
  scheduler_options.max_running = static_cast<size_t>(std::max(1, options.parallel));
  scheduler_options.max_waiting = static_cast<size_t>(std::max(0, options.max_queue));
  scheduler_options.step_token_budget = static_cast<size_t>(std::max(1, options.batch_tokens));
  scheduler_options.step_policy.prefill_order = options.prefill_shortest_first
                                                    ? engine::StepPolicy::PrefillOrder::shortest_first
                                                    : engine::StepPolicy::PrefillOrder::arrival;
  scheduler_options.step_policy.max_prefill_tokens = static_cast<size_t>(std::max(0, options.max_prefill_tokens));
  scheduler_options.step_policy.max_prefill_sequences = static_cast<size_t>(std::max(0, options.max_prefill_seqs));
  scheduler_options.step_policy.prefill_first = options.prefill_first;
  scheduler_options.waiting_heartbeat = options.waiting_heartbeat;
  scheduler_options.step_delay = options.step_delay;
  const uint32_t context = effective_context(options.ctx_size, model->config().context_length);
  if (options.ctx_size > 0 && static_cast<uint32_t>(options.ctx_size) > context) {
    spdlog::warn("model {}: --ctx-size {} is above its trained context; using {}", served.id, options.ctx_size,
                 context);
  }
  scheduler_options.engine.context_size = context;
  // Every running sequence can hold a full context at once.
  scheduler_options.engine.kv_tokens = context * static_cast<uint32_t>(scheduler_options.max_running);

  auto& weights = model->model();
  const auto* tokenizer = &model->tokenizer();
  published = std::make_shared<LocalLoad>(served.id, scheduler_options);
  served.scheduler = std::make_shared<actors::Scheduler>(
      weights, tokenizer, scheduler_options,
      published->observe(actors::make_scheduler_metrics(metrics, served.id, scheduler_options.max_waiting)), model);
  served.context_size = served.scheduler->context_size();
  served.model = model;

  const auto& config = model->config();
  spdlog::info("model {} loaded from {}: {} arch, {} layers, dim {}, vocab {}, context {} (trained {}); {}",
               served.id, path, config.arch_name, config.n_layer, config.n_embd, config.n_vocab, served.context_size,
               config.context_length, weights.load_report().summary());
  spdlog::info("model {}: {} parallel sequences, KV pool {} tokens ({:.1f} MiB), queue {}, step budget {} "
               "tokens, chat template: {}",
               served.id, scheduler_options.max_running, scheduler_options.engine.kv_tokens,
               kv_pool_mib(config, scheduler_options.engine.kv_tokens), scheduler_options.max_waiting,
               scheduler_options.step_token_budget, model->chat_template_is_fallback() ? "ChatML (fallback)" : "the model's");
  return served;
}

}  // namespace

ApiService::ApiService(const ApiOptions& options, actors::ActorRuntime& runtime,
                       std::shared_ptr<prometheus::Registry> metrics)
    : impl_(std::make_shared<Impl>()) {
  auto& state = impl_->state;
  state.runtime = &runtime;
  state.backend_timeout = options.backend_timeout;
  state.responses = std::make_shared<schemas::ResponseStore>(options.stored_responses,
                                                             std::chrono::seconds(options.stored_response_ttl));
  std::vector<local::LocalModel> models;
  std::vector<std::string> paths;
  for (size_t i = 0; i < options.models.size(); ++i) {
    std::shared_ptr<LocalLoad> published;
    auto served = load_model(options, i, metrics, published);
    impl_->local_loads.push_back(published);
    for (size_t j = 0; j < models.size(); ++j) {
      if (models[j].id == served.id) {
        throw ModelLoadError("two models are named '" + served.id + "' (" + paths[j] + " and " + options.models[i] +
                             "); give one of them another name with --alias");
      }
    }
    models.push_back(std::move(served));
    paths.push_back(options.models[i]);
  }
  // Local models are routed first: their names win over a provider's prefixes.
  std::vector<backend::BackendRoute> routes;
  for (size_t i = 0; i < models.size(); ++i) {
    auto& model = models[i];
    impl_->local_ids.push_back(model.id);
    backend::BackendRoute route;
    route.provider = "local";
    auto published = impl_->local_loads[i];
    route.load = [published] { return published->load(); };
    route.status = [published] { return published->status(); };
    state.backend_statuses.push_back(route.status);
    route.models = {model.id};
    for (const auto& alias : model.aliases) route.aliases.emplace_back(alias, model.id);
    route.backend = local::spawn_local_backend(runtime.system(), std::move(model));
    runtime.track(backend::as_actor(route.backend));
    routes.push_back(std::move(route));
  }
  backend::RouterOptions router_options;
  router_options.rules.rules = options.routing;
  router_options.metrics = metrics;
  state.router = backend::as_actor(backend::spawn_router(runtime.system(), std::move(routes), router_options));
  runtime.track(state.router);
}

ApiService::~ApiService() = default;

void ApiService::add_backends(std::vector<backend::BackendRoute> routes) {
  for (auto& route : routes) {
    impl_->state.runtime->track(backend::as_actor(route.backend));
    if (route.status) impl_->state.backend_statuses.push_back(route.status);
    caf::anon_send(impl_->state.router, backend::register_atom::value, std::move(route));
    ++impl_->extra_backends;
  }
}

void ApiService::set_routing(std::shared_ptr<const routing::RoutingRules> rules) {
  if (!impl_->state.router) return;  // released: the server is stopping
  caf::anon_send(impl_->state.router, backend::rules_atom::value, backend::RoutingTable{std::move(rules)});
}

std::optional<std::string> ApiService::readiness() const {
  if (impl_->local_ids.empty() && impl_->extra_backends == 0) {
    return "no model is loaded: start tandem with --model PATH.gguf";
  }
  return std::nullopt;
}

std::vector<std::string> ApiService::model_ids() const { return impl_->local_ids; }

void ApiService::release_actors() { impl_->state.router = caf::actor(); }

void ApiService::add_routes(http::Router& router) const {
  auto impl = impl_;
  router.add("POST", "/v1/chat/completions", [impl](http::RequestContext& ctx) {
    return handle_chat(impl->state, ctx, schemas::Protocol::openai);
  });
  router.add("POST", "/v1/messages", [impl](http::RequestContext& ctx) {
    return handle_chat(impl->state, ctx, schemas::Protocol::anthropic);
  });
  router.add("POST", "/v1/responses",
             [impl](http::RequestContext& ctx) { return handle_create_response(impl->state, ctx); });
  router.add("GET", "/v1/responses/{id}",
             [impl](http::RequestContext& ctx) { return handle_get_response(impl->state, ctx); });
  router.add("DELETE", "/v1/responses/{id}",
             [impl](http::RequestContext& ctx) { return handle_delete_response(impl->state, ctx); });
  router.add("POST", "/v1/completions",
             [impl](http::RequestContext& ctx) { return handle_completions(impl->state, ctx); });
  router.add("POST", "/v1/messages/count_tokens",
             [impl](http::RequestContext& ctx) { return handle_count_tokens(impl->state, ctx); });
  router.add("GET", "/v1/models", [impl](http::RequestContext& ctx) { return handle_list_models(impl->state, ctx); });
  router.add("GET", "/v1/backends", [impl](http::RequestContext& ctx) { return handle_list_backends(impl->state, ctx); });
  router.add("GET", "/v1/models/{id*}", [impl](http::RequestContext& ctx) { return handle_get_model(impl->state, ctx); });
}

}  // namespace tandem::api
