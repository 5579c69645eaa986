// OpenAI client requests → InternalRequest, with the API's validation rules.
#include "schemas/detail/json_read.h"
#include "schemas/openai.h"

#include <boost/json.hpp>

namespace tandem::schemas {

namespace json = boost::json;
using detail::Fields;
using detail::fail;

namespace {

// "data:image/png;base64,AAAA" → base64 image; anything else is a URL for the backend to fetch.
// An inline image must be one of the types both protocols accept (OpenAI refuses the others
// too), so a request that parses here also translates into a valid Anthropic request.
ImagePart image_from_url(std::string url, std::string detail, const std::string& path) {
  ImagePart image;
  image.detail = std::move(detail);
  std::string_view view = url;
  size_t comma = view.find(',');
  if (view.starts_with("data:") && comma != std::string_view::npos) {
    std::string_view header = view.substr(5, comma - 5);
    if (header.ends_with(";base64")) {
      image.source = ImagePart::Source::base64;
      image.media_type = std::string(header.substr(0, header.size() - 7));
      static constexpr std::string_view kImageTypes[] = {"image/jpeg", "image/png", "image/gif", "image/webp"};
      if (std::find(std::begin(kImageTypes), std::end(kImageTypes), image.media_type) == std::end(kImageTypes)) {
        fail(path, "a data URL image must be image/jpeg, image/png, image/gif or image/webp, got '" +
                       image.media_type + "'");
      }
      image.data = std::string(view.substr(comma + 1));
      return image;
    }
  }
  image.source = ImagePart::Source::url;
  image.data = std::move(url);
  return image;
}

// OpenAI's `file` part (PDF input): `file_id`, or `file_data` as a PDF data URL. A URL in
// file_data is what tandem writes for an Anthropic url document, so it reads back as one.
DocumentPart document_from_file_part(const Fields& part) {
  auto file_object = part.object("file");
  if (!file_object) fail(part.at("file"), "field required");
  const Fields& file = *file_object;
  DocumentPart document;
  document.origin = part.path();
  document.title = file.string("filename").value_or("");
  if (auto id = file.string("file_id")) {
    document.source = DocumentPart::Source::file;
    document.data = std::move(*id);
    return document;
  }
  auto data = file.string("file_data");
  if (!data) fail(file.at("file_data"), "field required (or file_id)");
  std::string_view view = *data;
  const std::string_view prefix = "data:application/pdf;base64,";
  if (view.starts_with(prefix)) {
    document.source = DocumentPart::Source::base64;
    document.media_type = "application/pdf";
    document.data = std::string(view.substr(prefix.size()));
  } else if (view.starts_with("https://") || view.starts_with("http://")) {
    document.source = DocumentPart::Source::url;
    document.data = std::move(*data);
  } else {
    fail(file.at("file_data"), "must be a PDF as a data URL (data:application/pdf;base64,...)");
  }
  return document;
}

// Content: a string, or an array of parts. `allowed` lists the part types of this role.
std::vector<ContentPart> parse_content(const json::value& content, const std::string& path,
                                       std::initializer_list<std::string_view> allowed) {
  std::vector<ContentPart> parts;
  if (content.is_string()) {
    parts.push_back(TextPart{std::string(content.get_string())});
    return parts;
  }
  if (!content.is_array()) fail(path, "must be a string or an array of content parts, got " +
                                          std::string(detail::kind_name(content)));
  const auto& array = content.get_array();
  // As OpenAI's API: a message says something. (Accepted, it would be dropped on the way to a
  // backend, and a conversation of such messages would reach it empty.)
  if (array.empty()) fail(path, "must not be an empty array: send a string or at least one content part");
  for (size_t i = 0; i < array.size(); ++i) {
    std::string part_path = detail::index(path, i);
    Fields part = Fields::of(array[i], part_path);
    std::string type = part.required_string("type");
    if (std::find(allowed.begin(), allowed.end(), type) == allowed.end()) {
      std::string list;
      for (auto name : allowed) list += (list.empty() ? "'" : ", '") + std::string(name) + "'";
      fail(part.at("type"), "unsupported content part type '" + type + "' here (supported: " + list + ")");
    }
    if (type == "text") {
      parts.push_back(TextPart{part.required_string("text")});
    } else if (type == "refusal") {
      parts.push_back(TextPart{part.required_string("refusal")});
    } else if (type == "image_url") {
      const json::value& image_url = part.require("image_url");
      ImagePart image_part;
      if (image_url.is_string()) {  // some clients send the URL directly
        image_part = image_from_url(std::string(image_url.get_string()), "", part.at("image_url"));
      } else {
        Fields image = Fields::of(image_url, part.at("image_url"));
        std::string detail = image.one_of("detail", {"auto", "low", "high"}).value_or("");
        image_part = image_from_url(image.required_string("url"), std::move(detail), image.at("url"));
      }
      image_part.origin = part_path;  // so a text-only backend can refuse it by name
      parts.push_back(std::move(image_part));
    } else if (type == "file") {
      parts.push_back(document_from_file_part(part));
    }
  }
  return parts;
}

ToolCallPart parse_tool_call(const json::value& value, const std::string& path) {
  Fields call = Fields::of(value, path);
  call.one_of("type", {"function"});
  Fields function = Fields::of(call.require("function"), call.at("function"));
  ToolCallPart part;
  part.id = call.required_string("id");
  part.name = function.required_string("name");
  const json::value* arguments = function.find("arguments");
  if (arguments == nullptr) {
    part.arguments = "{}";
  } else if (arguments->is_string()) {
    part.arguments = std::string(arguments->get_string());
  } else if (arguments->is_object()) {  // lenient: some clients send the object itself
    part.arguments = json::serialize(*arguments);
  } else {
    fail(function.at("arguments"), "must be a string of JSON");
  }
  return part;
}

Message parse_message(const json::value& value, const std::string& path) {
  Fields fields = Fields::of(value, path);
  if (!fields.has("role")) fail(fields.at("role"), "field required");
  std::string role = fields.required_one_of("role", {"system", "developer", "user", "assistant", "tool"});
  Message message;
  message.name = fields.string("name").value_or("");
  std::string content_path = fields.at("content");
  if (role == "system" || role == "developer") {
    message.role = role == "system" ? Role::system : Role::developer;
    message.content = parse_content(fields.require("content"), content_path, {"text"});
  } else if (role == "user") {
    message.role = Role::user;
    message.content = parse_content(fields.require("content"), content_path, {"text", "image_url", "file"});
  } else if (role == "assistant") {
    message.role = Role::assistant;
    if (auto* content = fields.find("content")) {
      message.content = parse_content(*content, content_path, {"text", "refusal"});
    }
    if (auto* calls = fields.array("tool_calls")) {
      for (size_t i = 0; i < calls->size(); ++i) {
        message.content.push_back(parse_tool_call((*calls)[i], detail::index(fields.at("tool_calls"), i)));
      }
    }
    if (!fields.has("content") && !fields.has("tool_calls")) {
      fail(content_path, "field required (an assistant message needs content or tool_calls)");
    }
  } else {
    message.role = Role::tool;
    ToolResultPart result;
    result.tool_call_id = fields.required_string("tool_call_id");
    for (auto& part : parse_content(fields.require("content"), content_path, {"text"})) {
      result.text += std::get<TextPart>(part).text;
    }
    message.content.push_back(std::move(result));
  }
  return message;
}

std::vector<std::string> parse_stop(const Fields& fields) {
  std::vector<std::string> stop;
  const json::value* value = fields.find("stop");
  if (value == nullptr) return stop;
  if (value->is_string()) {
    if (!value->get_string().empty()) stop.emplace_back(value->get_string());
    return stop;
  }
  if (!value->is_array()) fail(fields.at("stop"), "must be a string or an array of strings");
  const auto& array = value->get_array();
  if (array.size() > 4) fail(fields.at("stop"), "must have at most 4 sequences");
  for (size_t i = 0; i < array.size(); ++i) {
    std::string sequence = detail::as_string(array[i], detail::index(fields.at("stop"), i));
    if (!sequence.empty()) stop.push_back(std::move(sequence));
  }
  return stop;
}

bool is_valid_function_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void parse_tools(const Fields& fields, InternalRequest& request) {
  if (auto* tools = fields.array("tools")) {
    for (size_t i = 0; i < tools->size(); ++i) {
      Fields tool = Fields::of((*tools)[i], detail::index(fields.at("tools"), i));
      if (!tool.has("type")) fail(tool.at("type"), "field required");
      tool.one_of("type", {"function"});
      Fields function = Fields::of(tool.require("function"), tool.at("function"));
      ToolDefinition definition;
      definition.name = function.required_string("name");
      if (!is_valid_function_name(definition.name)) {
        fail(function.at("name"), "must be 1-64 characters of a-z, A-Z, 0-9, '_' and '-'");
      }
      definition.description = function.string("description").value_or("");
      if (auto parameters = function.object("parameters")) {
        definition.parameters = *function.find("parameters");
      } else {
        definition.parameters = json::object{{"type", "object"}, {"properties", json::object{}}};
      }
      definition.strict = function.boolean("strict").value_or(false);
      request.tools.push_back(std::move(definition));
    }
  }
  if (auto* choice = fields.find("tool_choice")) {
    auto& tool_choice = request.tool_choice;
    if (choice->is_string()) {
      std::string mode = fields.required_one_of("tool_choice", {"none", "auto", "required"});
      tool_choice.mode = mode == "none"   ? ToolChoice::Mode::none
                         : mode == "auto" ? ToolChoice::Mode::auto_
                                          : ToolChoice::Mode::any;
    } else {
      Fields object = Fields::of(*choice, fields.at("tool_choice"));
      object.one_of("type", {"function"});
      Fields function = Fields::of(object.require("function"), object.at("function"));
      tool_choice.mode = ToolChoice::Mode::tool;
      tool_choice.name = function.required_string("name");
      bool known = std::any_of(request.tools.begin(), request.tools.end(),
                               [&](const ToolDefinition& tool) { return tool.name == tool_choice.name; });
      if (!known) fail(function.at("name"), "no tool named '" + tool_choice.name + "' in tools");
    }
  }
  if (auto parallel = fields.boolean("parallel_tool_calls")) {
    request.tool_choice.disable_parallel_tool_use = !*parallel;
  }
}

void parse_response_format(const Fields& fields, InternalRequest& request) {
  auto format = fields.object("response_format");
  if (!format) return;
  if (!format->has("type")) fail(format->at("type"), "field required");
  std::string type = *format->one_of("type", {"text", "json_object", "json_schema"});
  auto& out = request.response_format;
  if (type == "text") {
    out.type = ResponseFormat::Type::text;
  } else if (type == "json_object") {
    out.type = ResponseFormat::Type::json_object;
  } else {
    out.type = ResponseFormat::Type::json_schema;
    Fields schema = Fields::of(format->require("json_schema"), format->at("json_schema"));
    out.name = schema.required_string("name");
    if (schema.object("schema")) out.schema = *schema.find("schema");
    out.strict = schema.boolean("strict").value_or(false);
  }
}

// logit_bias: {"<token id>": bias}, bias in [-100, 100]. Keys are decimal token ids in strings.
std::vector<std::pair<int64_t, double>> parse_logit_bias(const Fields& fields) {
  std::vector<std::pair<int64_t, double>> out;
  const json::value* bias = fields.find("logit_bias");
  if (bias == nullptr) return out;
  if (!bias->is_object()) fail("logit_bias", "must be an object mapping token ids to biases");
  for (const auto& [key, value] : bias->get_object()) {
    std::string_view text = key;
    int64_t token = 0;
    bool numeric = !text.empty() && text.size() <= 10;
    for (char c : text) {
      if (c < '0' || c > '9') {
        numeric = false;
        break;
      }
      token = token * 10 + (c - '0');
    }
    if (!numeric || token > INT32_MAX) {
      fail("logit_bias", "keys must be token ids (decimal integers as strings), got '" + std::string(text) + "'");
    }
    if (!value.is_number()) fail("logit_bias", "the bias of token " + std::string(text) + " must be a number");
    double number = value.to_number<double>();
    if (number < -100 || number > 100) {
      fail("logit_bias", "the bias of token " + std::string(text) + " must be between -100 and 100, got " +
                             detail::format_number(number));
    }
    out.emplace_back(token, number);
  }
  return out;
}

// The fields chat and legacy completions share.
void parse_common(const Fields& fields, InternalRequest& request) {
  request.model = fields.required_string("model");
  auto& sampling = request.sampling;
  sampling.temperature = fields.number("temperature", 0, 2);
  sampling.top_p = fields.number("top_p", 0, 1);
  sampling.n = fields.integer("n", 1, 128).value_or(1);
  sampling.presence_penalty = fields.number("presence_penalty", -2, 2);
  sampling.frequency_penalty = fields.number("frequency_penalty", -2, 2);
  if (auto* seed = fields.find("seed")) sampling.seed = detail::as_integer(*seed, fields.at("seed"));
  sampling.logit_bias = parse_logit_bias(fields);
  request.stop = parse_stop(fields);
  request.stream = fields.boolean("stream").value_or(false);
  if (auto options = fields.object("stream_options")) {
    request.include_usage = options->boolean("include_usage").value_or(false);
  }
  request.user = fields.string("user").value_or("");
}

std::vector<int64_t> parse_token_ids(const json::array& array, const std::string& path) {
  std::vector<int64_t> tokens;
  tokens.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    std::string item = detail::index(path, i);
    int64_t token = detail::as_integer(array[i], item);
    if (token < 0 || token > INT32_MAX) fail(item, "must be a token id between 0 and 2147483647");
    tokens.push_back(token);
  }
  return tokens;
}

std::vector<Prompt> parse_prompt(const Fields& fields) {
  const json::value& value = fields.require("prompt");
  const std::string path = fields.at("prompt");
  const char* shapes = "must be a string, an array of strings, an array of token ids or an array of arrays of token ids";
  std::vector<Prompt> prompts;
  if (value.is_string()) {
    prompts.push_back(Prompt{std::string(value.get_string()), {}, false});
    return prompts;
  }
  if (!value.is_array()) fail(path, shapes);
  const auto& array = value.get_array();
  if (array.empty()) fail(path, "must not be empty");
  const auto& first = array.front();
  if (first.is_number()) {
    prompts.push_back(Prompt{{}, parse_token_ids(array, path), true});
    return prompts;
  }
  for (size_t i = 0; i < array.size(); ++i) {
    std::string item = detail::index(path, i);
    if (first.is_string() && array[i].is_string()) {
      prompts.push_back(Prompt{std::string(array[i].get_string()), {}, false});
    } else if (first.is_array() && array[i].is_array()) {
      if (array[i].get_array().empty()) fail(item, "must not be empty");
      prompts.push_back(Prompt{{}, parse_token_ids(array[i].get_array(), item), true});
    } else {
      fail(path, shapes);
    }
  }
  return prompts;
}

}  // namespace

Result<InternalRequest> openai_chat_request_from_json(json::value body) {
  return detail::catching_field_errors<InternalRequest>([&]() -> InternalRequest {
    Fields fields = Fields::of(body, "");
    InternalRequest request;
    request.protocol = Protocol::openai;
    request.endpoint = Endpoint::chat_completions;
    parse_common(fields, request);

    const json::array* messages = fields.array("messages");
    if (messages == nullptr) fail("messages", "field required");
    if (messages->empty()) fail("messages", "must contain at least one message");
    bool leading = true;
    for (size_t i = 0; i < messages->size(); ++i) {
      Message message = parse_message((*messages)[i], detail::index("messages", i));
      bool is_system = message.role == Role::system || message.role == Role::developer;
      if (leading && is_system) {
        if (!request.system.empty()) request.system += "\n\n";
        request.system += message.text();
        continue;
      }
      leading = false;
      request.messages.push_back(std::move(message));
    }

    // max_completion_tokens replaced max_tokens; when both come, the newer one wins.
    request.max_tokens = fields.integer_at_least("max_completion_tokens", 1);
    if (auto legacy = fields.integer_at_least("max_tokens", 1); legacy && !request.max_tokens) {
      request.max_tokens = legacy;
    }
    request.sampling.logprobs = fields.boolean("logprobs").value_or(false);
    if (auto top = fields.integer("top_logprobs", 0, 20)) {
      if (!request.sampling.logprobs) fail("top_logprobs", "requires logprobs to be true");
      request.sampling.top_logprobs = *top;
    }
    parse_response_format(fields, request);
    parse_tools(fields, request);
    if (auto effort = fields.one_of("reasoning_effort", {"none", "minimal", "low", "medium", "high", "xhigh"})) {
      apply_openai_reasoning_effort(*effort, request.thinking);
    }
    request.original = std::move(body);  // read through, no longer needed here
    return request;
  });
}

void apply_openai_reasoning_effort(std::string_view effort, ThinkingConfig& thinking) {
  static constexpr std::pair<std::string_view, Effort> efforts[] = {
      {"none", Effort::none}, {"minimal", Effort::minimal}, {"low", Effort::low},
      {"medium", Effort::medium}, {"high", Effort::high}, {"xhigh", Effort::xhigh}};
  for (const auto& [name, value] : efforts) {
    if (name == effort) thinking.effort = value;
  }
  bool off = thinking.effort == Effort::none;
  thinking.mode = off ? ThinkingConfig::Mode::disabled : ThinkingConfig::Mode::adaptive;
  thinking.enabled = !off;
}

Result<InternalRequest> parse_openai_chat_request(std::string_view body, std::string_view content_type) {
  auto parsed = detail::parse_json_body(body, content_type);
  if (!parsed) return parsed.error();
  return openai_chat_request_from_json(std::move(*parsed));
}

Result<InternalRequest> openai_completion_request_from_json(json::value body) {
  return detail::catching_field_errors<InternalRequest>([&]() -> InternalRequest {
    Fields fields = Fields::of(body, "");
    InternalRequest request;
    request.protocol = Protocol::openai;
    request.endpoint = Endpoint::completions;
    parse_common(fields, request);
    request.prompts = parse_prompt(fields);
    request.echo = fields.boolean("echo").value_or(false);
    if (auto suffix = fields.string("suffix"); suffix && !suffix->empty()) {
      fail("suffix", "not supported (insertion completions are not available)");
    }
    if (auto best_of = fields.integer("best_of", 1, 20); best_of && *best_of != request.sampling.n) {
      fail("best_of", "not supported (only best_of equal to n)");
    }
    request.max_tokens = fields.integer_at_least("max_tokens", 0).value_or(16);
    if (*request.max_tokens == 0 && !request.echo) {
      fail("max_tokens", "must be at least 1 (0 is only allowed with echo)");
    }
    if (auto logprobs = fields.integer("logprobs", 0, 5)) {
      request.sampling.logprobs = true;
      request.sampling.top_logprobs = *logprobs;
    }
    request.original = std::move(body);  // read through, no longer needed here
    return request;
  });
}

Result<InternalRequest> parse_openai_completion_request(std::string_view body, std::string_view content_type) {
  auto parsed = detail::parse_json_body(body, content_type);
  if (!parsed) return parsed.error();
  return openai_completion_request_from_json(std::move(*parsed));
}

}  // namespace tandem::schemas
