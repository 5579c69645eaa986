#include "schemas/refusals.h"

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

}  // namespace tandem::schemas
