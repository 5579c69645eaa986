// The model-serving API: loads the GGUF models given with --model, starts a local backend actor
// per model (actors/serving/local_backend.h) and the router (actors/backend/router.h), and serves
//   POST /v1/chat/completions, /v1/completions, /v1/messages, /v1/messages/count_tokens
//   POST /v1/responses, GET/DELETE /v1/responses/{id}
//   GET  /v1/models, /v1/models/{id}
//   GET  /v1/backends (each backend's state, error rate, latency, load)
// CAF, Beast and the engine stay out of this header: app/server.cpp includes it.
#pragma once

#include "http/server.h"

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace prometheus {
class Registry;
}

namespace tandem::actors {
class ActorRuntime;
}
namespace tandem::backend {
struct BackendRoute;
}
namespace tandem::routing {
class RoutingRules;
}

namespace tandem::api {

struct ApiOptions {
  std::vector<std::string> models;   // GGUF paths
  std::vector<std::string> aliases;  // aliases[i] becomes the id of models[i]
  int ctx_size = 4096;               // per sequence; 0 or above the trained context: the model's
  int parallel = 4;                  // sequences in the batch at once
  int threads = 1;                   // engine/BLAS threads
  int max_queue = 64;                // requests waiting for a slot before "overloaded"
  int batch_tokens = 512;            // token budget of one engine step
  // How a step shares it (engine::StepPolicy): --prefill-order, --max-prefill-tokens,
  // --max-prefill-seqs, --prefill-first.
  bool prefill_shortest_first = true;
  int max_prefill_tokens = 0;
  int max_prefill_seqs = 0;
  bool prefill_first = false;
  // How often a queued request hears from the scheduler (Anthropic `ping`, an SSE comment for
  // OpenAI), which also notices clients that left while queued.
  std::chrono::milliseconds waiting_heartbeat{2000};
  std::chrono::milliseconds step_delay{0};  // test-only pacing (hidden --debug-step-delay)
  // How long a backend has to accept or refuse a generation, count tokens or list its models.
  std::chrono::milliseconds backend_timeout{10000};
  // Responses API store (`store: true`): at most this many responses, each kept this long.
  size_t stored_responses = 1000;
  int64_t stored_response_ttl = 3600;  // seconds
  size_t max_schema_bytes = 64 * 1024;  // a structured-output request's schema text at most
  // The config file's "routing" rules (actors/routing/rules.h); null: plain addressing.
  std::shared_ptr<const routing::RoutingRules> routing;
};

// A model that cannot be loaded (missing file, corrupt GGUF, unsupported architecture...).
class ModelLoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ApiService {
 public:
  // Loads every model and spawns its scheduler and the router in `runtime` (both tracked, so
  // runtime.shutdown() stops them after the HTTP drain). Throws ModelLoadError naming the file.
  ApiService(const ApiOptions& options, actors::ActorRuntime& runtime,
             std::shared_ptr<prometheus::Registry> metrics);
  ~ApiService();
  ApiService(const ApiService&) = delete;
  ApiService& operator=(const ApiService&) = delete;

  void add_routes(http::Router& router) const;
  // More backends for the router (cloud providers), after the local models: each with the
  // names, aliases and prefixes it serves (see actors/backend/router.h).
  void add_backends(std::vector<backend::BackendRoute> routes);
  // Replaces the router's rules (a hot reload); requests in flight keep theirs.
  void set_routing(std::shared_ptr<const routing::RoutingRules> rules);
  // nullopt when a model can serve (what /ready asks), else why not.
  std::optional<std::string> readiness() const;
  std::vector<std::string> model_ids() const;
  // Drops this service's actor handles; call once the HTTP server has stopped (no handler runs
  // any more) and before the actor runtime shuts down.
  void release_actors();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the route handlers
};

}  // namespace tandem::api
