// One place that knows which request fields ask for something a backend may not do, and how
// each protocol names them — so a backend refuses with a 400 naming the field instead of
// accepting a parameter and ignoring it. A backend states what it supports; the first request
// field beyond that is returned as the error to answer with.
#pragma once

#include "schemas/errors.h"
#include "schemas/internal.h"

#include <optional>

namespace tandem::schemas {

struct BackendSupport {
  bool images = false;            // image parts, also inside tool results
  bool documents = false;         // PDFs and files (plain-text documents are text and always fine)
  bool multiple_choices = false;  // OpenAI `n` > 1
  bool multiple_prompts = false;  // legacy completions with several prompts
  bool logit_bias = false;
  bool structured_output = false;  // response_format / text.format / output_config.format json
};

// The field's name as the request's protocol and endpoint spell it (`response_format`,
// `text.format` or `output_config.format` for the structured-output request, for instance).
std::string_view structured_output_field(const InternalRequest& request);

// The 400 for the first unsupported field, in request order of importance: media (named by
// their path, e.g. "messages[2].content[0].content[1]"), n, prompts, logit_bias, structured output.
std::optional<ApiError> refuse_unsupported(const InternalRequest& request, const BackendSupport& support);

// Translation to a provider of the other protocol: the 400 for the first field that protocol
// cannot express, instead of dropping it (an OpenAI `seed`, `logit_bias` or `json_object` mode
// has no Anthropic form; Anthropic's `top_k` and tool names beyond OpenAI's 64 characters have
// no OpenAI form). nullopt when the request translates whole, or when `upstream` is the request's
// own protocol (passthrough sends everything).
std::optional<ApiError> refuse_untranslatable(const InternalRequest& request, Protocol upstream);

// Whether to_anthropic_request has a turn to write: a prompt, or a user/assistant/tool message
// with something besides empty text. Anthropic refuses empty text blocks, so its writer drops them,
// and it lifts system and developer turns into `system`; without such a turn `messages` is empty.
bool has_anthropic_turn(const InternalRequest& request);

}  // namespace tandem::schemas
