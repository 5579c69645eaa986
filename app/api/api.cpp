#include "app/api/api.h"

#include "actors/serving/scheduler_metrics.h"
#include "actors/serving/serving_actors.h"
#include "app/api/endpoints.h"
#include "app/api/model_loading.h"
#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tandem::api {

struct ApiService::Impl {
  ApiState state;
};

namespace {

// What one model's KV pool holds: K and V, fp16, for every layer.
double kv_pool_mib(const engine::ModelConfig& config, uint64_t tokens) {
  const double bytes = static_cast<double>(tokens) * config.n_layer * config.n_head_kv * config.head_dim * 2 * 2;
  return bytes / (1024.0 * 1024.0);
}

std::shared_ptr<const actors::ServedModel> serve_model(const ApiOptions& options, size_t index,
                                                       actors::ActorRuntime& runtime,
                                                       const std::shared_ptr<prometheus::Registry>& metrics) {
  const std::string& path = options.models[index];
  auto model = load_local_model(path, options.threads);
  auto served = std::make_shared<actors::ServedModel>();
  const std::string stem = model_id_from_path(path);
  if (index < options.aliases.size() && !options.aliases[index].empty()) {
    served->id = options.aliases[index];
    if (stem != served->id) served->aliases.push_back(stem);  // the file's own name still routes
  } else {
    served->id = stem;
  }
  served->path = path;
  served->created = schemas::unix_time_now();

  actors::SchedulerOptions scheduler_options;
  scheduler_options.max_running = static_cast<size_t>(std::max(1, options.parallel));
  scheduler_options.max_waiting = static_cast<size_t>(std::max(0, options.max_queue));
  scheduler_options.step_token_budget = static_cast<size_t>(std::max(1, options.batch_tokens));
  scheduler_options.waiting_heartbeat = options.waiting_heartbeat;
  scheduler_options.step_delay = options.step_delay;
  const uint32_t context = effective_context(options.ctx_size, model->config().context_length);
  if (options.ctx_size > 0 && static_cast<uint32_t>(options.ctx_size) > context) {
    spdlog::warn("model {}: --ctx-size {} is above its trained context; using {}", served->id, options.ctx_size,
                 context);
  }
  scheduler_options.engine.context_size = context;
  // Every running sequence can hold a full context at once.
  scheduler_options.engine.kv_tokens = context * static_cast<uint32_t>(scheduler_options.max_running);

  auto& weights = model->model();
  const auto* tokenizer = &model->tokenizer();
  auto scheduler = std::make_shared<actors::Scheduler>(weights, tokenizer, scheduler_options,
                                                       actors::make_scheduler_metrics(metrics, served->id), model);
  served->context_size = scheduler->context_size();
  served->model = model;
  served->scheduler = actors::spawn_scheduler_actor(runtime.system(), scheduler);
  runtime.track(served->scheduler);

  const auto& config = model->config();
  spdlog::info("model {} loaded from {}: {} arch, {} layers, dim {}, vocab {}, context {} (trained {}); {}",
               served->id, path, config.arch_name, config.n_layer, config.n_embd, config.n_vocab,
               served->context_size, config.context_length, weights.load_report().summary());
  spdlog::info("model {}: {} parallel sequences, KV pool {} tokens ({:.1f} MiB), queue {}, step budget {} "
               "tokens, chat template: {}",
               served->id, scheduler_options.max_running, scheduler_options.engine.kv_tokens,
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
  for (size_t i = 0; i < options.models.size(); ++i) {
    auto served = serve_model(options, i, runtime, metrics);
    for (const auto& other : state.models) {
      if (other->id == served->id) {
        throw ModelLoadError("two models are named '" + served->id + "' (" + other->path + " and " + served->path +
                             "); give one of them another name with --alias");
      }
    }
    state.models.push_back(std::move(served));
  }
  state.router = actors::spawn_router_actor(runtime.system(), state.models);
  runtime.track(state.router);
}

ApiService::~ApiService() = default;

std::optional<std::string> ApiService::readiness() const {
  if (impl_->state.models.empty()) return "no model is loaded: start tandem with --model PATH.gguf";
  return std::nullopt;
}

std::vector<std::string> ApiService::model_ids() const {
  std::vector<std::string> ids;
  for (const auto& model : impl_->state.models) ids.push_back(model->id);
  return ids;
}

void ApiService::release_actors() {
  impl_->state.router = caf::actor();
  impl_->state.models.clear();
}

void ApiService::add_routes(http::Router& router) const {
  auto impl = impl_;
  router.add("POST", "/v1/chat/completions", [impl](http::RequestContext& ctx) {
    return handle_chat(impl->state, ctx, schemas::Protocol::openai);
  });
  router.add("POST", "/v1/messages", [impl](http::RequestContext& ctx) {
    return handle_chat(impl->state, ctx, schemas::Protocol::anthropic);
  });
  router.add("POST", "/v1/completions",
             [impl](http::RequestContext& ctx) { return handle_completions(impl->state, ctx); });
  router.add("POST", "/v1/messages/count_tokens",
             [impl](http::RequestContext& ctx) { return handle_count_tokens(impl->state, ctx); });
  router.add("GET", "/v1/models", [impl](http::RequestContext& ctx) { return handle_list_models(impl->state, ctx); });
  router.add("GET", "/v1/models/{id*}", [impl](http::RequestContext& ctx) { return handle_get_model(impl->state, ctx); });
}

}  // namespace tandem::api
