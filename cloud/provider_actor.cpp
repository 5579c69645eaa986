// The provider actor: one per upstream provider, the one owner of its circuit breaker and retry
// policy (cloud/resilience). Each generate runs as a GenerateCall (provider_call.h) whose
// attempts' transfer callbacks run on the upstream client's thread and hand their reports back
// here as messages, since the breaker, the retry policy and the CAF response promises belong to
// this actor's thread.
#include "cloud/provider_actor.h"

#include "actors/actor_metrics.h"
#include "cloud/provider_call.h"
#include "cloud/provider_models.h"
#include "schemas/refusals.h"
#include "schemas/translate.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>

namespace json = boost::json;

namespace tandem::cloud {

using backend::BackendRequest;
using backend::EventSink;
using backend::GenerateReply;
using backend::TokenCount;
using resilience::FailureKind;
using schemas::ApiError;
using schemas::ErrorKind;
using schemas::Protocol;

namespace {

using decided_atom = caf::atom_constant<caf::atom("decided")>;
using attempt_atom = caf::atom_constant<caf::atom("attempt")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using listed_atom = caf::atom_constant<caf::atom("listed")>;
// (listed_atom, ids, ok): the upstream's model list arrived (ok) or could not be had.
using provider_actor = backend::backend_actor::extend<caf::reacts_to<decided_atom, std::uint64_t>,
                                                      caf::reacts_to<attempt_atom, std::uint64_t>,
                                                      caf::reacts_to<retry_atom, std::uint64_t>,
                                                      caf::reacts_to<listed_atom, std::vector<std::string>, bool>>;

// The reply of one count call and what it says of the provider (for its breaker), set once on
// the client thread and delivered by the actor.
struct Decision {
  std::mutex mutex;
  std::optional<TokenCount> count;
  resilience::CallOutcome outcome;
};

// Signals the actor that count call `id` is decided (from any thread).
struct Decider {
  caf::weak_actor_ptr actor;  // weak: see the generate call's notify
  std::shared_ptr<Decision> decision;
  std::uint64_t id = 0;

  void count(TokenCount reply, resilience::CallOutcome outcome) const {
    {
      std::lock_guard lock(decision->mutex);
      if (decision->count) return;
      decision->count = std::move(reply);
      decision->outcome = outcome;
    }
    if (auto strong = actor.lock()) caf::anon_send(caf::actor_cast<provider_actor>(strong), decided_atom::value, id);
  }
};

// One generate in progress, as the actor sees it.
struct PendingGenerate {
  std::shared_ptr<GenerateCall> call;
  caf::typed_response_promise<GenerateReply> promise;
  bool replied = false;
  std::optional<resilience::RequestAttempts> attempts;
  resilience::BreakerPermit permit;
  bool permit_out = false;  // an admitted permit not yet handed back to the breaker
  std::optional<AttemptReport> last_failure;  // while a retry waits
};

struct ProviderState {
  std::shared_ptr<const ProviderConfig> provider;
  std::vector<std::pair<std::string, std::string>> aliases;
  std::shared_ptr<UpstreamClient> client;
  std::shared_ptr<ProviderMonitor> monitor;
  std::unique_ptr<resilience::CircuitBreaker> breaker;
  std::unique_ptr<resilience::RetryPolicy> retry;
  std::uint64_t next_call = 1;
  std::unordered_map<std::uint64_t, PendingGenerate> generates;
  std::unordered_map<std::uint64_t, std::shared_ptr<Decision>> decisions;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<TokenCount>> count_promises;
  std::unordered_map<std::uint64_t, resilience::BreakerPermit> count_permits;  // handed back when decided
  // A provider configured without `models` lists its upstream's (cloud/provider_models.h).
  std::unique_ptr<UpstreamModelCache> model_cache;
  std::vector<caf::typed_response_promise<backend::ModelList>> model_waiters;
  static inline const char* name = "tandem.cloud";
};

// Metered (actors/actor_metrics.h) under actor="cloud:<provider>".
using self_pointer = actors::metered_pointer<provider_actor, ProviderState>;

std::string header_of(const HeaderList& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    std::string lowered = name;
    for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lowered == lower_name) return value;
  }
  return {};
}

ForwardedHeaders forwarded_of(const BackendRequest& request) {
  return ForwardedHeaders{header_of(request.forward_headers, "anthropic-version"),
                          header_of(request.forward_headers, "anthropic-beta")};
}

bool is_success(int status) { return status >= 200 && status < 300; }

std::string seconds_text(resilience::Millis ms) {
  return std::to_string((ms.count() + 999) / 1000);
}

ApiError breaker_open_error(const ProviderConfig& provider, resilience::Millis retry_in) {
  ApiError error = api_error(ErrorKind::unavailable, "upstream '" + provider.name +
                                                         "' is unavailable: its circuit breaker is open (next probe in " +
                                                         seconds_text(retry_in) + " s)");
  error.retry_after = static_cast<int>(std::max<int64_t>(1, (retry_in.count() + 999) / 1000));
  return error;
}

// A failure the router may cure by asking another target: the provider's fault, not the caller's.
bool provider_failed(FailureKind kind) {
  return kind != FailureKind::none && kind != FailureKind::caller_error && kind != FailureKind::cancelled;
}

void snapshot(ProviderState& state) { state.monitor->breaker_snapshot(state.breaker->snapshot()); }

void reply(PendingGenerate& pending, GenerateReply answer) {
  if (pending.replied) return;
  pending.replied = true;
  pending.promise.deliver(std::move(answer));
}

void hand_back_permit(ProviderState& state, PendingGenerate& pending, const resilience::CallOutcome& outcome) {
  if (!pending.permit_out) return;
  pending.permit_out = false;
  state.breaker->record(pending.permit, outcome);
  snapshot(state);
}

void start_attempt(self_pointer self, std::uint64_t id);

// The last attempt failed before the commit point and nothing more will be tried here.
void give_up(ProviderState& state, std::uint64_t id, PendingGenerate& pending, const AttemptReport& last) {
  auto& call = *pending.call;
  ApiError error = last.error;
  int attempts = pending.attempts ? pending.attempts->attempts() : 0;
  if (attempts > 1) error.message += " (after " + std::to_string(attempts) + " attempts)";
  const bool fallback = provider_failed(last.outcome.failure);
  if (last.outcome.failure == FailureKind::cancelled) {
    reply(pending, GenerateReply::refuse(error));
    call.emit_error(error);
  } else if (call.passthrough && last.has_answer && (pending.replied || !fallback || !call.can_fall_back)) {
    // The upstream's own answer, byte for byte: its 4xx, or the last error of an accepted call.
    reply(pending, GenerateReply::accept());
    call.emit_answer();
  } else if (pending.replied) {
    call.emit_error(error);
  } else {
    reply(pending, GenerateReply::refuse(std::move(error), fallback ? "upstream_failure" : ""));
  }
  state.generates.erase(id);
}

// Handles the call's oldest report; false when there is none (or the call is over).
bool handle_report(self_pointer self, std::uint64_t id) {
  auto& state = self->state;
  auto found = state.generates.find(id);
  if (found == state.generates.end()) return false;
  PendingGenerate& pending = found->second;
  auto report = pending.call->take_report();
  if (!report) return false;
  switch (report->kind) {
    case AttemptReport::Kind::committed:
      if (pending.attempts) pending.attempts->commit();
      reply(pending, GenerateReply::accept());
      return true;
    case AttemptReport::Kind::ended:
      hand_back_permit(state, pending, report->outcome);
      state.generates.erase(found);
      return true;
    case AttemptReport::Kind::failed: break;
  }
  resilience::CallOutcome outcome = report->outcome;
  resilience::RetryDecision decision;
  if (pending.attempts && !pending.call->client_gone) decision = pending.attempts->after_failure(outcome);
  outcome.retries_spent = !decision.retry;
  hand_back_permit(state, pending, outcome);
  const auto& provider = *state.provider;
  if (!decision.retry) {
    if (provider_failed(outcome.failure))
      spdlog::warn("[{}] upstream {}: giving up: {} ({})", pending.call->request_id, provider.name, report->error.message,
                   decision.detail);
    give_up(state, id, pending, *report);
    return true;
  }
  spdlog::info("[{}] upstream {}: {}", pending.call->request_id, provider.name, decision.detail);
  state.monitor->retry_scheduled(decision.delay);
  pending.last_failure = std::move(*report);
  self->delayed_send(caf::actor_cast<provider_actor>(self), std::chrono::milliseconds{decision.delay}, retry_atom::value, id);
  return true;
}

// One message may stand for several reports (GenerateCall::report notifies only when its queue
// was empty): a non-streaming answer's commit and end arrive together.
void on_report(self_pointer self, std::uint64_t id) {
  while (handle_report(self, id)) {
  }
}

void start_attempt(self_pointer self, std::uint64_t id) {
  auto& state = self->state;
  auto found = state.generates.find(id);
  if (found == state.generates.end()) return;
  PendingGenerate& pending = found->second;
  auto call = pending.call;
  if (call->client_gone) {
    AttemptReport gone;
    gone.outcome.failure = FailureKind::cancelled;
    gone.error = api_error(ErrorKind::api_error, "the client went away");
    give_up(state, id, pending, gone);
    return;
  }
  const auto& provider = *state.provider;
  pending.permit = state.breaker->try_acquire();
  if (!pending.permit) {
    snapshot(state);
    ApiError refused = breaker_open_error(provider, pending.permit.retry_in);
    if (pending.attempts->attempts() == 0) {
      spdlog::info("[{}] upstream {}: refused: breaker open", call->request_id, provider.name);
      reply(pending, GenerateReply::refuse(std::move(refused), "breaker_open"));
      state.generates.erase(found);
      return;
    }
    // A retry the breaker no longer admits: the last failure stands.
    AttemptReport last = pending.last_failure ? *pending.last_failure : AttemptReport{};
    if (!pending.last_failure) last.error = std::move(refused);
    give_up(state, id, pending, last);
    return;
  }
  pending.permit_out = true;
  if (pending.permit.probe) spdlog::info("[{}] upstream {}: half-open probe", call->request_id, provider.name);
  auto deadline = pending.attempts->begin_attempt();
  (void)deadline;  // enforced by the transfer's headers timeout below
  UpstreamRequest upstream = call->upstream;
  auto limit = state.retry->config().attempt_timeout;
  if (limit.count() > 0 && (upstream.timeouts.headers.count() == 0 || upstream.timeouts.headers > limit))
    upstream.timeouts.headers = limit;
  call->begin_attempt();
  state.monitor->attempt_started();
  // A non-streaming passthrough is accepted once its first attempt is admitted: its upstream may
  // take minutes to answer (no headers before the whole body), longer than the session waits for
  // a reply; nothing reaches the client before an answer is complete, so retries stay invisible
  // and a final failure still gets its own status.
  // With a next target in the router's chain it waits for its answer instead, so a failure can
  // still fall back (the session's --backend-timeout then bounds that wait).
  if (call->passthrough && !call->client_stream && !call->can_fall_back) reply(pending, GenerateReply::accept());
  spdlog::debug("[{}] upstream {}: POST {} (attempt {})", call->request_id, provider.name, upstream.url,
                pending.attempts->attempts());
  TransferId transfer = state.client->start(std::move(upstream), call->callbacks(call));
  call->transfer.store(transfer);
}

std::string count_body(const BackendRequest& request) {
  if (request.request.protocol == Protocol::anthropic && !request.raw_body.empty())
    if (auto rewritten = rewrite_model(request.raw_body, request.request.model)) return *rewritten;
  auto full = schemas::request_for_provider(request.request, Protocol::anthropic, request.request.model);
  json::object body;
  for (std::string_view key : {"model", "messages", "system", "tools", "tool_choice", "thinking"})
    if (const auto* value = full.if_contains(key)) body[key] = *value;
  return json::serialize(body);
}

schemas::Endpoint upstream_endpoint(const ProviderConfig& provider, const BackendRequest& request, bool passthrough) {
  if (provider.protocol == Protocol::anthropic) return schemas::Endpoint::messages;
  if (passthrough && request.request.endpoint == schemas::Endpoint::completions) return schemas::Endpoint::completions;
  if (passthrough && request.request.endpoint == schemas::Endpoint::responses) return schemas::Endpoint::responses;
  return schemas::Endpoint::chat_completions;
}

caf::result<GenerateReply> start_generate(self_pointer self, BackendRequest& request, EventSink& sink) {
  auto& state = self->state;
  const auto& provider = *state.provider;
  bool passthrough = request.request.protocol == provider.protocol && !request.raw_body.empty();
  std::string body;
  if (passthrough) {
    auto rewritten = rewrite_model(request.raw_body, request.request.model);
    if (!rewritten) return GenerateReply::refuse(api_error(ErrorKind::invalid_request, "model: expected a JSON object with a string \"model\"", "model"));
    body = std::move(*rewritten);
  } else {
    if (request.request.endpoint == schemas::Endpoint::completions && provider.protocol == Protocol::openai)
      return GenerateReply::refuse(api_error(ErrorKind::unsupported,
                                            "legacy completions can only be passed through to an OpenAI-protocol provider"));
    if (auto refusal = schemas::refuse_untranslatable(request.request, provider.protocol)) {
      return GenerateReply::refuse(std::move(*refusal));
    }
    schemas::InternalRequest upstream = request.request;
    upstream.stream = true;  // events are decoded as they come; the session folds them when needed
    upstream.include_usage = true;
    body = json::serialize(schemas::request_for_provider(upstream, provider.protocol, request.request.model));
  }
  bool stream_upstream = passthrough ? request.request.stream : true;

  auto call = std::make_shared<GenerateCall>();
  call->provider = state.provider;
  call->monitor = state.monitor;
  call->sink = sink;
  call->client = state.client;
  call->upstream = make_upstream_request(provider, upstream_endpoint(provider, request, passthrough), std::move(body),
                                         stream_upstream, forwarded_of(request));
  call->request_id = request.request_id;
  call->model = request.request.model;
  call->caller = request.request.protocol;
  call->passthrough = passthrough;
  call->client_stream = request.request.stream;
  call->can_fall_back = request.can_fall_back;

  std::uint64_t id = state.next_call++;
  // Weak: the client's thread may report after the actor (or its whole system, at shutdown) is
  // gone; a strong handle would keep a dead actor addressable from another thread.
  caf::weak_actor_ptr weak_self = caf::actor_cast<caf::weak_actor_ptr>(self);
  call->notify = [weak_self, id] {
    if (auto strong = weak_self.lock()) caf::anon_send(caf::actor_cast<provider_actor>(strong), attempt_atom::value, id);
  };
  std::weak_ptr<UpstreamClient> client = state.client;
  std::weak_ptr<GenerateCall> weak_call = call;
  sink.on_cancel([client, weak_call] {
    auto live = weak_call.lock();
    if (!live) return;
    live->client_gone = true;
    if (auto owner = client.lock()) owner->cancel(live->transfer.load());
  });

  PendingGenerate pending;
  pending.call = call;
  pending.promise = self->make_response_promise<GenerateReply>();
  pending.attempts.emplace(*state.retry);
  auto promise = pending.promise;
  state.generates.emplace(id, std::move(pending));
  start_attempt(self, id);
  return promise;
}

caf::result<TokenCount> start_count(self_pointer self, BackendRequest& request) {
  auto& state = self->state;
  const auto& provider = *state.provider;
  if (provider.protocol != Protocol::anthropic)
    return TokenCount::cannot(api_error(ErrorKind::unsupported,
                                       "cannot count tokens for '" + request.requested_model + "': provider '" +
                                           provider.name + "' speaks the OpenAI protocol, which has no token counting endpoint"));
  // Through the breaker like a generate (an open one refuses at once, without an upstream call;
  // a failure counts), but never retried: a count is cheap to ask again and nothing falls back.
  auto permit = state.breaker->try_acquire();
  if (!permit) {
    snapshot(state);
    spdlog::info("[{}] upstream {}: count_tokens refused: breaker open", request.request_id, provider.name);
    return TokenCount::cannot(breaker_open_error(provider, permit.retry_in));
  }
  if (permit.probe) spdlog::info("[{}] upstream {}: half-open probe (count_tokens)", request.request_id, provider.name);
  UpstreamRequest upstream = make_upstream_request(provider, schemas::Endpoint::count_tokens, count_body(request),
                                                   false, forwarded_of(request));
  std::uint64_t id = state.next_call++;
  state.count_permits.emplace(id, permit);
  auto decision = std::make_shared<Decision>();
  state.decisions.emplace(id, decision);
  auto promise = self->make_response_promise<TokenCount>();
  state.count_promises.emplace(id, promise);
  Decider decide{caf::actor_cast<caf::weak_actor_ptr>(self), decision, id};
  auto provider_ptr = state.provider;
  auto head = std::make_shared<ResponseHead>();
  auto body = std::make_shared<std::string>();
  TransferCallbacks callbacks;
  callbacks.on_headers = [head](const ResponseHead& h) { *head = h; };
  callbacks.on_body = [body](std::string_view bytes) { body->append(bytes); };
  const auto started = std::chrono::steady_clock::now();
  callbacks.on_done = [decide, provider_ptr, head, body, started](const TransferResult& result) {
    using resilience::CallOutcome;
    if (!result.ok())
      return decide.count(TokenCount::cannot(transfer_failure_error(*provider_ptr, result)),
                          CallOutcome::failed(failure_of(result)));
    if (!is_success(head->status)) {
      auto retry_after = resilience::parse_retry_headers(head->header("retry-after"), head->header("retry-after-ms"),
                                                         std::chrono::system_clock::now());
      return decide.count(TokenCount::cannot(upstream_status_error(*provider_ptr, *head, *body)),
                          CallOutcome::failed(resilience::classify_status(head->status), retry_after));
    }
    boost::system::error_code ec;
    auto parsed = json::parse(*body, ec);
    const json::value* tokens = (!ec && parsed.is_object()) ? parsed.as_object().if_contains("input_tokens") : nullptr;
    if (!tokens || !tokens->is_int64())
      return decide.count(TokenCount::cannot(api_error(ErrorKind::upstream_error, "upstream '" + provider_ptr->name +
                                                                                     "' answered count_tokens without input_tokens")),
                          CallOutcome::failed(FailureKind::server_error));
    decide.count(TokenCount::of(tokens->as_int64()),
                 CallOutcome::success(std::chrono::duration_cast<resilience::Millis>(std::chrono::steady_clock::now() - started)));
  };
  state.client->start(std::move(upstream), std::move(callbacks));
  return promise;
}

backend::ModelList describe(const ProviderState& state, const std::vector<std::string>& models) {
  backend::ModelList list;
  backend::Capabilities capabilities;
  capabilities.chat = true;
  capabilities.tools = true;
  capabilities.images = true;
  capabilities.completions = state.provider->protocol == Protocol::openai;
  capabilities.count_tokens = state.provider->protocol == Protocol::anthropic;
  for (const auto& [alias, model] : state.aliases) {
    backend::ModelInfo info;
    info.id = alias;
    info.owned_by = state.provider->name;
    info.capabilities = capabilities;
    list.models.push_back(std::move(info));
  }
  for (const auto& model : models) {
    backend::ModelInfo info;
    info.id = model;
    info.aliases.push_back(state.provider->name + "/" + model);
    info.owned_by = state.provider->name;
    info.capabilities = capabilities;
    list.models.push_back(std::move(info));
  }
  return list;
}

// Asks the upstream for its model list; the answer comes back as a listed_atom message.
void fetch_upstream_models(self_pointer self) {
  auto head = std::make_shared<ResponseHead>();
  auto body = std::make_shared<std::string>();
  caf::weak_actor_ptr weak_self = caf::actor_cast<caf::weak_actor_ptr>(self);
  auto name = self->state.provider->name;
  TransferCallbacks callbacks;
  callbacks.on_headers = [head](const ResponseHead& h) { *head = h; };
  callbacks.on_body = [body](std::string_view bytes) { body->append(bytes); };
  callbacks.on_done = [weak_self, head, body, name](const TransferResult& result) {
    std::optional<std::vector<std::string>> ids;
    if (!result.ok()) {
      spdlog::warn("cannot list the models of upstream '{}': {}", name, result.message);
    } else if (!is_success(head->status)) {
      spdlog::warn("cannot list the models of upstream '{}': it answered {}", name, head->status);
    } else if (!(ids = parse_model_list(*body))) {
      spdlog::warn("cannot list the models of upstream '{}': its answer is not a model list", name);
    }
    auto strong = weak_self.lock();
    if (!strong) return;
    const bool ok = ids.has_value();
    caf::anon_send(caf::actor_cast<provider_actor>(strong), listed_atom::value,
                   ok ? std::move(*ids) : std::vector<std::string>{}, ok);
  };
  self->state.client->start(models_request(*self->state.provider), std::move(callbacks));
}

caf::result<backend::ModelList> start_describe(self_pointer self) {
  auto& state = self->state;
  if (!state.provider->models.empty()) return describe(state, state.provider->models);
  if (state.model_cache->begin_fetch()) fetch_upstream_models(self);
  if (!state.model_cache->fetching()) return describe(state, state.model_cache->models());
  auto promise = self->make_response_promise<backend::ModelList>();
  state.model_waiters.push_back(promise);
  return promise;
}

provider_actor::behavior_type provider_behavior(self_pointer self, std::shared_ptr<const ProviderConfig> provider,
                                                std::vector<std::pair<std::string, std::string>> aliases,
                                                std::shared_ptr<UpstreamClient> client, ProviderOptions options) {
  self->meter("cloud:" + provider->name);
  auto& state = self->state;
  state.provider = std::move(provider);
  state.aliases = std::move(aliases);
  state.client = std::move(client);
  state.monitor = options.monitor ? options.monitor : std::make_shared<ProviderMonitor>(state.provider->name, nullptr);
  state.monitor->set_prices(state.provider->prices);
  const resilience::Clock& clock = options.clock ? *options.clock : resilience::SteadyClock::instance();
  auto monitor = state.monitor;
  state.breaker = std::make_unique<resilience::CircuitBreaker>(
      state.provider->name, state.provider->breaker, clock, [monitor](const resilience::BreakerTransition& transition) {
        spdlog::warn("circuit breaker of {}: {} -> {} ({})", transition.provider,
                     resilience::breaker_state_name(transition.from), resilience::breaker_state_name(transition.to),
                     transition.reason);
        monitor->breaker_changed(transition);
      });
  resilience::UniformRandom random = options.random;
  if (!random) {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    random = [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
  }
  state.retry = std::make_unique<resilience::RetryPolicy>(state.provider->retry, clock, std::move(random));
  state.model_cache = std::make_unique<UpstreamModelCache>(clock);
  snapshot(state);
  return {
      [self](backend::generate_atom, BackendRequest& request, EventSink& sink) -> caf::result<GenerateReply> {
        try {
          return start_generate(self, request, sink);
        } catch (const std::exception& error) {
          return GenerateReply::refuse(api_error(ErrorKind::api_error, std::string("cloud provider failed: ") + error.what()));
        }
      },
      [self](backend::count_atom, BackendRequest& request) -> caf::result<TokenCount> {
        try {
          return start_count(self, request);
        } catch (const std::exception& error) {
          return TokenCount::cannot(api_error(ErrorKind::api_error, std::string("cloud provider failed: ") + error.what()));
        }
      },
      [self](backend::describe_atom) -> caf::result<backend::ModelList> { return start_describe(self); },
      [self](listed_atom, std::vector<std::string>& ids, bool ok) {
        auto& state = self->state;
        state.model_cache->finish_fetch(ok ? std::optional(std::move(ids)) : std::nullopt);
        auto waiters = std::move(state.model_waiters);
        state.model_waiters.clear();
        for (auto& waiter : waiters) waiter.deliver(describe(state, state.model_cache->models()));
      },
      [self](attempt_atom, std::uint64_t id) { on_report(self, id); },
      [self](retry_atom, std::uint64_t id) { start_attempt(self, id); },
      [self](decided_atom, std::uint64_t id) {
        auto& state = self->state;
        auto found = state.decisions.find(id);
        if (found == state.decisions.end()) return;
        auto decision = found->second;
        state.decisions.erase(found);
        std::lock_guard lock(decision->mutex);
        if (auto permit = state.count_permits.find(id); permit != state.count_permits.end()) {
          state.breaker->record(permit->second, decision->outcome);
          state.count_permits.erase(permit);
          snapshot(state);
        }
        auto promise = state.count_promises.find(id);
        if (decision->count && promise != state.count_promises.end()) {
          promise->second.deliver(std::move(*decision->count));
          state.count_promises.erase(promise);
        }
      },
  };
}

}  // namespace

backend::backend_actor spawn_provider_actor(caf::actor_system& system, ProviderConfig provider,
                                            std::vector<std::pair<std::string, std::string>> aliases,
                                            std::shared_ptr<UpstreamClient> client, ProviderOptions options) {
  auto shared = std::make_shared<const ProviderConfig>(std::move(provider));
  auto actor = system.spawn(provider_behavior, std::move(shared), std::move(aliases), std::move(client),
                            std::move(options));
  return caf::actor_cast<backend::backend_actor>(actor);
}

backend::BackendStatus provider_status(const ProviderConfig& provider, const ProviderMonitor& monitor) {
  auto status = monitor.status();
  backend::BackendStatus out;
  out.name = provider.name;
  out.kind = "cloud";
  out.models = provider.models;
  out.state = std::string(resilience::breaker_state_name(status.state));
  out.error_rate = status.error_rate;
  out.latency_p50_ms = status.latency_p50_ms;
  out.in_flight = status.in_flight;
  return out;
}

backend::BackendRoute provider_route(const CloudConfig& config, const ProviderConfig& provider,
                                     backend::backend_actor actor, std::shared_ptr<ProviderMonitor> monitor) {
  backend::BackendRoute route;
  route.provider = provider.name;
  route.backend = std::move(actor);
  route.models = provider.models;
  route.aliases = aliases_of(config, provider);
  route.prefixes = well_known_prefixes(provider);
  route.any_model = true;
  if (monitor) {
    route.status = [provider, monitor] { return provider_status(provider, *monitor); };
  }
  return route;
}

std::vector<backend::BackendRoute> spawn_cloud_backends(caf::actor_system& system, const CloudConfig& config,
                                                        std::shared_ptr<UpstreamClient> client,
                                                        std::shared_ptr<prometheus::Registry> metrics) {
  auto families = metrics ? std::make_shared<CloudMetrics>(std::move(metrics)) : nullptr;
  std::vector<backend::BackendRoute> routes;
  for (const auto& provider : config.providers) {
    ProviderOptions options;
    options.monitor = std::make_shared<ProviderMonitor>(provider.name, families);
    auto monitor = options.monitor;
    auto actor = spawn_provider_actor(system, provider, aliases_of(config, provider), client, std::move(options));
    routes.push_back(provider_route(config, provider, std::move(actor), std::move(monitor)));
  }
  return routes;
}

}  // namespace tandem::cloud
