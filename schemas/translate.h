// Choosing the JSON to send a cloud provider: a request in the provider's own protocol passes
// through untouched but for `model` (so fields this library does not model survive); any other
// request is translated from the internal form.
#pragma once

#include "schemas/anthropic.h"
#include "schemas/openai.h"

#include <boost/json/object.hpp>

#include <optional>
#include <string_view>

namespace tandem::schemas {

struct ProviderRequestOptions {
  OpenAiRequestOptions openai;
  AnthropicRequestOptions anthropic;
};

// `model` is the provider's model name (empty keeps the request's). Legacy completions sent to an
// Anthropic provider become one user message per prompt text (token-id prompts cannot be sent).
boost::json::object request_for_provider(const InternalRequest& request, Protocol provider, std::string_view model,
                                         const ProviderRequestOptions& options = {});

// What a translation cannot carry is refused by name before it: schemas/refusals.h's
// refuse_untranslatable.

}  // namespace tandem::schemas
