#include "actors/serving/local_constraint.h"

#include "schemas/errors.h"
#include "schemas/refusals.h"

#include <boost/json.hpp>

#include <string>
#include <vector>

namespace tandem::local {

namespace {

using schemas::Endpoint;
using schemas::Protocol;

// Where the schema sits inside the structured-output field, as the protocol spells it.
std::string schema_field(const schemas::InternalRequest& request) {
  std::string field(schemas::structured_output_field(request));
  if (request.protocol == Protocol::openai && request.endpoint != Endpoint::responses) {
    return field + ".json_schema.schema";
  }
  return field + ".schema";
}

std::string tool_parameters_field(const schemas::InternalRequest& request, size_t index) {
  const std::string tool = "tools[" + std::to_string(index) + "]";
  if (request.protocol == Protocol::anthropic) return tool + ".input_schema";
  if (request.endpoint == Endpoint::responses) return tool + ".parameters";
  return tool + ".function.parameters";
}

schemas::ApiError schema_refusal(std::string param, const std::string& reason) {
  return schemas::invalid_field(std::move(param), reason);
}

// "/tools/N/parameters/rest" -> (N, "/rest"); anything else -> nullopt.
std::optional<std::pair<size_t, std::string>> split_tool_path(const std::string& path) {
  const std::string head = "/tools/";
  if (path.rfind(head, 0) != 0) return std::nullopt;
  size_t end = head.size();
  while (end < path.size() && path[end] >= '0' && path[end] <= '9') ++end;
  if (end == head.size()) return std::nullopt;
  const size_t index = std::stoul(path.substr(head.size(), end - head.size()));
  std::string rest = path.substr(end);
  const std::string parameters = "/parameters";
  if (rest.rfind(parameters, 0) == 0) rest = rest.substr(parameters.size());
  return std::make_pair(index, rest);
}

std::optional<schemas::ApiError> constrain_tool_call(const schemas::InternalRequest& request, ToolCallFormat format,
                                                     engine::ConstraintCache& constraints,
                                                     actors::GenerationRequest& generation) {
  const auto syntax = forced_tool_syntax(format);
  if (!syntax) {
    return schemas::invalid_field("tool_choice",
                                  "this model's chat template has no tool-call syntax that can be forced (" +
                                      std::string(tool_call_format_name(format)) +
                                      "); use tool_choice auto or none");
  }
  // The tools the call may be to, with their index in the request (for error params).
  std::vector<engine::Grammar::Tool> tools;
  std::vector<size_t> indices;
  bool strict = false;
  for (size_t i = 0; i < request.tools.size(); ++i) {
    const auto& tool = request.tools[i];
    if (request.tool_choice.mode == schemas::ToolChoice::Mode::tool && tool.name != request.tool_choice.name) continue;
    engine::Grammar::Tool entry;
    entry.name = tool.name;
    if (!tool.parameters.is_null()) entry.parameters_schema = boost::json::serialize(tool.parameters);
    tools.push_back(std::move(entry));
    indices.push_back(i);
    strict = strict || tool.strict;
  }
  if (tools.empty()) {
    return schemas::invalid_field("tool_choice", "no tool named '" + request.tool_choice.name + "' in tools");
  }
  engine::ConstraintOptions options;
  options.strict = strict;
  options.max_schema_bytes = constraints.max_schema_bytes();
  try {
    generation.sampling.constraint = constraints.tool_call(*syntax, tools, options);
  } catch (const engine::SchemaError& e) {
    if (auto where = split_tool_path(e.path()); where && where->first < indices.size()) {
      return schema_refusal(tool_parameters_field(request, indices[where->first]) + where->second, e.reason());
    }
    return schema_refusal("tools", e.reason());
  }
  return std::nullopt;
}

}  // namespace

std::optional<engine::Grammar::ToolSyntax> forced_tool_syntax(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::hermes: return engine::Grammar::ToolSyntax::hermes;
    case ToolCallFormat::llama3: return engine::Grammar::ToolSyntax::llama3;
    default: return std::nullopt;
  }
}

bool forces_tool_call(const schemas::InternalRequest& request) {
  using Mode = schemas::ToolChoice::Mode;
  return !request.tools.empty() &&
         (request.tool_choice.mode == Mode::any || request.tool_choice.mode == Mode::tool);
}

std::optional<schemas::ApiError> constrain_generation(const schemas::InternalRequest& request, ToolCallFormat format,
                                                      engine::ConstraintCache& constraints,
                                                      actors::GenerationRequest& generation) {
  using Type = schemas::ResponseFormat::Type;
  const bool structured = request.response_format.type != Type::text;
  const bool forced_tool = forces_tool_call(request);
  if (!structured && !forced_tool) return std::nullopt;
  if (structured && forced_tool) {
    // One output cannot be both a tool call and a JSON answer; refused rather than one ignored.
    return schemas::invalid_field(std::string(schemas::structured_output_field(request)),
                                  "cannot be combined with a forced tool_choice on this model");
  }
  if (forced_tool) {
    if (auto refused = constrain_tool_call(request, format, constraints, generation)) return refused;
  } else {
    engine::ConstraintOptions options;
    options.strict = request.response_format.strict;
    options.max_schema_bytes = constraints.max_schema_bytes();
    try {
      if (request.response_format.type == Type::json_object) {
        generation.sampling.constraint = constraints.json_object(options);
      } else {
        generation.sampling.constraint =
            constraints.json_schema(boost::json::serialize(request.response_format.schema), options);
      }
    } catch (const engine::SchemaError& e) {
      return schema_refusal(schema_field(request) + e.path(), e.reason());
    }
  }
  // A stop string inside the value would cut it; the constraint ends generation itself.
  generation.stop_strings.clear();
  return std::nullopt;
}

std::optional<schemas::ApiError> apply_logit_bias(const schemas::InternalRequest& request, size_t vocab_size,
                                                  actors::GenerationRequest& generation) {
  auto& bias = generation.sampling.logit_bias;
  bias.clear();
  for (const auto& [id, value] : request.sampling.logit_bias) {
    if (id < 0 || static_cast<uint64_t>(id) >= vocab_size) {
      return schemas::invalid_field("logit_bias", "token id " + std::to_string(id) +
                                                      " is outside the model's vocabulary (0.." +
                                                      std::to_string(vocab_size - 1) + ")");
    }
    bias.emplace_back(static_cast<engine::TokenId>(id), static_cast<float>(value));
  }
  return std::nullopt;
}

}  // namespace tandem::local
