// What the endpoint handlers share (internal to app/api): finding the model a request names,
// building prompts with the model's chat template, mapping a parsed request onto a scheduler
// request, and running it — submit, then stream SSE or answer with the complete response, in
// the caller's protocol.
#pragma once

#include "actors/bridge.h"
#include "actors/runtime.h"
#include "actors/serving/messages.h"
#include "app/api/tool_calls.h"
#include "engine/loaded_model.h"
#include "http/server.h"
#include "schemas/internal.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tandem::api {

namespace asio = boost::asio;

struct ApiState {
  actors::ActorRuntime* runtime = nullptr;
  caf::actor router;
  std::vector<std::shared_ptr<const actors::ServedModel>> models;
  std::chrono::seconds ask_timeout{10};
};

// Events a client may lag behind before it loses its request (one per step and sequence).
inline constexpr size_t kStreamCapacity = 512;

asio::awaitable<void> respond_error(http::RequestContext& ctx, schemas::Protocol protocol,
                                    const schemas::ApiError& error, http::Headers headers = {});

// The protocol an endpoint answers in when the path does not fix it (models): Anthropic's when
// the client sent `anthropic-version`.
schemas::Protocol caller_protocol(const http::RequestContext& ctx);

// The model `name` routes to; null after answering 404 (with the available models) or 500.
asio::awaitable<std::shared_ptr<const actors::ServedModel>> find_model(
    ApiState& api, http::RequestContext& ctx, schemas::Protocol protocol, const std::string& name);

// The chat template's prompt for the request's system + messages (+ tools), tokenized as the
// model expects (special tokens parsed, BOS added unless the template printed it).
schemas::Result<std::vector<engine::TokenId>> chat_prompt_tokens(
    const engine::LoadedModel& model, const schemas::InternalRequest& request);

// The tool-call syntax `model`'s chat template teaches (none for the ChatML fallback).
ToolCallFormat tool_call_format(const engine::LoadedModel& model);

// Refusals common to every generating endpoint (n > 1, ...); nullopt when fine.
std::optional<schemas::ApiError> unsupported_options(const schemas::InternalRequest& request);

// Sampling, stop strings and limits of `request` on `prompt`. max_tokens left out by an OpenAI
// client means the rest of the context.
actors::GenerationRequest generation_request(const schemas::InternalRequest& request,
                                             std::vector<engine::TokenId> prompt,
                                             uint32_t context_size, const std::string& request_id);

struct GenerationPlan {
  std::shared_ptr<const actors::ServedModel> model;
  actors::GenerationRequest request;
  bool logprobs = false;  // report per-token logprobs
  // Legacy completions' echo: the prompt tokens' texts (joined: the echoed prompt). With
  // request.score_prompt they get the prompt's logprobs (the first token has none).
  bool echo = false;
  std::vector<std::string> prompt_pieces;
  // Tool calls are looked for in the output in this syntax (none: the output is all text).
  ToolCallFormat tool_calls = ToolCallFormat::none;
};

// The texts of `tokens` as a detokenized prompt shows them: joined they equal decode(tokens).
std::vector<std::string> token_pieces(const engine::Tokenizer& tokenizer,
                                      const std::vector<engine::TokenId>& tokens);

// Submits the plan to the model's scheduler, then streams (request.stream) or answers with the
// complete response in the request's protocol and endpoint shape. Refusals (queue full, too
// long, shutting down) are answered with the protocol's status and a retry-after when useful.
asio::awaitable<void> run_generation(ApiState& api, http::RequestContext& ctx,
                                     const schemas::InternalRequest& request, GenerationPlan plan);

}  // namespace tandem::api
