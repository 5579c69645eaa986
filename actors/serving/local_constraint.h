// Structured output and logit_bias on the local path: what a request asks of the sampler beyond
// temperature and penalties. JSON mode / JSON Schema (`response_format`, `text.format`,
// `output_config.format`) and forced tool calls (`tool_choice` required / named, Anthropic
// `any` / `tool`) become an engine::TokenConstraint from the model's ConstraintCache; logit_bias
// keys are checked against the vocabulary. Pure (engine + schemas): tested without actors.
#pragma once

#include "actors/serving/scheduler.h"
#include "actors/serving/tool_calls.h"
#include "engine/constraint.h"
#include "schemas/internal.h"

#include <optional>

namespace tandem::local {

// The tool-call grammar syntax of a template's ToolCallFormat; nullopt when none can be forced
// (no tool syntax, or Mistral's control-token syntax, which masks never allow).
std::optional<engine::Grammar::ToolSyntax> forced_tool_syntax(ToolCallFormat format);

// Whether the request forces a tool call (tools offered and tool_choice required/any/named).
bool forces_tool_call(const schemas::InternalRequest& request);

// Sets generation.sampling.constraint for a structured-output or forced-tool-call request (and
// turns stop strings off: they could cut the value); leaves an unconstrained request alone.
// A schema the engine refuses is a 400 whose param is the request field plus the schema path
// (`response_format.json_schema.schema/properties/age`, `tools[1].function.parameters`).
std::optional<schemas::ApiError> constrain_generation(const schemas::InternalRequest& request, ToolCallFormat format,
                                                      engine::ConstraintCache& constraints,
                                                      actors::GenerationRequest& generation);

// OpenAI logit_bias into the sampler: keys must be token ids of the model (a 400 naming
// `logit_bias` otherwise; the parser already checked they are integers and values -100..100).
std::optional<schemas::ApiError> apply_logit_bias(const schemas::InternalRequest& request, size_t vocab_size,
                                                  actors::GenerationRequest& generation);

}  // namespace tandem::local
