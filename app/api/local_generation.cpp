// Finding the model, building prompts, mapping requests (see local_generation.h). Running a
// generation is in generation_run.cpp.
#include "app/api/local_generation.h"

#include "app/api/chat_messages.h"

#include "engine/chat_template.h"
#include "schemas/errors.h"
#include "schemas/refusals.h"

#include <boost/json.hpp>

#include <spdlog/spdlog.h>

namespace tandem::api {

namespace json = boost::json;

asio::awaitable<void> respond_error(http::RequestContext& ctx, schemas::Protocol protocol,
                                    const schemas::ApiError& error, http::Headers headers) {
  const int status = error.http_status(protocol);
  std::string body = schemas::render_error(error, protocol);
  co_await ctx.respond(status, std::move(body), std::move(headers));
}

schemas::Protocol caller_protocol(const http::RequestContext& ctx) {
  return ctx.protocol() == http::Protocol::anthropic ? schemas::Protocol::anthropic
                                                     : schemas::Protocol::openai;
}

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

schemas::ApiError unknown_model_error(const std::string& name,
                                      const std::vector<std::string>& available) {
  std::string message = "The model '" + name + "' does not exist or is not served here";
  message += available.empty() ? "; no model is loaded" : "; available models: " + join(available);
  return schemas::make_error(schemas::ErrorKind::model_not_found, std::move(message), "model");
}

}  // namespace

asio::awaitable<std::shared_ptr<const actors::ServedModel>> find_model(
    ApiState& api, http::RequestContext& ctx, schemas::Protocol protocol, const std::string& name) {
  std::optional<actors::RouteResult> routed;
  std::string failure;
  try {
    auto operation = actors::ask<actors::RouteResult>(*api.runtime, api.router, api.ask_timeout,
                                                      actors::route_atom::value, name);
    routed = co_await std::move(operation);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!routed) {
    spdlog::error("{}router did not answer: {}", ctx.log_prefix(), failure);
    auto error = schemas::make_error(schemas::ErrorKind::api_error,
                                     "the model router did not answer: " + failure);
    co_await respond_error(ctx, protocol, error);
    co_return nullptr;
  }
  if (!routed->model) {
    co_await respond_error(ctx, protocol, unknown_model_error(name, routed->available));
    co_return nullptr;
  }
  co_return routed->model;
}

// ---------------------------------------------------------------- chat prompts

schemas::Result<std::vector<engine::TokenId>> chat_prompt_tokens(
    const engine::LoadedModel& model, const schemas::InternalRequest& request) {
  auto messages = template_messages(request, tool_call_format(model) == ToolCallFormat::mistral);
  if (!messages) return messages.error();
  std::string prompt;
  try {
    prompt = model.render_chat(std::move(*messages), template_tools(request), true);
  } catch (const engine::TemplateBudgetError& e) {
    // The template ran away (a hostile or broken GGUF): the server's fault to report, not the
    // client's; the request ends, the server and other requests carry on.
    // Named by the model id the client used, not the file path (which is the server's business).
    return schemas::make_error(schemas::ErrorKind::api_error,
                               "the chat template of model '" + request.model +
                                   "' exceeded its render budget: " + e.what());
  } catch (const engine::TemplateError& e) {
    // The template's own message (e.g. "Conversation roles must alternate user/assistant").
    return schemas::make_error(schemas::ErrorKind::invalid_request,
                               std::string("the model's chat template refused the conversation: ") +
                                   e.what(),
                               "messages");
  }
  // Special-token text parsed; BOS unless the template printed it (as `tandem generate` does).
  return model.tokenize_chat_prompt(prompt);
}

ToolCallFormat tool_call_format(const engine::LoadedModel& model) {
  if (model.chat_template_is_fallback()) return ToolCallFormat::none;
  auto source = model.file().get_string("tokenizer.chat_template");
  return source ? detect_tool_call_format(*source) : ToolCallFormat::none;
}

std::optional<schemas::ApiError> unsupported_options(const schemas::InternalRequest& request) {
  // Local text models: no images or non-text documents, one choice, one prompt, no logit_bias
  // and no constrained JSON yet — each refused naming its field rather than ignored.
  return schemas::refuse_unsupported(request, schemas::BackendSupport{});
}

actors::GenerationRequest generation_request(const schemas::InternalRequest& request,
                                             std::vector<engine::TokenId> prompt,
                                             uint32_t context_size, const std::string& request_id) {
  actors::GenerationRequest out;
  const auto& s = request.sampling;
  out.sampling.temperature = static_cast<float>(s.temperature.value_or(1.0));
  if (s.top_p) out.sampling.top_p = static_cast<float>(*s.top_p);
  if (s.top_k) out.sampling.top_k = static_cast<int32_t>(*s.top_k);
  if (s.presence_penalty) out.sampling.presence_penalty = static_cast<float>(*s.presence_penalty);
  if (s.frequency_penalty) out.sampling.frequency_penalty = static_cast<float>(*s.frequency_penalty);
  if (s.seed) out.sampling.seed = static_cast<uint64_t>(*s.seed);
  out.sampling.top_logprobs = s.logprobs ? static_cast<int32_t>(s.top_logprobs) : 0;
  out.stop_strings = request.stop;
  if (request.max_tokens) {
    out.max_tokens = static_cast<uint32_t>(std::min<int64_t>(*request.max_tokens, UINT32_MAX));
  } else {
    // At least 1, so a prompt that fills the context is refused by the scheduler naming the limit.
    out.max_tokens = prompt.size() < context_size ? static_cast<uint32_t>(context_size - prompt.size()) : 1;
  }
  out.prompt = std::move(prompt);
  out.request_id = request_id;
  return out;
}

std::vector<std::string> token_pieces(const engine::Tokenizer& tokenizer,
                                      const std::vector<engine::TokenId>& tokens) {
  std::vector<std::string> pieces;
  pieces.reserve(tokens.size());
  engine::IncrementalDetokenizer detokenizer(tokenizer, false, true);
  for (auto token : tokens) pieces.push_back(detokenizer.push(token));
  if (!pieces.empty()) pieces.back() += detokenizer.flush();
  return pieces;
}

}  // namespace tandem::api
