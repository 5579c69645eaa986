// Anthropic client requests → InternalRequest, with the API's validation rules.
#include "schemas/anthropic.h"
#include "schemas/detail/json_read.h"

#include <boost/json.hpp>

namespace tandem::schemas {

namespace json = boost::json;
using detail::Fields;
using detail::fail;

namespace {

ImagePart parse_image_source(const Fields& block) {
  Fields source = Fields::of(block.require("source"), block.at("source"));
  if (!source.has("type")) fail(source.at("type"), "field required");
  std::string type = *source.one_of("type", {"base64", "url"});
  ImagePart image;
  if (type == "base64") {
    image.source = ImagePart::Source::base64;
    if (!source.has("media_type")) fail(source.at("media_type"), "field required");
    image.media_type = *source.one_of("media_type", {"image/jpeg", "image/png", "image/gif", "image/webp"});
    image.data = source.required_string("data");
  } else {
    image.source = ImagePart::Source::url;
    image.data = source.required_string("url");
  }
  return image;
}

// tool_result content: a string, or text and image blocks.
void parse_tool_result_content(const Fields& block, ToolResultPart& result) {
  const json::value* content = block.find("content");
  if (content == nullptr) return;
  if (content->is_string()) {
    result.text = std::string(content->get_string());
    return;
  }
  const json::array& array = detail::as_array(*content, block.at("content"));
  for (size_t i = 0; i < array.size(); ++i) {
    Fields inner = Fields::of(array[i], detail::index(block.at("content"), i));
    if (!inner.has("type")) fail(inner.at("type"), "field required");
    std::string type = *inner.one_of("type", {"text", "image"});
    if (type == "text") {
      if (!result.text.empty()) result.text += "\n";
      result.text += inner.required_string("text");
    } else {
      result.images.push_back(parse_image_source(inner));
    }
  }
}

ContentPart parse_block(const json::value& value, const std::string& path, Role role) {
  Fields block = Fields::of(value, path);
  if (!block.has("type")) fail(block.at("type"), "field required");
  std::string type = *block.one_of(
      "type", {"text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"});
  if (type == "tool_result" && role != Role::user) fail(block.at("type"), "'tool_result' is only allowed in user messages");
  if (type == "tool_use" && role != Role::assistant) fail(block.at("type"), "'tool_use' is only allowed in assistant messages");
  if (type == "text") return TextPart{block.required_string("text")};
  if (type == "image") return parse_image_source(block);
  if (type == "tool_use") {
    ToolCallPart call;
    call.id = block.required_string("id");
    call.name = block.required_string("name");
    const json::value& input = block.require("input");
    if (!input.is_object()) fail(block.at("input"), "must be an object");
    call.arguments = json::serialize(input);
    return call;
  }
  if (type == "tool_result") {
    ToolResultPart result;
    result.tool_call_id = block.required_string("tool_use_id");
    result.is_error = block.boolean("is_error").value_or(false);
    parse_tool_result_content(block, result);
    return result;
  }
  if (type == "thinking") {
    return ThinkingPart{block.required_string("thinking"), block.string("signature").value_or(""), false, ""};
  }
  return ThinkingPart{"", "", true, block.required_string("data")};
}

Message parse_message(const json::value& value, const std::string& path) {
  Fields fields = Fields::of(value, path);
  if (!fields.has("role")) fail(fields.at("role"), "field required");
  std::string role = *fields.one_of("role", {"user", "assistant"});
  Message message;
  message.role = role == "user" ? Role::user : Role::assistant;
  const json::value& content = fields.require("content");
  if (content.is_string()) {
    message.content.push_back(TextPart{std::string(content.get_string())});
    return message;
  }
  if (!content.is_array()) {
    fail(fields.at("content"), "must be a string or an array of content blocks, got " +
                                   std::string(detail::kind_name(content)));
  }
  const auto& blocks = content.get_array();
  for (size_t i = 0; i < blocks.size(); ++i) {
    message.content.push_back(parse_block(blocks[i], detail::index(fields.at("content"), i), message.role));
  }
  return message;
}

std::string parse_system(const Fields& fields) {
  const json::value* system = fields.find("system");
  if (system == nullptr) return "";
  if (system->is_string()) return std::string(system->get_string());
  if (!system->is_array()) fail("system", "must be a string or an array of text blocks");
  std::string text;
  const auto& blocks = system->get_array();
  for (size_t i = 0; i < blocks.size(); ++i) {
    Fields block = Fields::of(blocks[i], detail::index("system", i));
    if (!block.has("type")) fail(block.at("type"), "field required");
    block.one_of("type", {"text"});
    if (!text.empty()) text += "\n\n";
    text += block.required_string("text");
  }
  return text;
}

void parse_tools(const Fields& fields, InternalRequest& request) {
  if (auto* tools = fields.array("tools")) {
    for (size_t i = 0; i < tools->size(); ++i) {
      Fields tool = Fields::of((*tools)[i], detail::index("tools", i));
      // Server tools (web search, code execution...) run at Anthropic; there is nothing to run them here.
      if (auto type = tool.string("type"); type && *type != "custom") {
        fail(tool.at("type"), "unsupported tool type '" + *type + "' (only client tools with input_schema)");
      }
      ToolDefinition definition;
      definition.name = tool.required_string("name");
      if (definition.name.empty() || definition.name.size() > 128) fail(tool.at("name"), "must be 1-128 characters");
      definition.description = tool.string("description").value_or("");
      const json::value& schema = tool.require("input_schema");
      if (!schema.is_object()) fail(tool.at("input_schema"), "must be an object (a JSON Schema)");
      definition.parameters = schema;
      request.tools.push_back(std::move(definition));
    }
  }
  if (auto choice = fields.object("tool_choice")) {
    if (!choice->has("type")) fail(choice->at("type"), "field required");
    std::string type = *choice->one_of("type", {"auto", "any", "tool", "none"});
    auto& out = request.tool_choice;
    out.mode = type == "auto" ? ToolChoice::Mode::auto_
               : type == "any" ? ToolChoice::Mode::any
               : type == "none" ? ToolChoice::Mode::none
                                : ToolChoice::Mode::tool;
    if (out.mode == ToolChoice::Mode::tool) {
      out.name = choice->required_string("name");
      bool known = std::any_of(request.tools.begin(), request.tools.end(),
                               [&](const ToolDefinition& tool) { return tool.name == out.name; });
      if (!known) fail(choice->at("name"), "no tool named '" + out.name + "' in tools");
    }
    out.disable_parallel_tool_use = choice->boolean("disable_parallel_tool_use").value_or(false);
  }
}

InternalRequest parse_messages_body(const json::value& body, bool count_tokens) {
  Fields fields = Fields::of(body, "");
  InternalRequest request;
  request.protocol = Protocol::anthropic;
  request.endpoint = count_tokens ? Endpoint::count_tokens : Endpoint::messages;
  request.model = fields.required_string("model");
  if (!count_tokens) {
    if (!fields.has("max_tokens")) fail("max_tokens", "field required");
    request.max_tokens = fields.integer_at_least("max_tokens", 1);
  }
  const json::array* messages = fields.array("messages");
  if (messages == nullptr) fail("messages", "field required");
  if (messages->empty()) fail("messages", "must contain at least one message");
  for (size_t i = 0; i < messages->size(); ++i) {
    request.messages.push_back(parse_message((*messages)[i], detail::index("messages", i)));
  }
  request.system = parse_system(fields);

  auto& sampling = request.sampling;
  sampling.temperature = fields.number("temperature", 0, 1);
  sampling.top_p = fields.number("top_p", 0, 1);
  sampling.top_k = fields.integer_at_least("top_k", 0);
  if (auto* stop = fields.array("stop_sequences")) {
    for (size_t i = 0; i < stop->size(); ++i) {
      request.stop.push_back(detail::as_string((*stop)[i], detail::index("stop_sequences", i)));
    }
  }
  request.stream = fields.boolean("stream").value_or(false);
  if (auto metadata = fields.object("metadata")) request.user = metadata->string("user_id").value_or("");
  parse_tools(fields, request);

  if (auto thinking = fields.object("thinking")) {
    if (!thinking->has("type")) fail(thinking->at("type"), "field required");
    if (*thinking->one_of("type", {"enabled", "disabled"}) == "enabled") {
      request.thinking.enabled = true;
      if (!thinking->has("budget_tokens")) fail(thinking->at("budget_tokens"), "field required");
      request.thinking.budget_tokens = *thinking->integer_at_least("budget_tokens", 1024);
      if (request.max_tokens && request.thinking.budget_tokens >= *request.max_tokens) {
        fail(thinking->at("budget_tokens"), "must be less than max_tokens");
      }
    }
  }
  request.original = body;
  return request;
}

}  // namespace

Result<InternalRequest> anthropic_messages_request_from_json(const json::value& body) {
  return detail::catching_field_errors<InternalRequest>([&] { return parse_messages_body(body, false); });
}

Result<InternalRequest> parse_anthropic_messages_request(std::string_view body, std::string_view content_type) {
  auto parsed = detail::parse_json_body(body, content_type);
  if (!parsed) return parsed.error();
  return anthropic_messages_request_from_json(*parsed);
}

Result<InternalRequest> anthropic_count_tokens_request_from_json(const json::value& body) {
  return detail::catching_field_errors<InternalRequest>([&] { return parse_messages_body(body, true); });
}

Result<InternalRequest> parse_anthropic_count_tokens_request(std::string_view body, std::string_view content_type) {
  auto parsed = detail::parse_json_body(body, content_type);
  if (!parsed) return parsed.error();
  return anthropic_count_tokens_request_from_json(*parsed);
}

}  // namespace tandem::schemas
