// The provider actor and the per-call state its upstream transfer carries. The transfer's
// callbacks run on the upstream client's thread: they push into the event sink directly (it is
// thread-safe) and hand the generate/count reply back to the actor with a `decided` message, since
// a CAF response promise belongs to its actor's thread.
#include "cloud/provider_actor.h"

#include "actors/actor_metrics.h"
#include "schemas/refusals.h"
#include "schemas/translate.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace json = boost::json;

namespace tandem::cloud {

using backend::BackendRequest;
using backend::EventSink;
using backend::GenerateReply;
using backend::TokenCount;
using schemas::ApiError;
using schemas::ErrorKind;
using schemas::Protocol;

namespace {

using decided_atom = caf::atom_constant<caf::atom("decided")>;
using provider_actor = backend::backend_actor::extend<caf::reacts_to<decided_atom, std::uint64_t>>;

// The reply of one call, set once on the client thread and delivered by the actor.
struct Decision {
  std::mutex mutex;
  std::optional<GenerateReply> generate;
  std::optional<TokenCount> count;
};

struct ProviderState {
  std::shared_ptr<const ProviderConfig> provider;
  std::vector<std::pair<std::string, std::string>> aliases;
  std::shared_ptr<UpstreamClient> client;
  std::uint64_t next_call = 1;
  std::unordered_map<std::uint64_t, std::shared_ptr<Decision>> decisions;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<GenerateReply>> generate_promises;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<TokenCount>> count_promises;
};

// Signals the actor that call `id` is decided (from any thread).
struct Decider {
  provider_actor actor;
  std::shared_ptr<Decision> decision;
  std::uint64_t id = 0;

  void generate(GenerateReply reply) const {
    {
      std::lock_guard lock(decision->mutex);
      if (decision->generate) return;
      decision->generate = std::move(reply);
    }
    caf::anon_send(actor, decided_atom::value, id);
  }
  void count(TokenCount reply) const {
    {
      std::lock_guard lock(decision->mutex);
      if (decision->count) return;
      decision->count = std::move(reply);
    }
    caf::anon_send(actor, decided_atom::value, id);
  }
};

ApiError api_error(ErrorKind kind, std::string message, std::string param = {}) {
  ApiError error;
  error.kind = kind;
  error.message = std::move(message);
  error.param = std::move(param);
  return error;
}

bool is_success(int status) { return status >= 200 && status < 300; }

bool is_event_stream(const ResponseHead& head) {
  return head.header("content-type").starts_with("text/event-stream");
}

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

// An in-band error written in the caller's protocol as an SSE frame (passthrough streams).
std::string error_frame(const ApiError& error, Protocol protocol) {
  std::string body = schemas::render_error(error, protocol);
  if (protocol == Protocol::anthropic) return schemas::format_sse("error", body);
  return schemas::format_sse_data(body);
}

// A complete answer (an upstream that ignored `stream: true`) as the events of a stream.
std::vector<schemas::StreamEvent> events_of(const schemas::TextResult& result) {
  std::vector<schemas::StreamEvent> events;
  schemas::Usage start_usage;
  start_usage.input_tokens = result.usage.input_tokens;
  start_usage.cache_read_tokens = result.usage.cache_read_tokens;
  start_usage.cache_creation_tokens = result.usage.cache_creation_tokens;
  events.emplace_back(schemas::MessageStart{result.id, result.model, result.created, start_usage});
  int tool_index = 0;
  for (const auto& part : result.content) {
    if (const auto* text = std::get_if<schemas::TextPart>(&part)) {
      events.emplace_back(schemas::TextDelta{text->text, {}});
    } else if (const auto* thinking = std::get_if<schemas::ThinkingPart>(&part)) {
      events.emplace_back(schemas::ThinkingDelta{thinking->thinking, thinking->signature});
    } else if (const auto* call = std::get_if<schemas::ToolCallPart>(&part)) {
      events.emplace_back(schemas::ToolCallStart{tool_index, call->id, call->name});
      events.emplace_back(schemas::ToolCallDelta{tool_index, call->arguments});
      ++tool_index;
    }
  }
  events.emplace_back(schemas::Finish{result.finish_reason, result.stop_sequence, result.usage});
  return events;
}

int retry_after_seconds(const ResponseHead& head) {
  auto parse = [](std::string_view text) -> long long {
    long long value = 0;
    if (text.empty()) return -1;
    for (char c : text) {
      if (c < '0' || c > '9') return -1;
      value = value * 10 + (c - '0');
      if (value > 86400000) return -1;
    }
    return value;
  };
  long long ms = parse(head.header("retry-after-ms"));
  if (ms >= 0) return static_cast<int>((ms + 999) / 1000);
  long long seconds = parse(head.header("retry-after"));
  return seconds > 0 ? static_cast<int>(std::min<long long>(seconds, 86400)) : 0;
}

// ---------------------------------------------------------------- one generate call

struct GenerateCall {
  std::shared_ptr<const ProviderConfig> provider;
  Decider decide;
  EventSink sink;
  std::weak_ptr<UpstreamClient> client;
  // Set by the actor right after start(); the callbacks may already run (the sink's on_cancel
  // covers a client that leaves in between).
  std::atomic<TransferId> transfer{0};
  std::string request_id;
  Protocol caller = Protocol::openai;
  bool passthrough = false;
  bool client_stream = false;

  ResponseHead head;
  bool streaming = false;  // frames / events flow as they arrive (else the body is collected)
  std::string body;
  SseFrameSplitter frames;
  std::optional<SseBodyAdapter> adapter;
  std::variant<schemas::OpenAiStreamDecoder, schemas::AnthropicStreamDecoder> decoder;
  bool terminal = false;  // a Finish or StreamError went out
  bool closed = false;

  void abort_transfer() {
    if (auto owner = client.lock()) owner->cancel(transfer.load());
  }

  void push(backend::BackendEvent event) {
    if (closed) return;
    if (!sink.push(std::move(event))) {
      closed = true;  // the client left: nothing more to say
      abort_transfer();
    }
  }

  void close() {
    if (closed) return;
    closed = true;
    sink.close();
  }

  void fail(ApiError error) {
    if (closed) return;
    if (passthrough) {
      push(backend::RawBytes{error_frame(error, caller)});
      close();
    } else {
      closed = true;
      sink.fail(std::move(error));
    }
  }

  HeaderList passthrough_headers() const {
    HeaderList headers = forwarded_response_headers(head);
    auto type = head.header("content-type");
    if (!type.empty()) headers.emplace_back("content-type", std::string(type));
    return headers;
  }

  void on_headers(const ResponseHead& response) {
    head = response;
    if (!is_success(head.status) || !is_event_stream(head)) return;  // collect the body, decide at the end
    if (passthrough && !client_stream) return;
    streaming = true;
    decide.generate(GenerateReply::accept());
    if (passthrough) {
      push(backend::ResponseHead{head.status, passthrough_headers(), true});
    } else {
      adapter.emplace([this](schemas::SseEvent&& event) { on_event(event); });
    }
  }

  void on_event(const schemas::SseEvent& event) {
    if (terminal || closed) return;
    auto events = std::visit([&](auto& decoder) { return decoder.decode(event); }, decoder);
    forward(events);
  }

  void forward(std::vector<schemas::StreamEvent>& events) {
    for (auto& event : events) {
      if (terminal || closed) return;
      if (auto* start = std::get_if<schemas::MessageStart>(&event)) {
        // Anthropic answers carry no creation time and the other protocol's id prefix.
        if (start->created == 0) start->created = schemas::unix_time_now();
        start->id = schemas::convert_message_id(start->id, caller);
      }
      bool ends = std::holds_alternative<schemas::Finish>(event) || std::holds_alternative<schemas::StreamError>(event);
      push(backend::BackendEvent(std::move(event)));
      if (ends) terminal = true;
    }
  }

  void on_body(std::string_view bytes) {
    if (closed) return;
    if (!streaming) {
      body.append(bytes);
      return;
    }
    if (passthrough) {
      std::string complete = frames.feed(bytes);
      if (!complete.empty()) push(backend::RawBytes{std::move(complete)});
      return;
    }
    if (!adapter->feed(bytes)) {
      fail(api_error(ErrorKind::upstream_error,
                    "upstream '" + provider->name + "' sent a malformed event stream: " + adapter->error()));
      abort_transfer();
    }
  }

  void on_done(const TransferResult& result) {
    if (!streaming) return finish_collected(result);
    if (!result.ok()) {
      if (result.error != TransferError::cancelled || !closed) fail(transfer_failure_error(*provider, result));
      close();
      return;
    }
    if (passthrough) {
      if (!frames.pending().empty())
        fail(api_error(ErrorKind::upstream_error,
                      "upstream '" + provider->name + "' ended its stream in the middle of an event"));
      close();
      return;
    }
    if (!terminal) {
      auto events = std::visit([](auto& decoder) { return decoder.finish(); }, decoder);
      forward(events);
    }
    if (!terminal)
      fail(api_error(ErrorKind::upstream_error, "upstream '" + provider->name + "' ended its stream before the answer was complete"));
    close();
  }

  // Nothing was streamed: the whole answer (or error) is in `body`.
  void finish_collected(const TransferResult& result) {
    if (passthrough) {
      // A non-streaming call was accepted at the start (see start_generate); a streaming one
      // whose upstream answered with a plain body (an error) is accepted now. Nothing has reached
      // the client yet, so the status is still ours to choose.
      decide.generate(GenerateReply::accept());
      if (!result.ok()) {
        ApiError error = transfer_failure_error(*provider, result);
        push(backend::ResponseHead{error.http_status(caller), {{"content-type", "application/json"}}, false});
        push(backend::RawBytes{schemas::render_error(error, caller)});
      } else {
        push(backend::ResponseHead{head.status, passthrough_headers(), false});
        push(backend::RawBytes{std::move(body)});
      }
      close();
      return;
    }
    if (!result.ok()) {
      decide.generate(GenerateReply::refuse(transfer_failure_error(*provider, result)));
      return;
    }
    if (!is_success(head.status)) {
      decide.generate(GenerateReply::refuse(upstream_status_error(*provider, head, body)));
      return;
    }
    // A translated request is always sent with stream: true; an upstream that answered with one
    // JSON body anyway is folded into events all the same.
    auto parsed = provider->protocol == Protocol::anthropic ? schemas::parse_anthropic_message_response(body)
                                                            : schemas::parse_openai_chat_response(body);
    if (!parsed.ok()) {
      decide.generate(GenerateReply::refuse(api_error(
          ErrorKind::upstream_error, "upstream '" + provider->name + "' sent an unreadable answer: " + parsed.error().message)));
      return;
    }
    decide.generate(GenerateReply::accept());
    auto events = events_of(*parsed);
    forward(events);
    close();
  }
};

// ---------------------------------------------------------------- the actor

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

caf::result<GenerateReply> start_generate(provider_actor::stateful_pointer<ProviderState> self, BackendRequest& request,
                                          EventSink& sink) {
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
  UpstreamRequest upstream = make_upstream_request(provider, upstream_endpoint(provider, request, passthrough),
                                                   std::move(body), stream_upstream, forwarded_of(request));

  std::uint64_t id = state.next_call++;
  auto decision = std::make_shared<Decision>();
  state.decisions.emplace(id, decision);
  auto promise = self->make_response_promise<GenerateReply>();
  state.generate_promises.emplace(id, promise);

  auto call = std::make_shared<GenerateCall>();
  call->provider = state.provider;
  call->decide = Decider{caf::actor_cast<provider_actor>(self), decision, id};
  call->sink = sink;
  call->client = state.client;
  call->request_id = request.request_id;
  call->caller = request.request.protocol;
  call->passthrough = passthrough;
  call->client_stream = request.request.stream;
  if (provider.protocol == Protocol::anthropic) call->decoder.emplace<schemas::AnthropicStreamDecoder>();

  spdlog::debug("[{}] upstream {}: POST {} ({})", request.request_id, provider.name, upstream.url,
                passthrough ? "passthrough" : "translated");
  TransferCallbacks callbacks;
  callbacks.on_headers = [call](const ResponseHead& head) { call->on_headers(head); };
  callbacks.on_body = [call](std::string_view bytes) { call->on_body(bytes); };
  callbacks.on_done = [call](const TransferResult& result) {
    if (!result.ok())
      spdlog::info("[{}] upstream {}: {}", call->request_id, call->provider->name, result.message);
    call->on_done(result);
  };
  // A non-streaming passthrough is accepted at once: its upstream may take minutes to answer (no
  // headers before the whole body), longer than the session waits for a reply; nothing reaches
  // the client before the answer is complete, so a failure still gets its own status.
  if (passthrough && !request.request.stream) call->decide.generate(GenerateReply::accept());
  TransferId transfer = state.client->start(std::move(upstream), std::move(callbacks));
  call->transfer.store(transfer);
  std::weak_ptr<UpstreamClient> client = state.client;
  sink.on_cancel([client, transfer] {
    if (auto owner = client.lock()) owner->cancel(transfer);
  });
  return promise;
}

caf::result<TokenCount> start_count(provider_actor::stateful_pointer<ProviderState> self, BackendRequest& request) {
  auto& state = self->state;
  const auto& provider = *state.provider;
  if (provider.protocol != Protocol::anthropic)
    return TokenCount::cannot(api_error(ErrorKind::unsupported,
                                       "cannot count tokens for '" + request.requested_model + "': provider '" +
                                           provider.name + "' speaks the OpenAI protocol, which has no token counting endpoint"));
  UpstreamRequest upstream = make_upstream_request(provider, schemas::Endpoint::count_tokens, count_body(request),
                                                   false, forwarded_of(request));
  std::uint64_t id = state.next_call++;
  auto decision = std::make_shared<Decision>();
  state.decisions.emplace(id, decision);
  auto promise = self->make_response_promise<TokenCount>();
  state.count_promises.emplace(id, promise);
  Decider decide{caf::actor_cast<provider_actor>(self), decision, id};
  auto provider_ptr = state.provider;
  auto head = std::make_shared<ResponseHead>();
  auto body = std::make_shared<std::string>();
  TransferCallbacks callbacks;
  callbacks.on_headers = [head](const ResponseHead& h) { *head = h; };
  callbacks.on_body = [body](std::string_view bytes) { body->append(bytes); };
  callbacks.on_done = [decide, provider_ptr, head, body](const TransferResult& result) {
    if (!result.ok()) return decide.count(TokenCount::cannot(transfer_failure_error(*provider_ptr, result)));
    if (!is_success(head->status))
      return decide.count(TokenCount::cannot(upstream_status_error(*provider_ptr, *head, *body)));
    boost::system::error_code ec;
    auto parsed = json::parse(*body, ec);
    const json::value* tokens = (!ec && parsed.is_object()) ? parsed.as_object().if_contains("input_tokens") : nullptr;
    if (!tokens || !tokens->is_int64())
      return decide.count(TokenCount::cannot(api_error(
          ErrorKind::upstream_error, "upstream '" + provider_ptr->name + "' answered count_tokens without input_tokens")));
    decide.count(TokenCount::of(tokens->as_int64()));
  };
  state.client->start(std::move(upstream), std::move(callbacks));
  return promise;
}

backend::ModelList describe(const ProviderState& state) {
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
  for (const auto& model : state.provider->models) {
    backend::ModelInfo info;
    info.id = model;
    info.aliases.push_back(state.provider->name + "/" + model);
    info.owned_by = state.provider->name;
    info.capabilities = capabilities;
    list.models.push_back(std::move(info));
  }
  return list;
}

provider_actor::behavior_type provider_behavior(actors::metered_pointer<provider_actor, ProviderState> self,
                                                std::shared_ptr<const ProviderConfig> provider,
                                                std::vector<std::pair<std::string, std::string>> aliases,
                                                std::shared_ptr<UpstreamClient> client) {
  self->meter("cloud:" + provider->name);
  self->state.provider = std::move(provider);
  self->state.aliases = std::move(aliases);
  self->state.client = std::move(client);
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
      [self](backend::describe_atom) -> caf::result<backend::ModelList> { return describe(self->state); },
      [self](decided_atom, std::uint64_t id) {
        auto& state = self->state;
        auto found = state.decisions.find(id);
        if (found == state.decisions.end()) return;
        auto decision = found->second;
        state.decisions.erase(found);
        std::lock_guard lock(decision->mutex);
        if (decision->generate) {
          auto promise = state.generate_promises.find(id);
          if (promise != state.generate_promises.end()) {
            promise->second.deliver(std::move(*decision->generate));
            state.generate_promises.erase(promise);
          }
        }
        if (decision->count) {
          auto promise = state.count_promises.find(id);
          if (promise != state.count_promises.end()) {
            promise->second.deliver(std::move(*decision->count));
            state.count_promises.erase(promise);
          }
        }
      },
  };
}

}  // namespace

// ---------------------------------------------------------------- public helpers

ApiError transfer_failure_error(const ProviderConfig& provider, const TransferResult& result) {
  ErrorKind kind = ErrorKind::upstream_error;
  switch (result.error) {
    case TransferError::resolve_failed:
    case TransferError::connect_failed:
    case TransferError::tls_failed:
    case TransferError::cancelled: kind = ErrorKind::unavailable; break;
    case TransferError::connect_timeout:
    case TransferError::headers_timeout:
    case TransferError::idle_timeout:
    case TransferError::total_timeout: kind = ErrorKind::timeout; break;
    default: kind = ErrorKind::upstream_error; break;
  }
  return api_error(kind, "upstream '" + provider.name + "' failed: " + result.message);
}

ApiError upstream_status_error(const ProviderConfig& provider, const ResponseHead& head, std::string_view body) {
  ApiError error;
  error.kind = schemas::error_kind_for_status(head.status);
  error.retry_after = retry_after_seconds(head);
  boost::system::error_code ec;
  auto parsed = json::parse(body, ec);
  if (!ec && parsed.is_object()) {
    const auto* inner = parsed.as_object().if_contains("error");
    if (inner && inner->is_object()) {
      if (const auto* message = inner->as_object().if_contains("message"); message && message->is_string())
        error.message = std::string(message->as_string());
      if (const auto* param = inner->as_object().if_contains("param"); param && param->is_string())
        error.param = std::string(param->as_string());
    } else if (inner && inner->is_string()) {
      error.message = std::string(inner->as_string());  // vLLM / llama.cpp style {"error": "..."}
    }
  }
  if (error.message.empty())
    error.message = "upstream '" + provider.name + "' answered HTTP " + std::to_string(head.status) +
                    (body.empty() ? std::string() : ": " + std::string(body.substr(0, 300)));
  return error;
}

std::string SseFrameSplitter::feed(std::string_view bytes) {
  buffer_.append(bytes);
  // Lines end in LF, CRLF or CR; an empty line ends a frame.
  std::size_t line_start = 0;
  std::size_t frames_end = 0;
  std::size_t i = 0;
  while (i < buffer_.size()) {
    char c = buffer_[i];
    if (c != '\n' && c != '\r') {
      ++i;
      continue;
    }
    std::size_t length = 1;
    if (c == '\r') {
      if (i + 1 >= buffer_.size()) break;  // CR LF may straddle two reads: decide with the next one
      if (buffer_[i + 1] == '\n') length = 2;
    }
    bool empty_line = i == line_start;
    i += length;
    line_start = i;
    if (empty_line) frames_end = i;
  }
  if (frames_end == 0) return {};
  std::string complete = buffer_.substr(0, frames_end);
  buffer_.erase(0, frames_end);
  return complete;
}

backend::backend_actor spawn_provider_actor(caf::actor_system& system, ProviderConfig provider,
                                            std::vector<std::pair<std::string, std::string>> aliases,
                                            std::shared_ptr<UpstreamClient> client) {
  auto shared = std::make_shared<const ProviderConfig>(std::move(provider));
  auto actor = system.spawn(provider_behavior, std::move(shared), std::move(aliases), std::move(client));
  return caf::actor_cast<backend::backend_actor>(actor);
}

backend::BackendRoute provider_route(const CloudConfig& config, const ProviderConfig& provider,
                                     backend::backend_actor actor) {
  backend::BackendRoute route;
  route.provider = provider.name;
  route.backend = std::move(actor);
  route.models = provider.models;
  route.aliases = aliases_of(config, provider);
  route.prefixes = well_known_prefixes(provider);
  route.any_model = true;
  return route;
}

std::vector<backend::BackendRoute> spawn_cloud_backends(caf::actor_system& system, const CloudConfig& config,
                                                        std::shared_ptr<UpstreamClient> client) {
  std::vector<backend::BackendRoute> routes;
  for (const auto& provider : config.providers) {
    auto actor = spawn_provider_actor(system, provider, aliases_of(config, provider), client);
    routes.push_back(provider_route(config, provider, std::move(actor)));
  }
  return routes;
}

}  // namespace tandem::cloud
