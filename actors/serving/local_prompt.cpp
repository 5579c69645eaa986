#include "actors/serving/local_prompt.h"

#include "actors/serving/chat_messages.h"
#include "actors/serving/local_constraint.h"
#include "actors/serving/reasoning.h"
#include "engine/chat_template.h"
#include "schemas/errors.h"
#include "schemas/refusals.h"

#include <algorithm>

namespace tandem::local {

schemas::Result<ChatPrompt> chat_prompt(const engine::LoadedModel& model, const schemas::InternalRequest& request,
                                        bool thinking_off) {
  auto messages = template_messages(request, tool_call_format(model) == ToolCallFormat::mistral);
  if (!messages) return messages.error();
  ChatPrompt out;
  boost::json::object extra;
  if (!model.chat_template_is_fallback()) {
    auto source = model.file().get_string("tokenizer.chat_template");
    out.reasoning = source && template_has_reasoning(*source);
  }
  if (out.reasoning) {
    auto wanted = thinking_off ? std::optional<bool>(false) : enable_thinking(request.thinking);
    if (wanted) extra["enable_thinking"] = *wanted;
  }
  std::string prompt;
  try {
    try {
      prompt = model.render_chat(*messages, template_tools(request), true, extra);
    } catch (const engine::TemplateBudgetError&) {
      throw;
    } catch (const engine::TemplateError&) {
      // A template that accepts a system message only at the start (Mistral's raises): the
      // conversation is valid, so later system turns are folded into user turns and it is
      // rendered again (see fold_later_system_turns); any other refusal stands.
      if (!fold_later_system_turns(*messages)) throw;
      prompt = model.render_chat(*messages, template_tools(request), true, extra);
    }
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
                               std::string("the model's chat template refused the conversation: ") + e.what(),
                               "messages");
  }
  out.opens_reasoning = out.reasoning && prompt_opens_reasoning(prompt);
  // Special-token text parsed; BOS unless the template printed it (as `tandem generate` does).
  out.tokens = model.tokenize_chat_prompt(prompt);
  return out;
}

schemas::Result<std::vector<engine::TokenId>> chat_prompt_tokens(const engine::LoadedModel& model,
                                                                 const schemas::InternalRequest& request) {
  auto prompt = chat_prompt(model, request);
  if (!prompt) return prompt.error();
  return std::move(prompt->tokens);
}

schemas::Result<std::vector<engine::TokenId>> completion_prompt_tokens(const engine::LoadedModel& model,
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

ToolCallFormat tool_call_format(const engine::LoadedModel& model) {
  if (model.chat_template_is_fallback()) return ToolCallFormat::none;
  auto source = model.file().get_string("tokenizer.chat_template");
  return source ? detect_tool_call_format(*source) : ToolCallFormat::none;
}

std::optional<schemas::ApiError> unsupported_options(const schemas::InternalRequest& request) {
  // Local text models: no images or non-text documents, one prompt — each refused naming its
  // field rather than ignored. logit_bias, structured output and n > 1 (chat and legacy completions) are honoured.
  schemas::BackendSupport support;
  support.logit_bias = true;
  support.structured_output = true;
  support.multiple_choices = request.endpoint == schemas::Endpoint::chat_completions ||
                             request.endpoint == schemas::Endpoint::completions;
  return schemas::refuse_unsupported(request, support);
}

actors::GenerationRequest generation_request(const schemas::InternalRequest& request,
                                             std::vector<engine::TokenId> prompt, uint32_t context_size,
                                             const std::string& request_id) {
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

std::vector<engine::TokenId> end_marker_tokens(const engine::Tokenizer& tokenizer) {
  const std::string marker(reasoning_end_marker);
  auto direct = tokenizer.encode(marker, false, true);
  if (!tokenizer.strips_leading_space()) return direct;
  // SentencePiece starts a text with a word-start space: tokenize the marker after a letter and
  // keep what follows the letter's tokens.
  const auto head = tokenizer.encode("a", false, true);
  const auto joined = tokenizer.encode("a" + marker, false, true);
  if (joined.size() > head.size() && std::equal(head.begin(), head.end(), joined.begin())) {
    return {joined.begin() + static_cast<std::ptrdiff_t>(head.size()), joined.end()};
  }
  return direct;
}

std::vector<std::string> token_pieces(const engine::Tokenizer& tokenizer, const std::vector<engine::TokenId>& tokens) {
  std::vector<std::string> pieces;
  pieces.reserve(tokens.size());
  engine::IncrementalDetokenizer detokenizer(tokenizer, false, true);
  for (auto token : tokens) pieces.push_back(detokenizer.push(token));
  if (!pieces.empty()) pieces.back() += detokenizer.flush();
  return pieces;
}

schemas::Result<PreparedGeneration> prepare_generation(const engine::LoadedModel& model, const std::string& model_id,
                                                       uint32_t context_size, const schemas::InternalRequest& request,
                                                       const std::string& request_id,
                                                       engine::ConstraintCache* constraints) {
  if (auto refused = unsupported_options(request)) return *refused;
  PreparedGeneration out;
  auto& plan = out.plan;
  plan.model_id = model_id;
  plan.endpoint = request.endpoint;
  plan.protocol = request.protocol;
  plan.logprobs = request.sampling.logprobs;

  if (request.endpoint == schemas::Endpoint::completions) {
    if (request.prompts.empty()) return schemas::invalid_field("prompt", "field required");
    auto prompt = completion_prompt_tokens(model, request.prompts.front());
    if (!prompt) return prompt.error();
    plan.echo = request.echo;
    if (plan.echo) plan.prompt_pieces = token_pieces(model.tokenizer(), *prompt);
    out.request = generation_request(request, std::move(*prompt), context_size, request_id);
    // The prompt's logprobs come from a teacher-forced pass on the scheduler's thread; scoring
    // also serves max_tokens 0 (nothing to generate).
    if (plan.echo && (plan.logprobs || out.request.max_tokens == 0)) {
      out.request.score_prompt = true;
      out.request.score_top_n = static_cast<uint32_t>(out.request.sampling.top_logprobs);
    }
  } else {
    // Constrained output (a JSON value, a forced call) is the answer itself: no reasoning first.
    const bool constrained =
        request.response_format.type != schemas::ResponseFormat::Type::text || forces_tool_call(request);
    auto prompt = chat_prompt(model, request, constrained);
    if (!prompt) return prompt.error();
    plan.reasoning = prompt->reasoning;
    plan.opens_reasoning = prompt->opens_reasoning;
    const ToolCallFormat format = tool_call_format(model);
    if (wants_tool_calls(request)) plan.tool_calls = format;
    out.request = generation_request(request, std::move(prompt->tokens), context_size, request_id);
    if (plan.reasoning && !constrained) {
      plan.reasoning_budget = reasoning_budget(request.thinking, out.request.max_tokens);
      if (plan.reasoning_budget) plan.reasoning_end_marker = end_marker_tokens(model.tokenizer());
    }
    if (constraints != nullptr) {
      if (auto refused = constrain_generation(request, format, *constraints, out.request)) return *refused;
    } else if (request.response_format.type != schemas::ResponseFormat::Type::text || forces_tool_call(request)) {
      return schemas::make_error(schemas::ErrorKind::api_error, "internal error: no constraint tables for this model");
    }
  }
  if (auto refused = apply_logit_bias(request, model.tokenizer().vocab_size(), out.request)) return *refused;
  plan.score_prompt = out.request.score_prompt;
  plan.prompt_tokens = static_cast<int64_t>(out.request.prompt.size());
  return out;
}

}  // namespace tandem::local
