#include "schemas/internal.h"

#include <chrono>
#include <random>

namespace tandem::schemas {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::system: return "system";
    case Role::developer: return "developer";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool: return "tool";
  }
  return "user";
}

std::string_view effort_name(Effort effort) {
  switch (effort) {
    case Effort::unset: return "";
    case Effort::none: return "none";
    case Effort::minimal: return "minimal";
    case Effort::low: return "low";
    case Effort::medium: return "medium";
    case Effort::high: return "high";
    case Effort::xhigh: return "xhigh";
    case Effort::max: return "max";
  }
  return "";
}

static std::string concatenated_text(const std::vector<ContentPart>& parts) {
  std::string out;
  for (const auto& part : parts) {
    if (auto* text = std::get_if<TextPart>(&part)) out += text->text;
  }
  return out;
}

std::string Message::text() const { return concatenated_text(content); }
std::string TextResult::text() const { return concatenated_text(content); }

int64_t Usage::prompt_tokens() const {
  return input_tokens + cache_read_tokens.value_or(0) + cache_creation_tokens.value_or(0);
}

void ResultBuilder::add(const StreamEvent& event) {
  if (finished_) return;
  auto& content = result_.content;
  if (auto* start = std::get_if<MessageStart>(&event)) {
    result_.id = start->id;
    result_.model = start->model;
    result_.created = start->created;
    result_.usage = start->usage;
  } else if (auto* text = std::get_if<TextDelta>(&event)) {
    if (content.empty() || !std::holds_alternative<TextPart>(content.back())) content.emplace_back(TextPart{});
    std::get<TextPart>(content.back()).text += text->text;
    if (!text->logprobs.empty()) {
      if (!result_.logprobs) result_.logprobs.emplace();
      result_.logprobs->insert(result_.logprobs->end(), text->logprobs.begin(), text->logprobs.end());
    }
  } else if (auto* thinking = std::get_if<ThinkingDelta>(&event)) {
    if (content.empty() || !std::holds_alternative<ThinkingPart>(content.back())) {
      content.emplace_back(ThinkingPart{});
    }
    auto& part = std::get<ThinkingPart>(content.back());
    part.thinking += thinking->thinking;
    part.signature += thinking->signature;
  } else if (auto* call = std::get_if<ToolCallStart>(&event)) {
    if (call->index < 0) return;
    if (tool_call_positions_.size() <= size_t(call->index)) tool_call_positions_.resize(call->index + 1, SIZE_MAX);
    tool_call_positions_[call->index] = content.size();
    content.emplace_back(ToolCallPart{call->id, call->name, ""});
  } else if (auto* delta = std::get_if<ToolCallDelta>(&event)) {
    if (delta->index < 0 || size_t(delta->index) >= tool_call_positions_.size()) return;
    size_t position = tool_call_positions_[delta->index];
    if (position < content.size()) std::get<ToolCallPart>(content[position]).arguments += delta->arguments;
  } else if (auto* finish = std::get_if<Finish>(&event)) {
    result_.finish_reason = finish->reason;
    result_.stop_sequence = finish->stop_sequence;
    // Anthropic reports input tokens at the start and output tokens at the end.
    if (finish->usage.input_tokens > 0) result_.usage.input_tokens = finish->usage.input_tokens;
    result_.usage.output_tokens = finish->usage.output_tokens;
    if (finish->usage.reasoning_tokens) result_.usage.reasoning_tokens = finish->usage.reasoning_tokens;
    if (finish->usage.cache_read_tokens) result_.usage.cache_read_tokens = finish->usage.cache_read_tokens;
    if (finish->usage.cache_creation_tokens) {
      result_.usage.cache_creation_tokens = finish->usage.cache_creation_tokens;
    }
    for (auto& part : content) {
      if (auto* tool = std::get_if<ToolCallPart>(&part); tool && tool->arguments.empty()) tool->arguments = "{}";
    }
    finished_ = true;
  } else if (auto* error = std::get_if<StreamError>(&event)) {
    error_ = error->error;
    result_.finish_reason = FinishReason::error;
    finished_ = true;
  }
}

namespace {
std::mt19937_64& id_engine() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}
}  // namespace

std::string generate_id(std::string_view prefix) {
  static constexpr std::string_view alphabet =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string id(prefix);
  auto& engine = id_engine();
  for (int i = 0; i < 24; ++i) id += alphabet[engine() % alphabet.size()];
  return id;
}

void seed_id_generator(uint64_t seed) { id_engine().seed(seed); }

std::string convert_message_id(std::string_view id, Protocol target) {
  static constexpr std::string_view prefixes[] = {"chatcmpl-", "cmpl-", "msg_"};
  std::string_view suffix = id;
  for (auto prefix : prefixes) {
    if (id.starts_with(prefix)) {
      suffix = id.substr(prefix.size());
      break;
    }
  }
  if (suffix.empty()) return generate_id(target == Protocol::openai ? "chatcmpl-" : "msg_");
  return std::string(target == Protocol::openai ? "chatcmpl-" : "msg_") + std::string(suffix);
}

int64_t unix_time_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tandem::schemas
