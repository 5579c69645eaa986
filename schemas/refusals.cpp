#include "schemas/refusals.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace tandem::schemas {

namespace {

std::string where(const std::string& origin, const char* fallback) {
  return origin.empty() ? std::string(fallback) : origin;
}

std::optional<ApiError> refuse_media(const InternalRequest& request, const BackendSupport& support) {
  const char* messages_field = request.endpoint == Endpoint::responses ? "input" : "messages";
  auto image_error = [&](const ImagePart& image) {
    return invalid_field(where(image.origin, messages_field), "images are not supported by this model");
  };
  auto document_error = [&](const DocumentPart& document) {
    return invalid_field(where(document.origin, messages_field),
                         "documents other than plain text (PDFs, files, URLs) are not supported by this model");
  };
  for (const auto& message : request.messages) {
    for (const auto& part : message.content) {
      if (auto* image = std::get_if<ImagePart>(&part); image && !support.images) return image_error(*image);
      if (auto* document = std::get_if<DocumentPart>(&part); document && !support.documents) {
        return document_error(*document);
      }
      if (auto* result = std::get_if<ToolResultPart>(&part)) {
        if (!result->images.empty() && !support.images) return image_error(result->images.front());
        if (!result->documents.empty() && !support.documents) return document_error(result->documents.front());
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view structured_output_field(const InternalRequest& request) {
  if (request.protocol == Protocol::anthropic) return "output_config.format";
  if (request.endpoint == Endpoint::responses) return "text.format";
  return "response_format";
}

std::optional<ApiError> refuse_unsupported(const InternalRequest& request, const BackendSupport& support) {
  if (auto media = refuse_media(request, support)) return media;
  if (request.sampling.n > 1 && !support.multiple_choices) {
    return invalid_field("n", "only n=1 is supported by this model (got " + std::to_string(request.sampling.n) + ")");
  }
  if (request.prompts.size() > 1 && !support.multiple_prompts) {
    return invalid_field("prompt", "only one prompt per request is supported by this model (got " +
                                       std::to_string(request.prompts.size()) + "); send one request per prompt");
  }
  if (!request.sampling.logit_bias.empty() && !support.logit_bias) {
    return invalid_field("logit_bias", "not supported by this model");
  }
  if (request.response_format.type != ResponseFormat::Type::text && !support.structured_output) {
    return invalid_field(std::string(structured_output_field(request)),
                         "structured output (JSON mode / JSON schema) is not supported by this model");
  }
  return std::nullopt;
}

namespace {

std::string upstream_name(Protocol upstream) {
  return upstream == Protocol::anthropic ? "an Anthropic-protocol provider" : "an OpenAI-protocol provider";
}

ApiError untranslatable(std::string field, std::string_view why, Protocol upstream) {
  return invalid_field(std::move(field), std::string(why) + " cannot be sent to " + upstream_name(upstream) +
                                             " (the model is routed to one)");
}

// OpenAI function names: letters, digits, '_' and '-', at most 64.
bool valid_openai_function_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

std::optional<ApiError> refuse_for_anthropic(const InternalRequest& request) {
  const auto& sampling = request.sampling;
  const Protocol to = Protocol::anthropic;
  if (sampling.n > 1) return untranslatable("n", "more than one choice (n > 1)", to);
  if (!sampling.logit_bias.empty()) return untranslatable("logit_bias", "logit_bias", to);
  if (sampling.logprobs) {
    // As the client spelled it: chat `logprobs` / `top_logprobs`; Responses `top_logprobs` or an
    // `include` of message.output_text.logprobs.
    const bool responses = request.endpoint == Endpoint::responses;
    std::string field = sampling.top_logprobs > 0 ? "top_logprobs" : responses ? "include" : "logprobs";
    return untranslatable(std::move(field), "token logprobs", to);
  }
  if (sampling.seed) return untranslatable("seed", "a sampling seed", to);
  if (sampling.presence_penalty && *sampling.presence_penalty != 0) {
    return untranslatable("presence_penalty", "presence_penalty", to);
  }
  if (sampling.frequency_penalty && *sampling.frequency_penalty != 0) {
    return untranslatable("frequency_penalty", "frequency_penalty", to);
  }
  if (request.response_format.type == ResponseFormat::Type::json_object) {
    return untranslatable(std::string(structured_output_field(request)),
                          "JSON mode without a schema (json_object; ask for json_schema instead)", to);
  }
  for (const auto& prompt : request.prompts) {
    if (prompt.is_tokens) return untranslatable("prompt", "a prompt of token ids", to);
  }
  if (!has_anthropic_turn(request) && request.endpoint != Endpoint::count_tokens) {
    return untranslatable(request.endpoint == Endpoint::responses ? "input" : "messages",
                          "a conversation with no user or assistant turn that has content (only system messages "
                          "or empty texts)",
                          to);
  }
  return std::nullopt;
}

// OpenAI's chat messages cannot carry thinking blocks: its writer drops them, and a turn of
// nothing else with them.
bool has_openai_message(const InternalRequest& request) {
  if (!request.system.empty() || request.messages.empty()) return true;  // a system message is written
  return std::any_of(request.messages.begin(), request.messages.end(), [](const Message& m) {
    return m.role == Role::system || m.role == Role::developer ||
           std::any_of(m.content.begin(), m.content.end(),
                       [](const ContentPart& part) { return !std::holds_alternative<ThinkingPart>(part); });
  });
}

std::optional<ApiError> refuse_for_openai(const InternalRequest& request) {
  const Protocol to = Protocol::openai;
  if (request.sampling.top_k) return untranslatable("top_k", "top_k", to);
  if (!has_openai_message(request) && request.endpoint != Endpoint::count_tokens) {
    return untranslatable("messages", "a conversation of thinking blocks only (nothing else in any turn)", to);
  }
  for (size_t i = 0; i < request.tools.size(); ++i) {
    if (!valid_openai_function_name(request.tools[i].name)) {
      return untranslatable("tools[" + std::to_string(i) + "].name",
                            "a tool name that is not 1-64 letters, digits, '_' or '-' ('" + request.tools[i].name +
                                "')",
                            to);
    }
  }
  return std::nullopt;
}

}  // namespace

bool has_anthropic_turn(const InternalRequest& request) {
  const auto carries_content = [](const Message& m) {
    return m.role != Role::system && m.role != Role::developer &&
           std::any_of(m.content.begin(), m.content.end(), [](const ContentPart& part) {
             const auto* text = std::get_if<TextPart>(&part);
             return text == nullptr || !text->text.empty();
           });
  };
  return !request.prompts.empty() || std::any_of(request.messages.begin(), request.messages.end(), carries_content);
}

std::optional<ApiError> refuse_untranslatable(const InternalRequest& request, Protocol upstream) {
  if (request.protocol == upstream) return std::nullopt;
  return upstream == Protocol::anthropic ? refuse_for_anthropic(request) : refuse_for_openai(request);
}

}  // namespace tandem::schemas
