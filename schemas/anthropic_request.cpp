// Anthropic client requests → InternalRequest, with the API's validation rules.
#include "schemas/anthropic.h"
#include "schemas/detail/json_read.h"

#include <boost/json.hpp>

namespace tandem::schemas {

namespace json = boost::json;
using detail::Fields;
using detail::fail;

namespace {

// `cache_control` may sit on any block, tool, system block or the request itself. It is a
// caching hint (a server without a prompt cache can accept and ignore it), but a malformed
// one is still the client's bug to hear about.
void check_cache_control(const Fields& fields) {
  auto control = fields.object("cache_control");
  if (!control) return;
  if (!control->has("type")) fail(control->at("type"), "field required");
  control->one_of("type", {"ephemeral"});
  control->one_of("ttl", {"5m", "1h"});
}

ImagePart parse_image_source(const Fields& block) {
  Fields source = Fields::of(block.require("source"), block.at("source"));
  if (!source.has("type")) fail(source.at("type"), "field required");
  std::string type = source.required_one_of("type", {"base64", "url"});
  ImagePart image;
  image.origin = block.path();
  if (type == "base64") {
    image.source = ImagePart::Source::base64;
    if (!source.has("media_type")) fail(source.at("media_type"), "field required");
    image.media_type = source.required_one_of("media_type", {"image/jpeg", "image/png", "image/gif", "image/webp"});
    image.data = source.required_string("data");
  } else {
    image.source = ImagePart::Source::url;
    image.data = source.required_string("url");
  }
  return image;
}

// A `document` block. Plain text (a `text` source, or a `content` source of text blocks) is
// text to any model, so it becomes TextParts — titled and with its context, as a model would
// be shown the document. PDFs, URLs and file ids become a DocumentPart a backend can refuse.
void parse_document(const Fields& block, std::vector<ContentPart>& out) {
  Fields source = Fields::of(block.require("source"), block.at("source"));
  if (!source.has("type")) fail(source.at("type"), "field required");
  std::string type = source.required_one_of("type", {"text", "content", "base64", "url", "file"});
  std::string title = block.string("title").value_or("");
  std::string context = block.string("context").value_or("");
  if (type == "text" || type == "content") {
    std::string text;
    if (type == "text") {
      source.one_of("media_type", {"text/plain"});
      text = source.required_string("data");
    } else {
      const json::value& content = source.require("content");
      if (content.is_string()) {
        text = std::string(content.get_string());
      } else {
        const json::array& blocks = detail::as_array(content, source.at("content"));
        for (size_t i = 0; i < blocks.size(); ++i) {
          Fields inner = Fields::of(blocks[i], detail::index(source.at("content"), i));
          if (!inner.has("type")) fail(inner.at("type"), "field required");
          if (inner.required_one_of("type", {"text", "image"}) == "image") {
            out.push_back(parse_image_source(inner));
            continue;
          }
          if (!text.empty()) text += "\n";
          text += inner.required_string("text");
        }
      }
    }
    std::string rendered;
    if (!title.empty()) rendered += title + "\n\n";
    if (!context.empty()) rendered += context + "\n\n";
    out.push_back(TextPart{rendered + text});
    return;
  }
  DocumentPart document;
  document.title = std::move(title);
  document.origin = block.path();
  if (type == "base64") {
    document.source = DocumentPart::Source::base64;
    document.media_type = source.required_one_of("media_type", {"application/pdf"});
    document.data = source.required_string("data");
  } else if (type == "url") {
    document.source = DocumentPart::Source::url;
    document.data = source.required_string("url");
  } else {
    document.source = DocumentPart::Source::file;
    document.data = source.required_string("file_id");
  }
  out.push_back(std::move(document));
}

// tool_result content: a string, or text, image and document blocks. Images and documents are
// kept (not dropped) so a backend that cannot read them refuses the request naming them.
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
    check_cache_control(inner);
    std::string type = inner.required_one_of("type", {"text", "image", "document"});
    if (type == "image") {
      result.images.push_back(parse_image_source(inner));
      continue;
    }
    std::vector<ContentPart> parts;
    if (type == "text") {
      parts.push_back(TextPart{inner.required_string("text")});
    } else {
      parse_document(inner, parts);
    }
    for (auto& part : parts) {
      if (auto* text = std::get_if<TextPart>(&part)) {
        if (!result.text.empty()) result.text += "\n";
        result.text += text->text;
      } else if (auto* image = std::get_if<ImagePart>(&part)) {
        result.images.push_back(std::move(*image));
      } else if (auto* document = std::get_if<DocumentPart>(&part)) {
        result.documents.push_back(std::move(*document));
      }
    }
  }
}

void parse_block(const json::value& value, const std::string& path, Role role, std::vector<ContentPart>& out) {
  Fields block = Fields::of(value, path);
  if (!block.has("type")) fail(block.at("type"), "field required");
  check_cache_control(block);
  std::string type = block.required_one_of(
      "type", {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"});
  if (type == "tool_result" && role != Role::user) fail(block.at("type"), "'tool_result' is only allowed in user messages");
  if (type == "tool_use" && role != Role::assistant) fail(block.at("type"), "'tool_use' is only allowed in assistant messages");
  if (type == "text") {
    out.push_back(TextPart{block.required_string("text")});
  } else if (type == "image") {
    out.push_back(parse_image_source(block));
  } else if (type == "document") {
    parse_document(block, out);
  } else if (type == "tool_use") {
    ToolCallPart call;
    call.id = block.required_string("id");
    call.name = block.required_string("name");
    const json::value& input = block.require("input");
    if (!input.is_object()) fail(block.at("input"), "must be an object");
    call.arguments = json::serialize(input);
    out.push_back(std::move(call));
  } else if (type == "tool_result") {
    ToolResultPart result;
    result.tool_call_id = block.required_string("tool_use_id");
    result.is_error = block.boolean("is_error").value_or(false);
    parse_tool_result_content(block, result);
    out.push_back(std::move(result));
  } else if (type == "thinking") {
    out.push_back(ThinkingPart{block.required_string("thinking"), block.string("signature").value_or(""), false, ""});
  } else {
    out.push_back(ThinkingPart{"", "", true, block.required_string("data")});
  }
}

// A system prompt: a string or an array of text blocks (joined by blank lines).
std::string parse_system_text(const json::value& value, const std::string& path) {
  if (value.is_string()) return std::string(value.get_string());
  if (!value.is_array()) fail(path, "must be a string or an array of text blocks");
  std::string text;
  const auto& blocks = value.get_array();
  for (size_t i = 0; i < blocks.size(); ++i) {
    Fields block = Fields::of(blocks[i], detail::index(path, i));
    if (!block.has("type")) fail(block.at("type"), "field required");
    block.one_of("type", {"text"});
    check_cache_control(block);
    if (!text.empty()) text += "\n\n";
    text += block.required_string("text");
  }
  return text;
}

// Anthropic accepts `role: system` turns inside `messages` (instructions given mid-conversation);
// they stay at their position, as Role::system messages.
Message parse_message(const json::value& value, const std::string& path, bool last) {
  Fields fields = Fields::of(value, path);
  if (!fields.has("role")) fail(fields.at("role"), "field required");
  std::string role = fields.required_one_of("role", {"user", "assistant", "system"});
  Message message;
  if (role == "system") {
    message.role = Role::system;
    message.content.push_back(TextPart{parse_system_text(fields.require("content"), fields.at("content"))});
    return message;
  }
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
  // As Anthropic's API answers: an empty turn says nothing (and would vanish in translation),
  // except a final assistant turn, which asks the model to begin its answer from nothing.
  if (blocks.empty() && !(last && message.role == Role::assistant)) {
    fail(fields.at("content"), "all messages must have non-empty content except for the optional final assistant message");
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    parse_block(blocks[i], detail::index(fields.at("content"), i), message.role, message.content);
  }
  return message;
}

std::string parse_system(const Fields& fields) {
  const json::value* system = fields.find("system");
  if (system == nullptr) return "";
  return parse_system_text(*system, "system");
}

void parse_tools(const Fields& fields, InternalRequest& request) {
  if (auto* tools = fields.array("tools")) {
    for (size_t i = 0; i < tools->size(); ++i) {
      Fields tool = Fields::of((*tools)[i], detail::index("tools", i));
      // Server tools (web search, code execution...) run at Anthropic; there is nothing to run them here.
      if (auto type = tool.string("type"); type && *type != "custom") {
        fail(tool.at("type"), "unsupported tool type '" + *type + "' (only client tools with input_schema)");
      }
      check_cache_control(tool);
      ToolDefinition definition;
      definition.name = tool.required_string("name");
      if (definition.name.empty() || definition.name.size() > 128) fail(tool.at("name"), "must be 1-128 characters");
      definition.description = tool.string("description").value_or("");
      const json::value& schema = tool.require("input_schema");
      if (!schema.is_object()) fail(tool.at("input_schema"), "must be an object (a JSON Schema)");
      definition.parameters = schema;
      definition.strict = tool.boolean("strict").value_or(false);
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

Effort parse_anthropic_effort(const Fields& config) {
  auto effort = config.one_of("effort", {"low", "medium", "high", "xhigh", "max"});
  if (!effort) return Effort::unset;
  if (*effort == "low") return Effort::low;
  if (*effort == "medium") return Effort::medium;
  if (*effort == "high") return Effort::high;
  if (*effort == "xhigh") return Effort::xhigh;
  return Effort::max;
}

// thinking: enabled (with a budget below max_tokens), adaptive (the model decides, guided by
// output_config.effort), or disabled.
void parse_thinking(const Fields& fields, InternalRequest& request) {
  auto thinking = fields.object("thinking");
  if (!thinking) return;
  if (!thinking->has("type")) fail(thinking->at("type"), "field required");
  std::string type = *thinking->one_of("type", {"enabled", "adaptive", "disabled"});
  auto& out = request.thinking;
  if (type == "disabled") {
    out.mode = ThinkingConfig::Mode::disabled;
    return;
  }
  out.enabled = true;
  if (type == "adaptive") {
    out.mode = ThinkingConfig::Mode::adaptive;
    return;
  }
  out.mode = ThinkingConfig::Mode::enabled;
  if (!thinking->has("budget_tokens")) fail(thinking->at("budget_tokens"), "field required");
  out.budget_tokens = *thinking->integer_at_least("budget_tokens", 1024);
  if (request.max_tokens && out.budget_tokens >= *request.max_tokens) {
    fail(thinking->at("budget_tokens"), "must be less than max_tokens");
  }
}

// output_config: `effort` (how much to think and say) and `format` (structured output: a JSON
// schema the answer must match — honoured where constrained decoding exists, else refused).
void parse_output_config(const Fields& fields, InternalRequest& request) {
  auto config = fields.object("output_config");
  if (!config) return;
  request.thinking.effort = parse_anthropic_effort(*config);
  if (auto format = config->object("format")) {
    if (!format->has("type")) fail(format->at("type"), "field required");
    format->one_of("type", {"json_schema"});
    const json::value& schema = format->require("schema");
    if (!schema.is_object()) fail(format->at("schema"), "must be an object (a JSON Schema)");
    request.response_format.type = ResponseFormat::Type::json_schema;
    request.response_format.name = "output";
    request.response_format.schema = schema;
    request.response_format.strict = true;
  }
}

// context_management: server-side clearing of old tool results and thinking as a conversation
// grows. Validated for shape; what it can change depends on the backend.
void parse_context_management(const Fields& fields, InternalRequest& request) {
  auto management = fields.object("context_management");
  if (!management) return;
  request.context_management = true;
  if (auto* edits = management->array("edits")) {
    for (size_t i = 0; i < edits->size(); ++i) {
      Fields edit = Fields::of((*edits)[i], detail::index(management->at("edits"), i));
      edit.required_string("type");
    }
  }
}

InternalRequest parse_messages_body(json::value& body, bool count_tokens) {
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
    request.messages.push_back(parse_message((*messages)[i], detail::index("messages", i), i + 1 == messages->size()));
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
  parse_thinking(fields, request);
  parse_output_config(fields, request);
  parse_context_management(fields, request);
  check_cache_control(fields);  // automatic caching of the whole prompt
  request.original = std::move(body);  // read through, no longer needed here
  return request;
}

}  // namespace

Result<InternalRequest> anthropic_messages_request_from_json(json::value body) {
  return detail::catching_field_errors<InternalRequest>([&] { return parse_messages_body(body, false); });
}

Result<InternalRequest> parse_anthropic_messages_request(std::string_view body, std::string_view content_type) {
  auto parsed = detail::parse_json_body(body, content_type);
  if (!parsed) return parsed.error();
  return anthropic_messages_request_from_json(std::move(*parsed));
}

Result<InternalRequest> anthropic_count_tokens_request_from_json(json::value body) {
  return detail::catching_field_errors<InternalRequest>([&] { return parse_messages_body(body, true); });
}

Result<InternalRequest> parse_anthropic_count_tokens_request(std::string_view body, std::string_view content_type) {
  auto parsed = detail::parse_json_body(body, content_type);
  if (!parsed) return parsed.error();
  return anthropic_count_tokens_request_from_json(std::move(*parsed));
}

}  // namespace tandem::schemas
