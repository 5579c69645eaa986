#include "schemas/writers.h"

#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/responses.h"

#include <algorithm>

namespace tandem::schemas {

std::unique_ptr<StreamWriter> make_stream_writer(const InternalRequest& request, StreamWriterOptions options) {
  options.include_usage = options.include_usage || request.include_usage;
  if (request.endpoint == Endpoint::responses) return std::make_unique<ResponsesStreamWriter>(request, std::move(options));
  if (request.protocol == Protocol::openai && request.endpoint == Endpoint::chat_completions) {
    options.choices = int(std::max<int64_t>(1, request.sampling.n));
  }
  return make_stream_writer(request.protocol, request.endpoint, std::move(options));
}

boost::json::object complete_response(const InternalRequest& request, const std::vector<TextResult>& choices) {
  const TextResult empty;
  const TextResult& first = choices.empty() ? empty : choices.front();
  switch (request.endpoint) {
    case Endpoint::responses: return responses_response(request, first);
    case Endpoint::messages:
    case Endpoint::count_tokens: return anthropic_message_response(first);
    case Endpoint::completions: return openai_completion_response(choices);
    case Endpoint::chat_completions: break;
  }
  if (request.protocol == Protocol::anthropic) return anthropic_message_response(first);
  return openai_chat_response(choices);
}

}  // namespace tandem::schemas
