// InternalRequest / TextResult → OpenAI JSON: responses for our clients, requests for providers.
#include "schemas/detail/json_read.h"
#include "schemas/detail/text.h"
#include "schemas/openai.h"

#include <boost/json.hpp>

#include <cmath>

namespace tandem::schemas {

namespace json = boost::json;

std::string_view openai_finish_reason(FinishReason reason) {
  switch (reason) {
    case FinishReason::length: return "length";
    case FinishReason::tool_calls: return "tool_calls";
    case FinishReason::content_filter: return "content_filter";
    case FinishReason::stop:
    case FinishReason::stop_sequence:
    case FinishReason::error: return "stop";
  }
  return "stop";
}

FinishReason finish_reason_from_openai(std::string_view reason) {
  if (reason == "length") return FinishReason::length;
  if (reason == "tool_calls" || reason == "function_call") return FinishReason::tool_calls;
  if (reason == "content_filter") return FinishReason::content_filter;
  return FinishReason::stop;
}

json::object openai_usage_json(const Usage& usage) {
  int64_t prompt = usage.prompt_tokens();
  json::object out{{"prompt_tokens", prompt},
                   {"completion_tokens", usage.output_tokens},
                   {"total_tokens", prompt + usage.output_tokens}};
  // Always present, as OpenAI sends it: 0 until a prefix cache serves tokens.
  out["prompt_tokens_details"] = json::object{{"cached_tokens", usage.cache_read_tokens.value_or(0)}};
  // Only when counted (a local model, or an OpenAI upstream that said): never estimated.
  if (usage.reasoning_tokens) out["completion_tokens_details"] = json::object{{"reasoning_tokens", *usage.reasoning_tokens}};
  return out;
}

static json::value logprob_value(double logprob) {
  // The first echoed prompt token has no probability: OpenAI sends null there.
  return std::isfinite(logprob) ? json::value(logprob) : json::value(nullptr);
}

static json::array token_bytes(std::string_view token) {
  json::array bytes;
  for (unsigned char c : token) bytes.push_back(int64_t(c));
  return bytes;
}

json::object openai_chat_logprobs_json(const std::vector<TokenLogprob>& logprobs) {
  json::array content;
  for (const auto& entry : logprobs) {
    json::array top;
    for (const auto& alternative : entry.top) {
      top.push_back(json::object{{"token", detail::valid_utf8(alternative.token)},
                                 {"logprob", logprob_value(alternative.logprob)},
                                 {"bytes", token_bytes(alternative.token)}});
    }
    content.push_back(json::object{{"token", detail::valid_utf8(entry.token)},
                                   {"logprob", logprob_value(entry.logprob)},
                                   {"bytes", token_bytes(entry.token)},
                                   {"top_logprobs", std::move(top)}});
  }
  return json::object{{"content", std::move(content)}, {"refusal", nullptr}};
}

json::object openai_completion_logprobs_json(const std::vector<TokenLogprob>& logprobs, int64_t first_text_offset) {
  json::array tokens, token_logprobs, top_logprobs, text_offset;
  int64_t offset = first_text_offset;
  for (const auto& entry : logprobs) {
    tokens.push_back(json::value(detail::valid_utf8(entry.token)));
    token_logprobs.push_back(logprob_value(entry.logprob));
    if (entry.top.empty()) {
      top_logprobs.push_back(nullptr);
    } else {
      json::object top;
      for (const auto& alternative : entry.top) top[detail::valid_utf8(alternative.token)] = logprob_value(alternative.logprob);
      top_logprobs.push_back(std::move(top));
    }
    text_offset.push_back(offset);
    offset += int64_t(entry.token.size());
  }
  return json::object{{"tokens", std::move(tokens)},
                      {"token_logprobs", std::move(token_logprobs)},
                      {"top_logprobs", std::move(top_logprobs)},
                      {"text_offset", std::move(text_offset)}};
}

static json::object tool_call_json(const ToolCallPart& call) {
  return json::object{{"id", call.id},
                      {"type", "function"},
                      {"function", json::object{{"name", call.name}, {"arguments", call.arguments}}}};
}

static json::object assistant_message_json(const TextResult& result) {
  std::string text, thinking;
  json::array tool_calls;
  for (const auto& part : result.content) {
    if (auto* t = std::get_if<TextPart>(&part)) text += t->text;
    if (auto* t = std::get_if<ThinkingPart>(&part)) thinking += t->thinking;
    if (auto* call = std::get_if<ToolCallPart>(&part)) tool_calls.push_back(tool_call_json(*call));
  }
  json::object message{{"role", "assistant"},
                       {"content", text.empty() && !tool_calls.empty() ? json::value() : json::value(text)},
                       {"refusal", nullptr}};
  if (!tool_calls.empty()) message["tool_calls"] = std::move(tool_calls);
  // Not in OpenAI's API; the field DeepSeek and vLLM use for a reasoning model's thoughts.
  if (!thinking.empty()) message["reasoning_content"] = thinking;
  return message;
}

static Usage summed_usage(const std::vector<TextResult>& choices) {
  Usage usage = choices.empty() ? Usage{} : choices.front().usage;
  for (size_t i = 1; i < choices.size(); ++i) {
    usage.output_tokens += choices[i].usage.output_tokens;
    if (choices[i].usage.reasoning_tokens) usage.reasoning_tokens = usage.reasoning_tokens.value_or(0) + *choices[i].usage.reasoning_tokens;
  }
  return usage;
}

json::object openai_chat_response(const std::vector<TextResult>& choices) {
  json::array rendered;
  for (size_t i = 0; i < choices.size(); ++i) {
    const auto& choice = choices[i];
    rendered.push_back(json::object{
        {"index", int64_t(i)},
        {"message", assistant_message_json(choice)},
        {"logprobs", choice.logprobs ? json::value(openai_chat_logprobs_json(*choice.logprobs)) : json::value()},
        {"finish_reason", openai_finish_reason(choice.finish_reason)}});
  }
  const TextResult empty;
  const TextResult& first = choices.empty() ? empty : choices.front();
  return json::object{{"id", first.id},
                      {"object", "chat.completion"},
                      {"created", first.created},
                      {"model", first.model},
                      {"choices", std::move(rendered)},
                      {"usage", openai_usage_json(summed_usage(choices))}};
}

json::object openai_chat_response(const TextResult& result) {
  return openai_chat_response(std::vector<TextResult>{result});
}

json::object openai_completion_response(const std::vector<TextResult>& choices) {
  json::array rendered;
  for (size_t i = 0; i < choices.size(); ++i) {
    const auto& choice = choices[i];
    rendered.push_back(json::object{
        {"text", choice.text()},
        {"index", int64_t(i)},
        {"logprobs",
         choice.logprobs ? json::value(openai_completion_logprobs_json(*choice.logprobs)) : json::value()},
        {"finish_reason", openai_finish_reason(choice.finish_reason)}});
  }
  const TextResult empty;
  const TextResult& first = choices.empty() ? empty : choices.front();
  return json::object{{"id", first.id},
                      {"object", "text_completion"},
                      {"created", first.created},
                      {"model", first.model},
                      {"choices", std::move(rendered)},
                      {"usage", openai_usage_json(summed_usage(choices))}};
}

json::object openai_completion_response(const TextResult& result) {
  return openai_completion_response(std::vector<TextResult>{result});
}

// ---------------------------------------------------------------- provider requests

static json::object image_part_json(const ImagePart& image) {
  std::string url = image.source == ImagePart::Source::base64
                        ? "data:" + image.media_type + ";base64," + image.data
                        : image.data;
  json::object image_url{{"url", std::move(url)}};
  if (!image.detail.empty()) image_url["detail"] = image.detail;
  return json::object{{"type", "image_url"}, {"image_url", std::move(image_url)}};
}

// OpenAI's `file` content part: inline data as a data URL, or a file id (a URL has no form).
static json::object file_part_json(const DocumentPart& document) {
  json::object file;
  if (document.source == DocumentPart::Source::file) {
    file["file_id"] = document.data;
  } else {
    file["file_data"] = document.source == DocumentPart::Source::base64
                            ? "data:" + document.media_type + ";base64," + document.data
                            : document.data;
    file["filename"] = document.title.empty() ? std::string("document.pdf") : document.title;
  }
  return json::object{{"type", "file"}, {"file", std::move(file)}};
}

// A single text part goes as a plain string, the form every OpenAI-compatible server accepts.
static json::value content_json(const std::vector<const ContentPart*>& parts) {
  if (parts.size() == 1 && std::holds_alternative<TextPart>(*parts[0])) {
    return json::value(std::get<TextPart>(*parts[0]).text);
  }
  json::array array;
  for (const auto* part : parts) {
    if (auto* text = std::get_if<TextPart>(part)) array.push_back(json::object{{"type", "text"}, {"text", text->text}});
    if (auto* image = std::get_if<ImagePart>(part)) array.push_back(image_part_json(*image));
    if (auto* document = std::get_if<DocumentPart>(part)) array.push_back(file_part_json(*document));
  }
  return array;
}

static void append_message(const Message& message, json::array& out) {
  auto with_name = [&](json::object object) {
    if (!message.name.empty()) object["name"] = message.name;
    return object;
  };
  std::vector<const ContentPart*> visible;  // text and images
  std::string text;
  json::array tool_calls;
  for (const auto& part : message.content) {
    if (auto* result = std::get_if<ToolResultPart>(&part)) {
      // Tool results come first in an Anthropic user turn; each is its own OpenAI message.
      out.push_back(json::object{{"role", "tool"}, {"tool_call_id", result->tool_call_id}, {"content", result->text}});
    } else if (auto* call = std::get_if<ToolCallPart>(&part)) {
      tool_calls.push_back(tool_call_json(*call));
    } else if (std::holds_alternative<TextPart>(part) || std::holds_alternative<ImagePart>(part) ||
               std::holds_alternative<DocumentPart>(part)) {
      visible.push_back(&part);
      if (auto* t = std::get_if<TextPart>(&part)) text += t->text;
    }
  }
  switch (message.role) {
    case Role::system:
    case Role::developer:
      out.push_back(with_name(json::object{{"role", role_name(message.role)}, {"content", text}}));
      break;
    case Role::user:
    case Role::tool:
      if (!visible.empty()) out.push_back(with_name(json::object{{"role", "user"}, {"content", content_json(visible)}}));
      break;
    case Role::assistant: {
      if (visible.empty() && tool_calls.empty()) break;  // e.g. only thinking, which OpenAI cannot carry
      json::object object{{"role", "assistant"},
                          {"content", text.empty() && !tool_calls.empty() ? json::value() : json::value(text)}};
      if (!tool_calls.empty()) object["tool_calls"] = std::move(tool_calls);
      out.push_back(with_name(std::move(object)));
      break;
    }
  }
}

// Anthropic thinking → OpenAI reasoning_effort: an effort maps by name (`max` is OpenAI's
// `xhigh`); a fixed budget maps by size; disabled is `none`.
std::string openai_reasoning_effort(const ThinkingConfig& thinking) {
  if (thinking.mode == ThinkingConfig::Mode::disabled) return "none";
  if (thinking.effort == Effort::max) return "xhigh";
  if (thinking.effort != Effort::unset) return std::string(effort_name(thinking.effort));
  if (thinking.mode == ThinkingConfig::Mode::enabled) {
    if (thinking.budget_tokens < 4096) return "low";
    return thinking.budget_tokens < 16384 ? "medium" : "high";
  }
  if (thinking.mode == ThinkingConfig::Mode::adaptive) return "medium";
  return "";
}

json::object to_openai_chat_request(const InternalRequest& request, const OpenAiRequestOptions& options) {
  json::array messages;
  // A conversation of one empty system message is still a conversation: written without it, the
  // request would have no messages at all (found by fuzz_schemas_requests).
  if (!request.system.empty() || request.messages.empty())
    messages.push_back(json::object{{"role", "system"}, {"content", request.system}});
  for (const auto& message : request.messages) append_message(message, messages);

  json::object out{{"model", request.model}, {"messages", std::move(messages)}};
  if (request.max_tokens) out[options.use_max_completion_tokens ? "max_completion_tokens" : "max_tokens"] = *request.max_tokens;
  const auto& sampling = request.sampling;
  if (sampling.temperature) out["temperature"] = *sampling.temperature;
  if (sampling.top_p) out["top_p"] = *sampling.top_p;
  if (sampling.n != 1) out["n"] = sampling.n;
  if (sampling.presence_penalty) out["presence_penalty"] = *sampling.presence_penalty;
  if (sampling.frequency_penalty) out["frequency_penalty"] = *sampling.frequency_penalty;
  if (sampling.seed) out["seed"] = *sampling.seed;
  if (!sampling.logit_bias.empty()) {
    json::object bias;
    for (const auto& [token, value] : sampling.logit_bias) bias[std::to_string(token)] = value;
    out["logit_bias"] = std::move(bias);
  }
  if (auto effort = openai_reasoning_effort(request.thinking); !effort.empty()) out["reasoning_effort"] = effort;
  if (sampling.logprobs && request.endpoint == Endpoint::chat_completions) {
    out["logprobs"] = true;
    if (sampling.top_logprobs > 0) out["top_logprobs"] = sampling.top_logprobs;
  }
  if (!request.stop.empty()) {
    json::array stop;
    // OpenAI takes at most 4 stop sequences; Anthropic allows more.
    for (size_t i = 0; i < request.stop.size() && i < 4; ++i) stop.push_back(json::value(request.stop[i]));
    out["stop"] = std::move(stop);
  }
  if (request.stream) {
    out["stream"] = true;
    if (request.include_usage || options.request_stream_usage) {
      out["stream_options"] = json::object{{"include_usage", true}};
    }
  }
  if (!request.tools.empty()) {
    json::array tools;
    for (const auto& tool : request.tools) {
      json::object function{{"name", tool.name}};
      if (!tool.description.empty()) function["description"] = tool.description;
      function["parameters"] = tool.parameters.is_null() ? json::value(json::object{{"type", "object"}}) : tool.parameters;
      if (tool.strict) function["strict"] = true;
      tools.push_back(json::object{{"type", "function"}, {"function", std::move(function)}});
    }
    out["tools"] = std::move(tools);
  }
  switch (request.tool_choice.mode) {
    case ToolChoice::Mode::unset: break;
    case ToolChoice::Mode::auto_: out["tool_choice"] = "auto"; break;
    case ToolChoice::Mode::any: out["tool_choice"] = "required"; break;
    case ToolChoice::Mode::none: out["tool_choice"] = "none"; break;
    case ToolChoice::Mode::tool:
      out["tool_choice"] = json::object{{"type", "function"}, {"function", json::object{{"name", request.tool_choice.name}}}};
      break;
  }
  if (request.tool_choice.disable_parallel_tool_use && !request.tools.empty()) out["parallel_tool_calls"] = false;
  const auto& format = request.response_format;
  if (format.type == ResponseFormat::Type::json_object) {
    out["response_format"] = json::object{{"type", "json_object"}};
  } else if (format.type == ResponseFormat::Type::json_schema) {
    // OpenAI requires a name; Anthropic's output_config.format has none.
    json::object schema{{"name", format.name.empty() ? std::string("output") : format.name}};
    if (!format.schema.is_null()) schema["schema"] = format.schema;
    if (format.strict) schema["strict"] = true;
    out["response_format"] = json::object{{"type", "json_schema"}, {"json_schema", std::move(schema)}};
  }
  if (!request.user.empty()) out["user"] = request.user;
  return out;
}

}  // namespace tandem::schemas
