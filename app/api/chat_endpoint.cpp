// Chat on the local path: /v1/chat/completions and /v1/messages share everything but the wire
// protocol — parse, route, render the chat template, generate.
#include "app/api/endpoints.h"

#include "schemas/anthropic.h"
#include "schemas/openai.h"

#include <boost/json/serialize.hpp>

namespace tandem::api {

asio::awaitable<void> handle_chat(ApiState& api, http::RequestContext& ctx, schemas::Protocol protocol) {
  const auto& body = ctx.request().body;
  auto parsed = protocol == schemas::Protocol::anthropic
                    ? schemas::parse_anthropic_messages_request(body, request_content_type(ctx))
                    : schemas::parse_openai_chat_request(body, request_content_type(ctx));
  if (!parsed) {
    co_await respond_error(ctx, protocol, parsed.error());
    co_return;
  }
  const schemas::InternalRequest& request = *parsed;
  if (auto refused = unsupported_options(request)) {
    co_await respond_error(ctx, protocol, *refused);
    co_return;
  }
  auto served = co_await find_model(api, ctx, protocol, request.model);
  if (!served) co_return;
  auto prompt = chat_prompt_tokens(*served->model, request);
  if (!prompt) {
    co_await respond_error(ctx, protocol, prompt.error());
    co_return;
  }
  GenerationPlan plan;
  plan.model = served;
  plan.logprobs = request.sampling.logprobs;
  if (wants_tool_calls(request)) plan.tool_calls = tool_call_format(*served->model);
  plan.request = generation_request(request, std::move(*prompt), served->context_size, ctx.request_id());
  co_await run_generation(api, ctx, request, std::move(plan));
}

asio::awaitable<void> handle_count_tokens(ApiState& api, http::RequestContext& ctx) {
  const auto protocol = schemas::Protocol::anthropic;
  auto parsed = schemas::parse_anthropic_count_tokens_request(ctx.request().body, request_content_type(ctx));
  if (!parsed) {
    co_await respond_error(ctx, protocol, parsed.error());
    co_return;
  }
  auto served = co_await find_model(api, ctx, protocol, parsed->model);
  if (!served) co_return;
  auto prompt = chat_prompt_tokens(*served->model, *parsed);
  if (!prompt) {
    co_await respond_error(ctx, protocol, prompt.error());
    co_return;
  }
  auto body = boost::json::serialize(schemas::anthropic_count_tokens_response(static_cast<int64_t>(prompt->size())));
  co_await ctx.respond(200, std::move(body));
}

}  // namespace tandem::api
