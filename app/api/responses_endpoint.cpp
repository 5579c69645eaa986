// The OpenAI Responses API: POST /v1/responses is a generation like any other (parse, ask the
// router once, relay); a continuation first puts the stored conversation before its input.
// GET / DELETE /v1/responses/{id} answer from the bounded store (schemas/response_store.h).
#include "app/api/endpoints.h"

#include "schemas/responses.h"

#include <boost/json/serialize.hpp>

namespace tandem::api {

asio::awaitable<void> handle_create_response(ApiState& api, http::RequestContext& ctx) {
  const auto protocol = schemas::Protocol::openai;
  auto parsed = schemas::parse_responses_request(ctx.request().body, request_content_type(ctx));
  if (!parsed) {
    co_await respond_error(ctx, protocol, parsed.error());
    co_return;
  }
  auto continued = api.responses->with_history(std::move(*parsed));
  if (!continued) {
    co_await respond_error(ctx, protocol, continued.error());
    co_return;
  }
  co_await relay_generation(api, ctx, std::move(*continued));
}

asio::awaitable<void> handle_get_response(ApiState& api, http::RequestContext& ctx) {
  const std::string id(ctx.path_param("id"));
  auto stored = api.responses->get(id);
  if (!stored) {
    co_await respond_error(ctx, schemas::Protocol::openai, schemas::response_not_found(id));
    co_return;
  }
  co_await ctx.respond(200, boost::json::serialize(stored->response));
}

asio::awaitable<void> handle_delete_response(ApiState& api, http::RequestContext& ctx) {
  const std::string id(ctx.path_param("id"));
  if (!api.responses->erase(id)) {
    co_await respond_error(ctx, schemas::Protocol::openai, schemas::response_not_found(id));
    co_return;
  }
  co_await ctx.respond(200, boost::json::serialize(schemas::responses_deleted(id)));
}

}  // namespace tandem::api
