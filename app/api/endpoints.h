// The endpoint handlers of app/api (internal): each parses its body with schemas, answers errors
// in the caller's protocol, and runs generations through local_generation.h.
#pragma once

#include "app/api/local_generation.h"

#include <string>

namespace tandem::api {

// The request's Content-Type ("" when absent), as the schemas parsers take it.
inline std::string request_content_type(const http::RequestContext& ctx) {
  return std::string(ctx.request().header("content-type").value_or(""));
}

// POST /v1/chat/completions (OpenAI) and POST /v1/messages (Anthropic).
asio::awaitable<void> handle_chat(ApiState& api, http::RequestContext& ctx, schemas::Protocol protocol);
// POST /v1/completions: raw text or token-id prompts, echo, prompt scoring.
asio::awaitable<void> handle_completions(ApiState& api, http::RequestContext& ctx);
// POST /v1/messages/count_tokens.
asio::awaitable<void> handle_count_tokens(ApiState& api, http::RequestContext& ctx);
// GET /v1/models and /v1/models/{id}: OpenAI's shape, Anthropic's when `anthropic-version` is sent.
asio::awaitable<void> handle_list_models(ApiState& api, http::RequestContext& ctx);
asio::awaitable<void> handle_get_model(ApiState& api, http::RequestContext& ctx);

}  // namespace tandem::api
