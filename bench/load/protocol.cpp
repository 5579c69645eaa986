// Request bodies and reply interpretation for the OpenAI and Anthropic wire formats.
#include <boost/json.hpp>

#include "bench/load/internal.h"

namespace tandem::load {
namespace json = boost::json;

namespace {

const json::value* find(const json::value& v, std::string_view key) {
  const auto* obj = v.if_object();
  if (!obj) return nullptr;
  return obj->if_contains(key);
}

const json::value* find_path(const json::value& v, std::initializer_list<std::string_view> keys) {
  const json::value* cur = &v;
  for (auto key : keys) {
    cur = find(*cur, key);
    if (!cur) return nullptr;
  }
  return cur;
}

std::optional<std::int64_t> as_count(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->get_double());
  return std::nullopt;
}

bool non_empty_string(const json::value* v) { return v && v->is_string() && !v->get_string().empty(); }

const json::value* first_choice(const json::value& v) {
  const auto* choices = find(v, "choices");
  if (!choices || !choices->is_array() || choices->get_array().empty()) return nullptr;
  return &choices->get_array().front();
}

std::string error_text(const json::value& error) {
  if (error.is_string()) return std::string(error.get_string());
  std::string out;
  if (const auto* type = find(error, "type"); type && type->is_string()) out = std::string(type->get_string());
  if (const auto* msg = find(error, "message"); msg && msg->is_string()) {
    if (!out.empty()) out += ": ";
    out += std::string(msg->get_string());
  }
  return out.empty() ? json::serialize(error) : out;
}

std::optional<json::value> parse(std::string_view text, ReplyInfo& info) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    info.error_kind = "bad_response";
    info.error_message = "unparseable JSON (" + ec.message() + "): " + std::string(text.substr(0, 120));
    return std::nullopt;
  }
  return v;
}

void read_openai(const json::value& v, const Config& config, bool streamed, ReplyInfo& info) {
  if (const auto* error = find(v, "error")) {
    info.error_kind = "stream_error";
    info.error_message = error_text(*error);
    return;
  }
  if (const auto* choice = first_choice(v)) {
    if (config.endpoint == Endpoint::completions) {
      info.content = non_empty_string(find(*choice, "text"));
    } else {
      info.content = non_empty_string(find_path(*choice, {streamed ? "delta" : "message", "content"}));
    }
  }
  info.output_tokens = as_count(find_path(v, {"usage", "completion_tokens"}));
}

void read_anthropic_event(const json::value& v, ReplyInfo& info) {
  const auto* type_value = find(v, "type");
  const std::string_view type = type_value && type_value->is_string() ? std::string_view(type_value->get_string()) : "";
  if (type == "content_block_delta") {
    const auto* delta = find(v, "delta");
    info.content = delta && non_empty_string(find(*delta, "text"));
  } else if (type == "message_start") {
    info.output_tokens = as_count(find_path(v, {"message", "usage", "output_tokens"}));
  } else if (type == "message_delta") {
    info.output_tokens = as_count(find_path(v, {"usage", "output_tokens"}));
  } else if (type == "message_stop") {
    info.done = true;
  } else if (type == "error") {
    info.error_kind = "stream_error";
    const auto* error = find(v, "error");
    info.error_message = error ? error_text(*error) : "error event";
  }
}

void read_anthropic_message(const json::value& v, ReplyInfo& info) {
  if (const auto* type = find(v, "type"); type && type->is_string() && type->get_string() == "error") {
    info.error_kind = "stream_error";
    const auto* error = find(v, "error");
    info.error_message = error ? error_text(*error) : "error reply";
    return;
  }
  if (const auto* content = find(v, "content"); content && content->is_array()) {
    for (const auto& block : content->get_array()) info.content = info.content || non_empty_string(find(block, "text"));
  }
  info.output_tokens = as_count(find_path(v, {"usage", "output_tokens"}));
  info.done = true;
}

}  // namespace

std::string to_string(Protocol protocol) { return protocol == Protocol::openai ? "openai" : "anthropic"; }

std::string request_path(const Config& config) {
  if (config.protocol == Protocol::anthropic) return "/v1/messages";
  return config.endpoint == Endpoint::chat ? "/v1/chat/completions" : "/v1/completions";
}

std::string request_body(const Config& config, const std::string& model, const std::string& prompt) {
  json::object body;
  body["model"] = model;
  body["max_tokens"] = config.max_tokens;
  if (config.protocol == Protocol::openai && config.endpoint == Endpoint::completions) {
    body["prompt"] = prompt;
  } else {
    body["messages"] = json::array{json::object{{"role", "user"}, {"content", prompt}}};
  }
  if (config.temperature) body["temperature"] = *config.temperature;
  if (config.stream) {
    body["stream"] = true;
    // Without this an OpenAI server sends no usage in a stream and tokens can only be
    // estimated from the number of deltas.
    if (config.protocol == Protocol::openai) body["stream_options"] = json::object{{"include_usage", true}};
  }
  return json::serialize(body);
}

ReplyInfo interpret_event(const Config& config, const SseEvent& event) {
  ReplyInfo info;
  if (config.protocol == Protocol::openai && event.data == "[DONE]") {
    info.done = true;
    return info;
  }
  auto v = parse(event.data, info);
  if (!v) return info;
  if (config.protocol == Protocol::openai) {
    read_openai(*v, config, /*streamed=*/true, info);
  } else {
    read_anthropic_event(*v, info);
  }
  return info;
}

ReplyInfo interpret_body(const Config& config, std::string_view body) {
  ReplyInfo info;
  auto v = parse(body, info);
  if (!v) return info;
  if (config.protocol == Protocol::openai) {
    read_openai(*v, config, /*streamed=*/false, info);
    info.done = info.error_kind.empty();
  } else {
    read_anthropic_message(*v, info);
  }
  return info;
}

std::string describe_error_body(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec) {
    if (const auto* error = find(v, "error")) return error_text(*error);
  }
  std::string raw(body.substr(0, 200));
  return raw.empty() ? "(empty body)" : raw;
}

std::optional<std::string> first_model_id(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return std::nullopt;
  const auto* data = find(v, "data");
  if (!data || !data->is_array() || data->get_array().empty()) return std::nullopt;
  const auto* id = find(data->get_array().front(), "id");
  if (!id || !id->is_string()) return std::nullopt;
  return std::string(id->get_string());
}

}  // namespace tandem::load
