// Legacy /v1/completions on the local path: the prompt is raw text (tokenized with the model's
// BOS flag) or token ids, no chat template. `echo` returns the prompt before the completion, and
// with `logprobs` the prompt's own teacher-forced logprobs; `max_tokens: 0` scores a prompt
// without generating, as OpenAI's legacy API does.
#include "app/api/endpoints.h"

#include "engine/loaded_model.h"
#include "schemas/openai.h"

namespace tandem::api {

namespace {

// The prompt's token ids, or the 400 naming the offending entry.
schemas::Result<std::vector<engine::TokenId>> prompt_tokens(const engine::LoadedModel& model,
                                                           const schemas::Prompt& prompt) {
  const auto& tokenizer = model.tokenizer();
  if (!prompt.is_tokens) {
    // As `tandem generate --raw` does: the model's BOS flag, special-token text left as text.
    auto tokens = model.tokenize_text(prompt.text);
    if (tokens.empty()) return schemas::invalid_field("prompt", "must not be empty");
    return tokens;
  }
  if (prompt.tokens.empty()) return schemas::invalid_field("prompt", "must not be empty");
  const auto vocab = static_cast<int64_t>(tokenizer.vocab_size());
  std::vector<engine::TokenId> tokens;
  tokens.reserve(prompt.tokens.size());
  for (size_t i = 0; i < prompt.tokens.size(); ++i) {
    const int64_t id = prompt.tokens[i];
    if (id < 0 || id >= vocab) {
      return schemas::invalid_field("prompt[" + std::to_string(i) + "]",
                                    "token id " + std::to_string(id) + " is outside the model's vocabulary (0.." +
                                        std::to_string(vocab - 1) + ")");
    }
    tokens.push_back(static_cast<engine::TokenId>(id));
  }
  return tokens;
}

}  // namespace

asio::awaitable<void> handle_completions(ApiState& api, http::RequestContext& ctx) {
  const auto protocol = schemas::Protocol::openai;
  auto parsed = schemas::parse_openai_completion_request(
      ctx.request().body, request_content_type(ctx));
  if (!parsed) {
    co_await respond_error(ctx, protocol, parsed.error());
    co_return;
  }
  const schemas::InternalRequest& request = *parsed;
  if (auto refused = unsupported_options(request)) {
    co_await respond_error(ctx, protocol, *refused);
    co_return;
  }
  if (request.prompts.empty()) {
    co_await respond_error(ctx, protocol, schemas::invalid_field("prompt", "field required"));
    co_return;
  }
  auto served = co_await find_model(api, ctx, protocol, request.model);
  if (!served) co_return;
  auto prompt = prompt_tokens(*served->model, request.prompts.front());
  if (!prompt) {
    co_await respond_error(ctx, protocol, prompt.error());
    co_return;
  }

  GenerationPlan plan;
  plan.model = served;
  plan.logprobs = request.sampling.logprobs;
  plan.echo = request.echo;
  if (plan.echo) plan.prompt_pieces = token_pieces(served->model->tokenizer(), *prompt);
  plan.request = generation_request(request, std::move(*prompt), served->context_size, ctx.request_id());
  // The prompt's logprobs come from a teacher-forced pass on the scheduler's thread; scoring
  // also serves max_tokens 0 (nothing to generate).
  if (plan.echo && (plan.logprobs || plan.request.max_tokens == 0)) {
    plan.request.score_prompt = true;
    plan.request.score_top_n = static_cast<uint32_t>(plan.request.sampling.top_logprobs);
  }
  co_await run_generation(api, ctx, request, std::move(plan));
}

}  // namespace tandem::api
