// The backend seam: the one typed actor interface every backend speaks — the local scheduler
// backend (one per GGUF model), each cloud provider actor, and the router, which resolves the
// model name and forwards to one of them. An HTTP session makes exactly one ask, to the router,
// and relays what comes back.
//
//   generate  (generate_atom, BackendRequest, EventSink) -> GenerateReply
//               accepted: the answer streams into the sink (BackendEvents, then close);
//               refused: nothing is written to the sink, the reply's error says why.
//   count     (count_atom, BackendRequest)              -> TokenCount
//               the prompt's token count, or why the model cannot count (never a guess).
//   describe  (describe_atom)                           -> ModelList
//               the models it serves: ids, owner, context window, capabilities. No pointers.
//
// Everything a message carries is plain data (strings, numbers, the protocol-neutral schemas
// types), so an engine node on another host can implement this interface later. The sink is the
// one handle: an in-process EventSender (the fast path: an engine thread pushes directly), or an
// actor that receives BackendEvent messages (spawn_stream_feeder in actors/bridge.h makes one
// from a sender; a remote node would be given such an actor).
//
// Errors are data: a refusal, a failure before the answer starts, and an in-band failure
// mid-stream are all schemas::ApiError (kind + message + param + status override + retry-after),
// rendered in the caller's protocol by the one table in schemas/errors.h.
#pragma once

#include "actors/bridge.h"
#include "actors/backend/inspect.h"
#include "actors/event_stream.h"
#include "schemas/internal.h"

#include <caf/all.hpp>

#include <cstdint>
#include <chrono>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tandem::backend {

using generate_atom = caf::atom_constant<caf::atom("generate")>;
using count_atom = caf::atom_constant<caf::atom("count")>;
using describe_atom = caf::atom_constant<caf::atom("describe")>;
// Router only: (register_atom, BackendRoute) -> caf::ok_atom; see router.h.
using register_atom = caf::atom_constant<caf::atom("register")>;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// What a backend is asked to answer. `request.model` is the name the backend should use: the
// router rewrites `provider/model` to `model` (and config aliases to the upstream's name);
// `requested_model` keeps what the client wrote.
struct BackendRequest {
  schemas::InternalRequest request;
  std::string requested_model;
  std::string request_id;  // tandem's id (x-request-id), for logs and upstream correlation
  // The client's body exactly as received: same-protocol passthrough sends it upstream with
  // only `model` rewritten, so fields tandem does not know survive byte for byte.
  std::string raw_body;
  // Client headers a provider may forward (anthropic-version, anthropic-beta, ...). Never the
  // client's credentials: the HTTP layer leaves Authorization and x-api-key out.
  HeaderList forward_headers;
  // Set by the router when another target would be tried after a fallback-able refusal: a
  // provider then refuses (fallback_reason) instead of passing the upstream's own error answer
  // back as it came.
  bool can_fall_back = false;
  // When the HTTP request was read: a local backend reports how long receiving, routing,
  // rendering and tokenizing took, a part of the time to first token its scheduler never sees.
  std::chrono::steady_clock::time_point received_at{};
};

// ---------------------------------------------------------------- the event stream

// Same-protocol passthrough: the upstream's status and the headers to forward (retry-after,
// rate-limit headers, content-type...), sent once before any RawBytes. Without it the session
// answers 200 and writes the body in its own format.
struct ResponseHead {
  int status = 200;
  HeaderList headers;
  bool event_stream = false;  // text/event-stream: RawBytes are SSE frames, written as they come
};

// Body bytes already in the caller's protocol (a whole JSON body, or SSE frames — complete
// `event:/data:` blocks with their blank line), written to the client untouched, never parsed.
struct RawBytes {
  std::string bytes;
};

// A local request still waits for a free sequence (sent every --queue-heartbeat): the session
// pings a streaming client and notices a client that left.
struct QueueWaiting {
  int64_t position = 0;  // requests ahead of this one
};

// One event of choice `index` of an answer with several (OpenAI chat `n` > 1): each choice's
// events come in order (MessageStart ... Finish), the choices interleaved.
struct ChoiceEvent {
  int index = 0;
  schemas::StreamEvent event;
};

// What a generate streams, in order: either schemas::StreamEvents (MessageStart, deltas, Finish;
// a StreamError ends it in-band) — or, for n > 1, ChoiceEvents — possibly after QueueWaiting
// notices; or a ResponseHead and RawBytes (passthrough). Then the sink is closed.
using BackendEvent = std::variant<schemas::StreamEvent, ResponseHead, RawBytes, QueueWaiting, ChoiceEvent>;

// Where a backend writes its answer: an in-process stream (fast path) or an actor receiving
// `BackendEvent` messages and `caf::close_atom` at the end (see actors/bridge.h's feeder).
class EventSink {
 public:
  EventSink() = default;
  explicit EventSink(actors::EventSender<BackendEvent> local) : local_(std::move(local)) {}
  explicit EventSink(caf::actor remote) : remote_(std::move(remote)) {}

  // False once the consumer is gone (or fell too far behind): stop producing for this request.
  // An actor sink cannot tell synchronously and returns true until it is known to be down.
  bool push(BackendEvent event) const;
  bool push(schemas::StreamEvent event) const { return push(BackendEvent(std::move(event))); }
  // The end of the answer. Every accepted generate ends with exactly one close().
  void close() const;
  // A failure after acceptance: an in-band StreamError, then close().
  void fail(schemas::ApiError error) const;
  // Runs once (on any thread) when the consumer goes away: cancel the work. In-process sinks
  // only; an actor-sink producer monitors the sink actor instead.
  void on_cancel(std::function<void()> callback) const;
  bool consumer_gone() const;

  bool is_local() const { return static_cast<bool>(local_); }
  const caf::actor& actor() const { return remote_; }

 private:
  actors::EventSender<BackendEvent> local_;
  caf::actor remote_;
};

// ---------------------------------------------------------------- replies

struct GenerateReply {
  bool accepted = false;
  schemas::ApiError error;  // when refused: answered in the caller's protocol as is
  // Which backend answered ("local", a provider's name) and the targets tried before it, in
  // order: the router fills them (x-tandem-backend / x-tandem-fallbacks, metric labels).
  std::string backend;
  std::vector<std::string> fallbacks;
  // When refused: why, as a routing fallback trigger ("unavailable", "breaker_open",
  // "queue_full", "context_too_long", "upstream_failure"), so the router may try the next
  // target of its chain. Empty: the caller's own error (a 4xx), answered as is.
  std::string fallback_reason;

  static GenerateReply accept() {
    GenerateReply reply;
    reply.accepted = true;
    return reply;
  }
  static GenerateReply refuse(schemas::ApiError why, std::string fallback_reason = {}) {
    GenerateReply reply;
    reply.error = std::move(why);
    reply.fallback_reason = std::move(fallback_reason);
    return reply;
  }
};

struct TokenCount {
  bool counted = false;
  int64_t tokens = 0;
  schemas::ApiError error;  // when not counted: why (ErrorKind::unsupported for "cannot count")

  static TokenCount of(int64_t n) { return TokenCount{true, n, {}}; }
  static TokenCount cannot(schemas::ApiError why) { return TokenCount{false, 0, std::move(why)}; }
};

// What a model can do, for /v1/models and for routing decisions.
struct Capabilities {
  bool chat = true;            // /v1/chat/completions, /v1/messages
  bool completions = false;    // legacy /v1/completions (text or token prompts)
  bool tools = false;          // tool definitions are honoured (calls are parsed or native)
  bool images = false;         // image content parts
  bool logprobs = false;
  bool count_tokens = false;   // count gives a number (else it answers "cannot count")
};

struct ModelInfo {
  std::string id;                    // the name clients use
  std::vector<std::string> aliases;  // further names that route here
  std::string owned_by;              // "tandem" for local models, the provider's name for cloud
  std::string display_name;          // Anthropic's display_name; empty: the id
  uint32_t context_window = 0;       // tokens per request; 0 = unknown
  int64_t created = 0;               // unix seconds
  Capabilities capabilities;
};

struct ModelList {
  std::vector<ModelInfo> models;
};

// ---------------------------------------------------------------- the actor type

using backend_actor = caf::typed_actor<
    caf::replies_to<generate_atom, BackendRequest, EventSink>::with<GenerateReply>,
    caf::replies_to<count_atom, BackendRequest>::with<TokenCount>,
    caf::replies_to<describe_atom>::with<ModelList>>;

// The untyped handle the coroutine bridge (actors::ask) addresses.
inline caf::actor as_actor(const backend_actor& backend) { return caf::actor_cast<caf::actor>(backend); }

// ---------------------------------------------------------------- inspection (plain data)

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ResponseHead& x) {
  return f(caf::meta::type_name("tandem::backend::ResponseHead"), x.status, x.headers, x.event_stream);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RawBytes& x) {
  return f(caf::meta::type_name("tandem::backend::RawBytes"), x.bytes);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, QueueWaiting& x) {
  return f(caf::meta::type_name("tandem::backend::QueueWaiting"), x.position);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, GenerateReply& x) {
  return f(caf::meta::type_name("tandem::backend::GenerateReply"), x.accepted, x.error, x.backend, x.fallbacks,
           x.fallback_reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TokenCount& x) {
  return f(caf::meta::type_name("tandem::backend::TokenCount"), x.counted, x.tokens, x.error);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Capabilities& x) {
  return f(caf::meta::type_name("tandem::backend::Capabilities"), x.chat, x.completions, x.tools, x.images,
           x.logprobs, x.count_tokens);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ModelInfo& x) {
  return f(caf::meta::type_name("tandem::backend::ModelInfo"), x.id, x.aliases, x.owned_by, x.display_name,
           x.context_window, x.created, x.capabilities);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ModelList& x) {
  return f(caf::meta::type_name("tandem::backend::ModelList"), x.models);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, BackendRequest& x) {
  // received_at is a steady-clock reading: on another host it must be re-based (it travels as is).
  return f(caf::meta::type_name("tandem::backend::BackendRequest"), x.request, x.requested_model, x.request_id,
           x.raw_body, x.forward_headers, x.can_fall_back, x.received_at);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ChoiceEvent& x) {
  return f(caf::meta::type_name("tandem::backend::ChoiceEvent"), x.index, x.event);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, BackendEvent& x) {
  return inspection::inspect_variant(f, x);
}
// A sink crosses nodes as its actor. An in-process sink is a pointer into this process: saving
// one is an error (a remote backend must be given an actor sink, see spawn_stream_feeder).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, EventSink& x) {
  caf::actor actor = x.actor();
  if constexpr (Inspector::writes_state) {
    auto store = caf::meta::load_callback([&]() -> caf::error {
      x = actor ? EventSink(std::move(actor)) : EventSink();
      return caf::none;
    });
    return f(caf::meta::type_name("tandem::backend::EventSink"), actor, store);
  } else {
    if constexpr (std::is_same_v<typename Inspector::result_type, caf::error>) {
      if (x.is_local())
        return caf::make_error(caf::sec::invalid_argument,
                               "an in-process event sink cannot leave its process: give a remote backend an actor sink");
    }
    return f(caf::meta::type_name("tandem::backend::EventSink"), actor);
  }
}

}  // namespace tandem::backend

