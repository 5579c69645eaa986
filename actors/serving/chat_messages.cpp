// The chat template's view of a request (see chat_messages.h).
#include "actors/serving/chat_messages.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

namespace tandem::local {

namespace json = boost::json;

namespace {

// The role names chat templates know: OpenAI's `developer` is a system message to them.
std::string template_role(schemas::Role role) {
  if (role == schemas::Role::developer) return "system";
  return std::string(schemas::role_name(role));
}

json::value tool_arguments(const std::string& arguments) {
  boost::system::error_code ec;
  auto parsed = json::parse(arguments, ec);
  if (!ec && parsed.is_object()) return parsed;
  return json::value(arguments);
}

}  // namespace

// Mistral's template refuses tool-call ids that are not 9 alphanumerics, which ours (call_...,
// toolu_...) are not: such ids are mapped to 9 characters derived from them, the same on the
// call and on its result.
std::string template_call_id(const std::string& id, bool nine_alphanumerics) {
  auto alphanumeric = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!nine_alphanumerics || (id.size() == 9 && std::all_of(id.begin(), id.end(), alphanumeric))) return id;
  uint64_t hash = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : id) hash = (hash ^ c) * 1099511628211ull;
  static constexpr std::string_view digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string out;
  for (int i = 0; i < 9; ++i, hash /= digits.size()) out += digits[hash % digits.size()];
  return out;
}

// Messages as Hugging Face chat templates take them: {role, content[, tool_calls]} with text
// content; Anthropic tool_result blocks become `tool` messages.
schemas::Result<json::array> template_messages(const schemas::InternalRequest& request,
                                               bool nine_char_ids) {
  json::array messages;
  if (!request.system.empty()) {
    json::object system;
    system["role"] = "system";
    system["content"] = request.system;
    messages.push_back(std::move(system));
  }
  for (size_t i = 0; i < request.messages.size(); ++i) {
    const auto& message = request.messages[i];
    std::string text;
    json::array tool_calls;
    std::vector<json::object> tool_results;
    for (const auto& part : message.content) {
      if (const auto* t = std::get_if<schemas::TextPart>(&part)) {
        text += t->text;
      } else if (std::holds_alternative<schemas::ImagePart>(part)) {
        return schemas::invalid_field("messages[" + std::to_string(i) + "].content",
                                      "images are not supported by local text models");
      } else if (const auto* call = std::get_if<schemas::ToolCallPart>(&part)) {
        json::object function;
        function["name"] = call->name;
        function["arguments"] = tool_arguments(call->arguments);
        json::object entry;
        entry["id"] = template_call_id(call->id, nine_char_ids);
        entry["type"] = "function";
        entry["function"] = std::move(function);
        tool_calls.push_back(std::move(entry));
      } else if (const auto* result = std::get_if<schemas::ToolResultPart>(&part)) {
        json::object tool;
        tool["role"] = "tool";
        tool["tool_call_id"] = template_call_id(result->tool_call_id, nine_char_ids);
        tool["content"] = result->text;
        tool_results.push_back(std::move(tool));
      }
      // Thinking blocks sent back by Anthropic clients are not part of the prompt.
    }
    for (auto& tool : tool_results) messages.push_back(std::move(tool));
    if (!tool_results.empty() && text.empty()) continue;
    json::object entry;
    entry["role"] = tool_results.empty() ? template_role(message.role) : "user";
    entry["content"] = text;
    if (!message.name.empty()) entry["name"] = message.name;
    if (!tool_calls.empty()) entry["tool_calls"] = std::move(tool_calls);
    messages.push_back(std::move(entry));
  }
  return messages;
}

namespace {

bool has_role(const json::value& message, std::string_view role) {
  const auto* object = message.if_object();
  if (object == nullptr) return false;
  const auto* value = object->if_contains("role");
  return value != nullptr && value->is_string() && value->get_string() == role;
}

std::string content_text(const json::value& message) {
  const auto* content = message.as_object().if_contains("content");
  return content != nullptr && content->is_string() ? std::string(content->get_string()) : std::string();
}

}  // namespace

bool fold_later_system_turns(json::array& messages) {
  // System turns that open the conversation become one leading system message.
  bool changed = false;
  while (messages.size() > 1 && has_role(messages[0], "system") && has_role(messages[1], "system")) {
    const std::string joined = content_text(messages[0]) + "\n\n" + content_text(messages[1]);
    messages[0].as_object()["content"] = joined;
    messages.erase(messages.begin() + 1);
    changed = true;
  }
  const size_t leading = !messages.empty() && has_role(messages[0], "system") ? 1 : 0;
  for (size_t i = leading; i < messages.size();) {
    if (!has_role(messages[i], "system")) {
      ++i;
      continue;
    }
    changed = true;
    const std::string marked = "[System]\n" + content_text(messages[i]);
    messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(i));
    // The next user turn, if it comes before the next assistant turn.
    size_t next = i;
    while (next < messages.size() && !has_role(messages[next], "user") && !has_role(messages[next], "assistant")) ++next;
    if (next < messages.size() && has_role(messages[next], "user")) {
      auto& object = messages[next].as_object();
      const std::string text = content_text(messages[next]);
      object["content"] = text.empty() ? marked : marked + "\n\n" + text;
      continue;
    }
    if (i > 0 && has_role(messages[i - 1], "user")) {
      auto& object = messages[i - 1].as_object();
      const std::string text = content_text(messages[i - 1]);
      object["content"] = text.empty() ? marked : text + "\n\n" + marked;
      continue;
    }
    json::object user;
    user["role"] = "user";
    user["content"] = marked;
    messages.insert(messages.begin() + static_cast<std::ptrdiff_t>(i), std::move(user));
    ++i;
  }
  return changed;
}

json::value template_tools(const schemas::InternalRequest& request) {
  if (request.tools.empty()) return nullptr;
  json::array tools;
  for (const auto& tool : request.tools) {
    json::object function;
    function["name"] = tool.name;
    if (!tool.description.empty()) function["description"] = tool.description;
    function["parameters"] = tool.parameters.is_null() ? json::value(json::object()) : tool.parameters;
    json::object entry;
    entry["type"] = "function";
    entry["function"] = std::move(function);
    tools.push_back(std::move(entry));
  }
  return tools;
}

}  // namespace tandem::local
