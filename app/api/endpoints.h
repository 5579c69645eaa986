// The endpoint handlers of app/api (internal). Each parses its body with schemas, asks the router
// once (actors/backend/router.h) and relays the answer: streamed (a StreamWriter's frames, or a
// passthrough's bytes as they came) or folded into one response (ResultBuilder). Errors are
// answered in the caller's protocol from the one table in schemas/errors.h.
#pragma once

#include "actors/backend/backend.h"
#include "actors/backend/router.h"
#include "actors/runtime.h"
#include "http/server.h"
#include "schemas/internal.h"
#include "schemas/response_store.h"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace tandem::api {

namespace asio = boost::asio;

struct ApiState {
  actors::ActorRuntime* runtime = nullptr;
  caf::actor router;  // a backend::router_actor
  std::chrono::milliseconds backend_timeout{10000};
  // Responses API `store: true` answers, for GET/DELETE /v1/responses/{id} and continuations.
  std::shared_ptr<schemas::ResponseStore> responses;
  // Each backend's live status for GET /v1/backends (local models first, then providers).
  // Filled before the server starts; read-only afterwards.
  std::vector<std::function<backend::BackendStatus()>> backend_statuses;
};

// Events a client may lag behind before it loses its request (about one per token).
inline constexpr size_t kStreamCapacity = 512;

// The request's Content-Type ("" when absent), as the schemas parsers take it.
inline std::string request_content_type(const http::RequestContext& ctx) {
  return std::string(ctx.request().header("content-type").value_or(""));
}

// The protocol an endpoint answers in when the path does not fix it (models): Anthropic's when
// the client sent `anthropic-version`.
schemas::Protocol caller_protocol(const http::RequestContext& ctx);

// The error in `protocol`'s shape and status, with its retry-after.
asio::awaitable<void> respond_error(http::RequestContext& ctx, schemas::Protocol protocol,
                                    const schemas::ApiError& error, http::Headers headers = {});

// What the router is given for `request`: tandem's request id, the raw body, the headers a
// provider may forward (never the client's credentials).
backend::BackendRequest backend_request(const http::RequestContext& ctx, schemas::InternalRequest request);

// Asks the router to generate, then streams (request.stream) or answers with the complete
// response in the request's protocol and endpoint shape.
asio::awaitable<void> relay_generation(ApiState& api, http::RequestContext& ctx, schemas::InternalRequest request);

// POST /v1/chat/completions (OpenAI) and POST /v1/messages (Anthropic).
asio::awaitable<void> handle_chat(ApiState& api, http::RequestContext& ctx, schemas::Protocol protocol);
// POST /v1/responses (previous_response_id continues a stored response); GET and DELETE
// /v1/responses/{id} read and forget stored ones.
asio::awaitable<void> handle_create_response(ApiState& api, http::RequestContext& ctx);
asio::awaitable<void> handle_get_response(ApiState& api, http::RequestContext& ctx);
asio::awaitable<void> handle_delete_response(ApiState& api, http::RequestContext& ctx);
// POST /v1/completions: raw text or token-id prompts, echo, prompt scoring.
asio::awaitable<void> handle_completions(ApiState& api, http::RequestContext& ctx);
// POST /v1/messages/count_tokens.
asio::awaitable<void> handle_count_tokens(ApiState& api, http::RequestContext& ctx);
// GET /v1/models and /v1/models/{id}: OpenAI's shape, Anthropic's when `anthropic-version` is sent.
asio::awaitable<void> handle_list_models(ApiState& api, http::RequestContext& ctx);
// GET /v1/backends: {"object":"list","data":[{name, kind, models, state, error_rate, ...}]}.
asio::awaitable<void> handle_list_backends(ApiState& api, http::RequestContext& ctx);
boost::json::object backend_status_json(const backend::BackendStatus& status);
asio::awaitable<void> handle_get_model(ApiState& api, http::RequestContext& ctx);

}  // namespace tandem::api
