// InternalRequest / TextResult → Anthropic JSON: responses for our clients, requests for Anthropic.
#include "schemas/anthropic.h"
#include "schemas/detail/json_read.h"

#include <boost/json.hpp>

#include <algorithm>

namespace tandem::schemas {

namespace json = boost::json;

std::string_view anthropic_stop_reason(FinishReason reason) {
  switch (reason) {
    case FinishReason::length: return "max_tokens";
    case FinishReason::stop_sequence: return "stop_sequence";
    case FinishReason::tool_calls: return "tool_use";
    case FinishReason::content_filter: return "refusal";
    case FinishReason::stop:
    case FinishReason::error: return "end_turn";
  }
  return "end_turn";
}

FinishReason finish_reason_from_anthropic(std::string_view reason) {
  if (reason == "max_tokens") return FinishReason::length;
  if (reason == "stop_sequence") return FinishReason::stop_sequence;
  if (reason == "tool_use") return FinishReason::tool_calls;
  if (reason == "refusal") return FinishReason::content_filter;
  return FinishReason::stop;  // end_turn, pause_turn
}

json::object anthropic_usage_json(const Usage& usage) {
  // The cache fields are always present, as Anthropic sends them (0 while nothing is cached):
  // clients compute cost and context size from all four.
  return json::object{{"input_tokens", usage.input_tokens},
                      {"cache_creation_input_tokens", usage.cache_creation_tokens.value_or(0)},
                      {"cache_read_input_tokens", usage.cache_read_tokens.value_or(0)},
                      {"output_tokens", usage.output_tokens}};
}

json::object anthropic_tool_input(std::string_view arguments) {
  // A model may emit broken JSON as arguments; Anthropic's `input` must still be an object.
  auto parsed = detail::parse_json_text(arguments);
  if (parsed && parsed->is_object()) return std::move(parsed->get_object());
  return json::object{};
}

static json::object image_block(const ImagePart& image) {
  json::object source = image.source == ImagePart::Source::base64
                            ? json::object{{"type", "base64"}, {"media_type", image.media_type}, {"data", image.data}}
                            : json::object{{"type", "url"}, {"url", image.data}};
  return json::object{{"type", "image"}, {"source", std::move(source)}};
}

static json::object document_block(const DocumentPart& document) {
  json::object source;
  switch (document.source) {
    case DocumentPart::Source::base64:
      source = json::object{{"type", "base64"}, {"media_type", document.media_type}, {"data", document.data}};
      break;
    case DocumentPart::Source::url: source = json::object{{"type", "url"}, {"url", document.data}}; break;
    case DocumentPart::Source::file: source = json::object{{"type", "file"}, {"file_id", document.data}}; break;
  }
  json::object block{{"type", "document"}, {"source", std::move(source)}};
  if (!document.title.empty()) block["title"] = document.title;
  return block;
}

static json::object thinking_block(const ThinkingPart& thinking) {
  if (thinking.redacted) return json::object{{"type", "redacted_thinking"}, {"data", thinking.redacted_data}};
  return json::object{{"type", "thinking"}, {"thinking", thinking.thinking}, {"signature", thinking.signature}};
}

static json::object tool_use_block(const ToolCallPart& call) {
  return json::object{{"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", anthropic_tool_input(call.arguments)}};
}

json::object anthropic_message_response(const TextResult& result) {
  json::array content;
  for (const auto& part : result.content) {
    if (auto* text = std::get_if<TextPart>(&part)) content.push_back(json::object{{"type", "text"}, {"text", text->text}});
    if (auto* thinking = std::get_if<ThinkingPart>(&part)) content.push_back(thinking_block(*thinking));
    if (auto* call = std::get_if<ToolCallPart>(&part)) content.push_back(tool_use_block(*call));
  }
  bool matched_sequence = result.finish_reason == FinishReason::stop_sequence;
  return json::object{{"id", result.id},
                      {"type", "message"},
                      {"role", "assistant"},
                      {"model", result.model},
                      {"content", std::move(content)},
                      {"stop_reason", anthropic_stop_reason(result.finish_reason)},
                      {"stop_sequence", matched_sequence ? json::value(result.stop_sequence) : json::value()},
                      {"usage", anthropic_usage_json(result.usage)}};
}

json::object anthropic_count_tokens_response(int64_t input_tokens) {
  return json::object{{"input_tokens", input_tokens}};
}

// ---------------------------------------------------------------- provider requests

namespace {

json::array blocks_of(const Message& message) {
  json::array blocks;
  for (const auto& part : message.content) {
    if (auto* text = std::get_if<TextPart>(&part)) {
      if (!text->text.empty()) blocks.push_back(json::object{{"type", "text"}, {"text", text->text}});  // empty text blocks are refused
    } else if (auto* image = std::get_if<ImagePart>(&part)) {
      blocks.push_back(image_block(*image));
    } else if (auto* document = std::get_if<DocumentPart>(&part)) {
      blocks.push_back(document_block(*document));
    } else if (auto* call = std::get_if<ToolCallPart>(&part)) {
      blocks.push_back(tool_use_block(*call));
    } else if (auto* result = std::get_if<ToolResultPart>(&part)) {
      json::object block{{"type", "tool_result"}, {"tool_use_id", result->tool_call_id}};
      if (result->images.empty() && result->documents.empty()) {
        block["content"] = result->text;
      } else {
        json::array content;
        if (!result->text.empty()) content.push_back(json::object{{"type", "text"}, {"text", result->text}});
        for (const auto& image : result->images) content.push_back(image_block(image));
        for (const auto& document : result->documents) content.push_back(document_block(document));
        block["content"] = std::move(content);
      }
      if (result->is_error) block["is_error"] = true;
      blocks.push_back(std::move(block));
    } else if (auto* thinking = std::get_if<ThinkingPart>(&part)) {
      blocks.push_back(thinking_block(*thinking));
    }
  }
  return blocks;
}

// Anthropic wants tool_result blocks at the start of their user turn.
void tool_results_first(json::array& blocks) {
  std::stable_partition(blocks.begin(), blocks.end(), [](const json::value& block) {
    return block.as_object().at("type").as_string() == "tool_result";
  });
}

json::array anthropic_messages(const InternalRequest& request, std::string& system) {
  json::array messages;
  std::string last_role;
  for (const auto& message : request.messages) {
    if (message.role == Role::system || message.role == Role::developer) {
      // Anthropic has one system prompt; later instructions join it.
      if (!system.empty()) system += "\n\n";
      system += message.text();
      continue;
    }
    std::string role = message.role == Role::assistant ? "assistant" : "user";  // tool results ride in user turns
    json::array blocks = blocks_of(message);
    if (blocks.empty()) continue;
    if (role == last_role) {
      auto& previous = messages.back().as_object()["content"].as_array();
      for (auto& block : blocks) previous.push_back(std::move(block));
    } else {
      messages.push_back(json::object{{"role", role}, {"content", std::move(blocks)}});
      last_role = role;
    }
  }
  for (auto& message : messages) {
    auto& object = message.as_object();
    auto& blocks = object["content"].as_array();
    if (object["role"].as_string() == "user") tool_results_first(blocks);
    // A lone text block is sent as a plain string, the common form.
    if (blocks.size() == 1 && blocks[0].as_object().at("type").as_string() == "text") {
      json::value text = blocks[0].as_object().at("text");
      object["content"] = std::move(text);
    }
  }
  return messages;
}

// OpenAI efforts → Anthropic: `none` turns thinking off, `minimal` is Anthropic's `low`, an
// effort alone (OpenAI reasoning_effort) means adaptive thinking at that effort.
void add_anthropic_thinking(const InternalRequest& request, json::object& out) {
  const auto& thinking = request.thinking;
  Effort effort = thinking.effort == Effort::minimal ? Effort::low : thinking.effort;
  bool off = thinking.mode == ThinkingConfig::Mode::disabled || effort == Effort::none;
  if (off) {
    if (thinking.mode != ThinkingConfig::Mode::unset || effort == Effort::none) {
      out["thinking"] = json::object{{"type", "disabled"}};
    }
    return;
  }
  if (thinking.mode == ThinkingConfig::Mode::enabled) {
    out["thinking"] = json::object{{"type", "enabled"}, {"budget_tokens", thinking.budget_tokens}};
  } else if (thinking.mode == ThinkingConfig::Mode::adaptive || effort != Effort::unset) {
    out["thinking"] = json::object{{"type", "adaptive"}};
  }
  if (effort != Effort::unset) out["output_config"] = json::object{{"effort", effort_name(effort)}};
}

}  // namespace

json::object to_anthropic_request(const InternalRequest& request, const AnthropicRequestOptions& options) {
  std::string system = request.system;
  json::array messages = anthropic_messages(request, system);
  json::object out{{"model", request.model},
                   {"max_tokens", request.max_tokens.value_or(options.default_max_tokens)},
                   {"messages", std::move(messages)}};
  if (!system.empty()) out["system"] = system;
  const auto& sampling = request.sampling;
  if (sampling.temperature) out["temperature"] = std::min(*sampling.temperature, 1.0);  // Anthropic's range is 0-1
  if (sampling.top_p) out["top_p"] = *sampling.top_p;
  if (sampling.top_k) out["top_k"] = *sampling.top_k;
  if (!request.stop.empty()) {
    json::array stop;
    for (const auto& sequence : request.stop) stop.push_back(json::value(sequence));
    out["stop_sequences"] = std::move(stop);
  }
  if (request.stream) out["stream"] = true;
  if (!request.user.empty()) out["metadata"] = json::object{{"user_id", request.user}};
  if (!request.tools.empty()) {
    json::array tools;
    for (const auto& tool : request.tools) {
      json::object definition{{"name", tool.name}};
      if (!tool.description.empty()) definition["description"] = tool.description;
      definition["input_schema"] = tool.parameters.is_object() ? tool.parameters : json::value(json::object{{"type", "object"}});
      tools.push_back(std::move(definition));
    }
    out["tools"] = std::move(tools);
  }
  const auto& choice = request.tool_choice;
  if (choice.mode != ToolChoice::Mode::unset || (choice.disable_parallel_tool_use && !request.tools.empty())) {
    json::object tool_choice;
    switch (choice.mode) {
      case ToolChoice::Mode::unset:
      case ToolChoice::Mode::auto_: tool_choice["type"] = "auto"; break;
      case ToolChoice::Mode::any: tool_choice["type"] = "any"; break;
      case ToolChoice::Mode::none: tool_choice["type"] = "none"; break;
      case ToolChoice::Mode::tool:
        tool_choice["type"] = "tool";
        tool_choice["name"] = choice.name;
        break;
    }
    if (choice.disable_parallel_tool_use && choice.mode != ToolChoice::Mode::none) {
      tool_choice["disable_parallel_tool_use"] = true;
    }
    out["tool_choice"] = std::move(tool_choice);
  }
  add_anthropic_thinking(request, out);
  if (request.response_format.type == ResponseFormat::Type::json_schema && request.response_format.schema.is_object()) {
    json::value& config = out["output_config"];  // may already carry the effort
    if (!config.is_object()) config.emplace_object();
    config.as_object()["format"] = json::object{{"type", "json_schema"}, {"schema", request.response_format.schema}};
  }
  return out;
}

}  // namespace tandem::schemas
