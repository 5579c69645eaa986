// /v1/chat/completions and /v1/messages share everything but the wire protocol: parse, then
// relay what the router's backend answers. count_tokens asks the router too.
#include "app/api/endpoints.h"

#include "actors/bridge.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"

#include <boost/json/serialize.hpp>

#include <spdlog/spdlog.h>

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
  co_await relay_generation(api, ctx, std::move(*parsed));
}

asio::awaitable<void> handle_count_tokens(ApiState& api, http::RequestContext& ctx) {
  const auto protocol = schemas::Protocol::anthropic;
  auto parsed = schemas::parse_anthropic_count_tokens_request(ctx.request().body, request_content_type(ctx));
  if (!parsed) {
    co_await respond_error(ctx, protocol, parsed.error());
    co_return;
  }
  std::optional<backend::TokenCount> count;
  std::string failure;
  try {
    auto operation = actors::ask<backend::TokenCount>(*api.runtime, api.router, api.backend_timeout,
                                                      backend::count_atom::value,
                                                      backend_request(ctx, std::move(*parsed)));
    count = co_await std::move(operation);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!count) {
    spdlog::error("{}the model router did not answer: {}", ctx.log_prefix(), failure);
    auto error = schemas::make_error(schemas::ErrorKind::api_error, "the model router did not answer: " + failure);
    co_await respond_error(ctx, protocol, error);
    co_return;
  }
  if (!count->counted) {
    co_await respond_error(ctx, protocol, count->error);
    co_return;
  }
  auto body = boost::json::serialize(schemas::anthropic_count_tokens_response(count->tokens));
  co_await ctx.respond(200, std::move(body));
}

}  // namespace tandem::api
