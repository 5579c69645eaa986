// Responses API answers read back (see responses.h): what a passed-through upstream response
// leaves in tandem's store, so GET /v1/responses/{id} and previous_response_id work for it too.
#include "schemas/responses.h"

#include <boost/json.hpp>

namespace tandem::schemas {

namespace json = boost::json;

namespace {

std::string string_at(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->get_string()) : std::string();
}

int64_t integer_at(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_int64() ? value->get_int64() : 0;
}

// The texts of a content / summary array's entries of `type`.
std::string texts_of(const json::object& item, std::string_view array, std::string_view type) {
  std::string out;
  const auto* parts = item.if_contains(array);
  if (parts == nullptr || !parts->is_array()) return out;
  for (const auto& part : parts->get_array()) {
    if (part.is_object() && string_at(part.get_object(), "type") == type) out += string_at(part.get_object(), "text");
  }
  return out;
}

}  // namespace

Result<TextResult> responses_result_from_json(const json::object& response) {
  if (string_at(response, "object") != "response" || string_at(response, "id").empty()) {
    return make_error(ErrorKind::upstream_error, "not a Responses API response object");
  }
  TextResult result;
  result.id = string_at(response, "id");
  result.model = string_at(response, "model");
  result.created = integer_at(response, "created_at");
  const std::string status = string_at(response, "status");
  result.finish_reason = status == "incomplete" ? FinishReason::length
                         : status == "failed"   ? FinishReason::error
                                                : FinishReason::stop;
  if (const auto* output = response.if_contains("output"); output != nullptr && output->is_array()) {
    for (const auto& entry : output->get_array()) {
      if (!entry.is_object()) continue;
      const auto& item = entry.get_object();
      const std::string type = string_at(item, "type");
      if (type == "message") {
        result.content.push_back(TextPart{texts_of(item, "content", "output_text")});
      } else if (type == "function_call") {
        result.content.push_back(ToolCallPart{string_at(item, "call_id"), string_at(item, "name"),
                                              string_at(item, "arguments")});
        if (result.finish_reason == FinishReason::stop) result.finish_reason = FinishReason::tool_calls;
      } else if (type == "reasoning") {
        std::string text = texts_of(item, "content", "reasoning_text");
        if (text.empty()) text = texts_of(item, "summary", "summary_text");
        result.content.push_back(ThinkingPart{std::move(text), string_at(item, "encrypted_content"), false, ""});
      }
    }
  }
  if (const auto* usage = response.if_contains("usage"); usage != nullptr && usage->is_object()) {
    result.usage.input_tokens = integer_at(usage->get_object(), "input_tokens");
    result.usage.output_tokens = integer_at(usage->get_object(), "output_tokens");
    const auto* details = usage->get_object().if_contains("output_tokens_details");
    if (details != nullptr && details->is_object() && details->get_object().contains("reasoning_tokens")) {
      result.usage.reasoning_tokens = integer_at(details->get_object(), "reasoning_tokens");
    }
  }
  return result;
}

std::optional<json::object> responses_final_response(std::string_view sse_frames) {
  std::optional<json::object> found;
  size_t at = 0;
  while (at < sse_frames.size()) {
    size_t end = sse_frames.find('\n', at);
    if (end == std::string_view::npos) end = sse_frames.size();
    std::string_view line = sse_frames.substr(at, end - at);
    at = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with("data:")) continue;
    line.remove_prefix(5);
    if (line.find("\"response.completed\"") == std::string_view::npos &&
        line.find("\"response.incomplete\"") == std::string_view::npos) {
      continue;
    }
    boost::system::error_code ec;
    auto event = json::parse(line, ec);
    if (ec || !event.is_object()) continue;
    const auto& object = event.get_object();
    const std::string type = string_at(object, "type");
    if (type != "response.completed" && type != "response.incomplete") continue;
    if (const auto* response = object.if_contains("response"); response != nullptr && response->is_object()) {
      found = response->get_object();
    }
  }
  return found;
}

}  // namespace tandem::schemas
