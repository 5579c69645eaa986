// The chat template's view of a request: messages and tools as Hugging Face chat templates
// take them (the local backend's; pure, so tests render real templates with it).
#pragma once

#include "schemas/internal.h"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <string>

namespace tandem::local {

// {role, content[, name, tool_calls]} with text content. Assistant tool calls become
// tool_calls: [{id, type: "function", function: {name, arguments: <object>}}]; tool results
// (OpenAI `tool` messages, Anthropic tool_result blocks) become {role: "tool", tool_call_id,
// content}. `nine_char_ids`: ids as Mistral's template demands them (see template_call_id).
schemas::Result<boost::json::array> template_messages(const schemas::InternalRequest& request,
                                                      bool nine_char_ids = false);

// For templates that accept a system message only at the start: every later {role: system}
// turn is folded into a user turn, marked "[System]\n<text>" — joined in front of the next user
// turn when one comes before the next assistant turn, else behind the user turn just before it,
// else as a user turn of its own. System turns that open the conversation are joined into one
// leading system message. Returns false when nothing changed. (llama.cpp's minja and LiteLLM
// fold system turns into the next user turn the same way for templates without a system role.)
bool fold_later_system_turns(boost::json::array& messages);

// The request's tools as [{type: "function", function: {name, description, parameters}}];
// null when it has none.
boost::json::value template_tools(const schemas::InternalRequest& request);

// `id` unchanged, or (nine_alphanumerics, for Mistral) 9 alphanumerics derived from it.
std::string template_call_id(const std::string& id, bool nine_alphanumerics);

}  // namespace tandem::local
