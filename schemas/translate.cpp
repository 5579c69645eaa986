#include "schemas/translate.h"

#include <boost/json.hpp>

namespace tandem::schemas {

namespace json = boost::json;

json::object request_for_provider(const InternalRequest& request, Protocol provider, std::string_view model,
                                  const ProviderRequestOptions& options) {
  json::object out;
  if (request.protocol == provider && request.original.is_object()) {
    out = request.original.get_object();
    // We decode the provider's stream ourselves and want usage at its end. (The Responses API
    // always ends with usage, and has no such option.)
    if (provider == Protocol::openai && request.stream && options.openai.request_stream_usage &&
        request.endpoint != Endpoint::responses) {
      out["stream_options"] = json::object{{"include_usage", true}};
    }
  } else if (provider == Protocol::anthropic) {
    if (request.endpoint == Endpoint::completions) {
      InternalRequest as_chat = request;
      for (const auto& prompt : request.prompts) {
        if (!prompt.is_tokens) as_chat.messages.push_back(Message{Role::user, {TextPart{prompt.text}}, ""});
      }
      out = to_anthropic_request(as_chat, options.anthropic);
    } else {
      out = to_anthropic_request(request, options.anthropic);
    }
  } else {
    out = to_openai_chat_request(request, options.openai);
  }
  if (!model.empty()) out["model"] = model;
  return out;
}

std::optional<ApiError> untranslatable_field(const InternalRequest& request, Protocol provider) {
  if (provider != Protocol::anthropic || request.protocol == Protocol::anthropic) return std::nullopt;
  const std::string why = " cannot be translated for an Anthropic-protocol upstream";
  const bool responses = request.endpoint == Endpoint::responses;
  if (request.sampling.logprobs) {
    std::string field = responses ? (request.sampling.top_logprobs > 0 ? "top_logprobs" : "include")
                                  : (request.sampling.top_logprobs > 0 ? "top_logprobs" : "logprobs");
    return invalid_field(field, "token logprobs" + why);
  }
  if (!request.sampling.logit_bias.empty()) return invalid_field("logit_bias", "logit_bias" + why);
  if (request.sampling.n > 1) return invalid_field("n", "n > 1" + why + " (it answers with one choice)");
  return std::nullopt;
}

}  // namespace tandem::schemas
