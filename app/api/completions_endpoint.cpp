// Legacy /v1/completions: parse, then relay. The prompt (raw text or token ids), echo, prompt
// scoring and `max_tokens: 0` are the local backend's (actors/serving/local_prompt.h).
#include "app/api/endpoints.h"

#include "schemas/openai.h"

namespace tandem::api {

asio::awaitable<void> handle_completions(ApiState& api, http::RequestContext& ctx) {
  const auto protocol = schemas::Protocol::openai;
  auto parsed = schemas::parse_openai_completion_request(ctx.request().body, request_content_type(ctx));
  if (!parsed) {
    co_await respond_error(ctx, protocol, parsed.error());
    co_return;
  }
  co_await relay_generation(api, ctx, std::move(*parsed));
}

}  // namespace tandem::api
