// OpenAI Responses API requests → InternalRequest, with the API's validation rules.
#include "schemas/detail/json_read.h"
#include "schemas/openai.h"
#include "schemas/responses.h"

#include <boost/json.hpp>

namespace tandem::schemas {

namespace json = boost::json;
using detail::Fields;
using detail::fail;

namespace {

// input_image: `image_url` (a URL or a data URL) or a `file_id`.
ImagePart parse_input_image(const Fields& part) {
  ImagePart image;
  image.origin = part.path();
  image.detail = part.one_of("detail", {"auto", "low", "high"}).value_or("");
  if (auto file_id = part.string("file_id")) {
    image.source = ImagePart::Source::url;
    image.data = "file:" + *file_id;
    return image;
  }
  std::string url = part.required_string("image_url");
  std::string_view view = url;
  size_t comma = view.find(',');
  if (view.starts_with("data:") && comma != std::string_view::npos && view.substr(0, comma).ends_with(";base64")) {
    image.source = ImagePart::Source::base64;
    image.media_type = std::string(view.substr(5, comma - 5 - 7));
    image.data = std::string(view.substr(comma + 1));
  } else {
    image.source = ImagePart::Source::url;
    image.data = std::move(url);
  }
  return image;
}

// input_file: inline `file_data` (a data URL), a `file_url`, or a `file_id`.
DocumentPart parse_input_file(const Fields& part) {
  DocumentPart document;
  document.origin = part.path();
  document.title = part.string("filename").value_or("");
  if (auto data = part.string("file_data")) {
    document.source = DocumentPart::Source::base64;
    std::string_view view = *data;
    size_t comma = view.find(',');
    if (view.starts_with("data:") && comma != std::string_view::npos) {
      std::string_view header = view.substr(5, comma - 5);
      if (header.ends_with(";base64")) header.remove_suffix(7);
      document.media_type = std::string(header);
      document.data = std::string(view.substr(comma + 1));
    } else {
      document.media_type = "application/octet-stream";
      document.data = *data;
    }
  } else if (auto url = part.string("file_url")) {
    document.source = DocumentPart::Source::url;
    document.data = *url;
  } else if (auto id = part.string("file_id")) {
    document.source = DocumentPart::Source::file;
    document.data = *id;
  } else {
    fail(part.path(), "an input_file needs file_data, file_url or file_id");
  }
  return document;
}

// Message content: a string, or parts. Users send input_text/input_image/input_file; assistant
// turns replayed from earlier output carry output_text and refusal.
std::vector<ContentPart> parse_content(const json::value& content, const std::string& path, Role role) {
  std::vector<ContentPart> parts;
  if (content.is_string()) {
    parts.push_back(TextPart{std::string(content.get_string())});
    return parts;
  }
  const json::array& array = detail::as_array(content, path);
  for (size_t i = 0; i < array.size(); ++i) {
    Fields part = Fields::of(array[i], detail::index(path, i));
    if (!part.has("type")) fail(part.at("type"), "field required");
    std::string type = role == Role::assistant
                           ? part.required_one_of("type", {"output_text", "refusal", "input_text"})
                           : part.required_one_of("type", {"input_text", "input_image", "input_file"});
    if (type == "input_text" || type == "output_text") {
      parts.push_back(TextPart{part.required_string("text")});
    } else if (type == "refusal") {
      parts.push_back(TextPart{part.required_string("refusal")});
    } else if (type == "input_image") {
      parts.push_back(parse_input_image(part));
    } else {
      parts.push_back(parse_input_file(part));
    }
  }
  return parts;
}

// The assistant turn that function calls and reasoning items join (consecutive output items of
// one earlier response form one assistant message).
Message& assistant_turn(std::vector<Message>& messages) {
  if (messages.empty() || messages.back().role != Role::assistant) messages.push_back(Message{Role::assistant, {}, ""});
  return messages.back();
}

void parse_item(const json::value& value, const std::string& path, InternalRequest& request, bool& leading) {
  Fields item = Fields::of(value, path);
  std::string type = item.has("type") ? item.required_string("type") : "message";
  auto& messages = request.messages;
  if (type == "message") {
    if (!item.has("role")) fail(item.at("role"), "field required");
    std::string role = item.required_one_of("role", {"user", "assistant", "system", "developer"});
    Message message;
    message.role = role == "user" ? Role::user
                   : role == "assistant" ? Role::assistant
                   : role == "system" ? Role::system
                                      : Role::developer;
    message.content = parse_content(item.require("content"), item.at("content"), message.role);
    bool is_system = message.role == Role::system || message.role == Role::developer;
    if (is_system && leading) {
      // Like chat: the system/developer messages that open the input join the instructions.
      if (!request.system.empty()) request.system += "\n\n";
      request.system += message.text();
      return;
    }
    leading = false;
    if (message.role == Role::assistant) {
      Message& turn = assistant_turn(messages);
      for (auto& part : message.content) turn.content.push_back(std::move(part));
    } else {
      messages.push_back(std::move(message));
    }
    return;
  }
  leading = false;
  if (type == "function_call") {
    ToolCallPart call;
    call.id = item.required_string("call_id");
    call.name = item.required_string("name");
    call.arguments = item.required_string("arguments");
    assistant_turn(messages).content.push_back(std::move(call));
  } else if (type == "function_call_output") {
    ToolResultPart result;
    result.tool_call_id = item.required_string("call_id");
    const json::value& output = item.require("output");
    for (auto& part : parse_content(output, item.at("output"), Role::tool)) {
      if (auto* text = std::get_if<TextPart>(&part)) result.text += text->text;
      if (auto* image = std::get_if<ImagePart>(&part)) result.images.push_back(std::move(*image));
      if (auto* document = std::get_if<DocumentPart>(&part)) result.documents.push_back(std::move(*document));
    }
    messages.push_back(Message{Role::tool, {std::move(result)}, ""});
  } else if (type == "reasoning") {
    // Reasoning replayed from an earlier response: its text (or summary) as a thinking part.
    ThinkingPart thinking;
    const char* lists[] = {"content", "summary"};
    for (const char* list : lists) {
      if (!thinking.thinking.empty()) break;
      if (auto* parts = item.array(list)) {
        for (size_t i = 0; i < parts->size(); ++i) {
          Fields part = Fields::of((*parts)[i], detail::index(item.at(list), i));
          if (!thinking.thinking.empty()) thinking.thinking += "\n";
          thinking.thinking += part.required_string("text");
        }
      }
    }
    thinking.signature = item.string("encrypted_content").value_or("");
    assistant_turn(messages).content.push_back(std::move(thinking));
  } else if (type == "item_reference") {
    fail(item.at("type"), "'item_reference' is not supported: send the item itself, or continue with previous_response_id");
  } else {
    fail(item.at("type"), "unsupported input item type '" + type +
                              "' (supported: 'message', 'function_call', 'function_call_output', 'reasoning')");
  }
}

void parse_input(const Fields& fields, InternalRequest& request) {
  const json::value* input = fields.find("input");
  if (input == nullptr) {
    if (request.responses.previous_response_id.empty()) fail("input", "field required");
    return;
  }
  if (input->is_string()) {
    request.messages.push_back(Message{Role::user, {TextPart{std::string(input->get_string())}}, ""});
    return;
  }
  if (!input->is_array()) fail("input", "must be a string or an array of input items, got " + std::string(detail::kind_name(*input)));
  const auto& items = input->get_array();
  if (items.empty() && request.responses.previous_response_id.empty()) fail("input", "must contain at least one item");
  bool leading = true;
  for (size_t i = 0; i < items.size(); ++i) parse_item(items[i], detail::index("input", i), request, leading);
}

// Responses tools are flat: {"type":"function","name","description","parameters","strict"}.
// Hosted tools (web_search, file_search, code_interpreter, ...) run at OpenAI, not here.
void parse_tools(const Fields& fields, InternalRequest& request) {
  if (auto* tools = fields.array("tools")) {
    for (size_t i = 0; i < tools->size(); ++i) {
      Fields tool = Fields::of((*tools)[i], detail::index("tools", i));
      if (!tool.has("type")) fail(tool.at("type"), "field required");
      std::string type = tool.required_string("type");
      if (type != "function") {
        fail(tool.at("type"), "unsupported tool type '" + type + "' (only 'function' tools)");
      }
      ToolDefinition definition;
      definition.name = tool.required_string("name");
      definition.description = tool.string("description").value_or("");
      if (tool.object("parameters")) {
        definition.parameters = *tool.find("parameters");
      } else {
        definition.parameters = json::object{{"type", "object"}, {"properties", json::object{}}};
      }
      definition.strict = tool.boolean("strict").value_or(true);  // the Responses default
      request.tools.push_back(std::move(definition));
    }
  }
  if (auto* choice = fields.find("tool_choice")) {
    auto& out = request.tool_choice;
    if (choice->is_string()) {
      std::string mode = fields.required_one_of("tool_choice", {"none", "auto", "required"});
      out.mode = mode == "none" ? ToolChoice::Mode::none : mode == "auto" ? ToolChoice::Mode::auto_ : ToolChoice::Mode::any;
    } else {
      Fields object = Fields::of(*choice, "tool_choice");
      if (!object.has("type")) fail(object.at("type"), "field required");
      object.one_of("type", {"function"});
      out.mode = ToolChoice::Mode::tool;
      out.name = object.required_string("name");
      bool known = std::any_of(request.tools.begin(), request.tools.end(),
                               [&](const ToolDefinition& tool) { return tool.name == out.name; });
      if (!known) fail(object.at("name"), "no tool named '" + out.name + "' in tools");
    }
  }
  if (auto parallel = fields.boolean("parallel_tool_calls")) request.tool_choice.disable_parallel_tool_use = !*parallel;
}

// text.format: text, json_object, or json_schema {name, schema, strict} (flat, unlike chat).
void parse_text(const Fields& fields, InternalRequest& request) {
  auto text = fields.object("text");
  if (!text) return;
  text->one_of("verbosity", {"low", "medium", "high"});
  auto format = text->object("format");
  if (!format) return;
  if (!format->has("type")) fail(format->at("type"), "field required");
  std::string type = *format->one_of("type", {"text", "json_object", "json_schema"});
  auto& out = request.response_format;
  if (type == "text") return;
  if (type == "json_object") {
    out.type = ResponseFormat::Type::json_object;
    return;
  }
  out.type = ResponseFormat::Type::json_schema;
  out.name = format->required_string("name");
  const json::value& schema = format->require("schema");
  if (!schema.is_object()) fail(format->at("schema"), "must be an object (a JSON Schema)");
  out.schema = schema;
  out.strict = format->boolean("strict").value_or(false);
}

void parse_reasoning(const Fields& fields, InternalRequest& request) {
  auto reasoning = fields.object("reasoning");
  if (!reasoning) return;
  if (auto effort = reasoning->one_of("effort", {"none", "minimal", "low", "medium", "high", "xhigh"})) {
    apply_openai_reasoning_effort(*effort, request.thinking);
  }
  auto summary = reasoning->one_of("summary", {"auto", "concise", "detailed"});
  request.responses.reasoning_summary = summary.has_value();
}

InternalRequest parse_body(json::value& body) {
  Fields fields = Fields::of(body, "");
  InternalRequest request;
  request.protocol = Protocol::openai;
  request.endpoint = Endpoint::responses;
  request.model = fields.required_string("model");

  // Features that need state or services this server does not have.
  if (fields.boolean("background").value_or(false)) {
    fail("background", "background responses are not supported; send the request without it (or stream it)");
  }
  if (fields.has("conversation")) fail("conversation", "conversations are not supported; continue with previous_response_id");
  if (fields.has("prompt")) fail("prompt", "stored prompt templates are not supported; send instructions and input");

  auto& responses = request.responses;
  responses.store = fields.boolean("store").value_or(true);
  responses.previous_response_id = fields.string("previous_response_id").value_or("");
  responses.instructions = fields.string("instructions").value_or("");
  if (auto metadata = fields.object("metadata")) {
    const json::object& object = fields.find("metadata")->get_object();
    if (object.size() > 16) fail("metadata", "must have at most 16 keys");
    for (const auto& [key, value] : object) {
      if (!value.is_string()) fail(metadata->at(key), "must be a string");
    }
    responses.metadata = object;
  }
  request.system = responses.instructions;
  parse_input(fields, request);

  request.max_tokens = fields.integer_at_least("max_output_tokens", 1);
  auto& sampling = request.sampling;
  sampling.temperature = fields.number("temperature", 0, 2);
  sampling.top_p = fields.number("top_p", 0, 1);
  if (auto* include = fields.array("include")) {
    for (size_t i = 0; i < include->size(); ++i) {
      std::string value = detail::as_string((*include)[i], detail::index("include", i));
      if (value == "message.output_text.logprobs") sampling.logprobs = true;
    }
  }
  if (auto top = fields.integer("top_logprobs", 0, 20)) {
    sampling.logprobs = true;
    sampling.top_logprobs = *top;
  }
  fields.one_of("truncation", {"auto", "disabled"});
  parse_tools(fields, request);
  parse_text(fields, request);
  parse_reasoning(fields, request);
  request.stream = fields.boolean("stream").value_or(false);
  request.include_usage = true;  // usage is always part of the final response object
  request.user = fields.string("user").value_or(fields.string("safety_identifier").value_or(""));
  request.original = std::move(body);  // read through, no longer needed here
  return request;
}

}  // namespace

Result<InternalRequest> responses_request_from_json(json::value body) {
  return detail::catching_field_errors<InternalRequest>([&] { return parse_body(body); });
}

Result<InternalRequest> parse_responses_request(std::string_view body, std::string_view content_type) {
  auto parsed = detail::parse_json_body(body, content_type);
  if (!parsed) return parsed.error();
  return responses_request_from_json(std::move(*parsed));
}

}  // namespace tandem::schemas
