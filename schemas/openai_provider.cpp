// An OpenAI-compatible provider's answers → TextResult / StreamEvents.
#include "schemas/detail/json_read.h"
#include "schemas/openai.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>

namespace tandem::schemas {

namespace json = boost::json;
using detail::Fields;

namespace {

// A provider that breaks its own protocol is our upstream's fault: a 500-class error for the
// client, naming what was wrong.
ApiError bad_provider_response(std::string_view what) {
  return make_error(ErrorKind::api_error, "invalid response from provider: " + std::string(what));
}

ErrorKind kind_from_openai_error(std::string_view type, std::string_view code) {
  if (code == "model_not_found") return ErrorKind::model_not_found;
  if (code == "invalid_api_key") return ErrorKind::authentication;
  if (code == "rate_limit_exceeded" || type == "rate_limit_error" || type == "requests" || type == "tokens" ||
      type == "insufficient_quota") {
    return ErrorKind::rate_limit;
  }
  if (type == "invalid_request_error") return ErrorKind::invalid_request;
  if (type == "authentication_error") return ErrorKind::authentication;
  return ErrorKind::api_error;
}

std::optional<ApiError> error_in(const json::object& body) {
  auto* error = body.if_contains("error");
  if (error == nullptr || error->is_null()) return std::nullopt;
  ApiError out = make_error(ErrorKind::api_error, "provider error");
  if (auto* object = error->if_object()) {
    auto text = [&](std::string_view key) -> std::string {
      auto* value = object->if_contains(key);
      return value && value->is_string() ? std::string(value->get_string()) : std::string();
    };
    out.kind = kind_from_openai_error(text("type"), text("code"));
    out.message = text("message").empty() ? "provider error" : text("message");
    out.param = text("param");
  } else if (error->is_string()) {
    out.message = std::string(error->get_string());
  }
  return out;
}

Usage usage_from_json(const Fields& usage) {
  Usage out;
  int64_t prompt = usage.integer_at_least("prompt_tokens", 0).value_or(0);
  out.output_tokens = usage.integer_at_least("completion_tokens", 0).value_or(0);
  if (auto details = usage.object("prompt_tokens_details")) {
    if (auto cached = details->integer_at_least("cached_tokens", 0)) out.cache_read_tokens = *cached;
  }
  if (auto details = usage.object("completion_tokens_details")) {
    out.reasoning_tokens = details->integer_at_least("reasoning_tokens", 0);
  }
  // OpenAI's prompt_tokens include cached ones; ours count them separately.
  out.input_tokens = std::max<int64_t>(0, prompt - out.cache_read_tokens.value_or(0));
  return out;
}

std::vector<TokenLogprob> logprobs_from_json(const Fields& logprobs) {
  std::vector<TokenLogprob> out;
  const json::array* content = logprobs.array("content");
  if (content == nullptr) return out;
  for (size_t i = 0; i < content->size(); ++i) {
    Fields entry = Fields::of((*content)[i], detail::index(logprobs.at("content"), i));
    TokenLogprob token;
    token.token = entry.string("token").value_or("");
    token.logprob = entry.number("logprob").value_or(NAN);
    if (auto* top = entry.array("top_logprobs")) {
      for (size_t k = 0; k < top->size(); ++k) {
        Fields alternative = Fields::of((*top)[k], detail::index(entry.at("top_logprobs"), k));
        token.top.push_back(
            TopLogprob{alternative.string("token").value_or(""), alternative.number("logprob").value_or(NAN)});
      }
    }
    out.push_back(std::move(token));
  }
  return out;
}

std::string arguments_text(const json::value* arguments) {
  if (arguments == nullptr) return "";
  if (arguments->is_string()) return std::string(arguments->get_string());
  return json::serialize(*arguments);
}

}  // namespace

Result<TextResult> openai_chat_response_from_json(const json::value& body) {
  if (!body.is_object()) return bad_provider_response("expected a JSON object");
  if (auto error = error_in(body.get_object())) return *error;
  try {
    Fields fields(body.get_object(), "");
    TextResult result;
    result.id = fields.string("id").value_or("");
    result.model = fields.string("model").value_or("");
    result.created = fields.integer_at_least("created", 0).value_or(0);
    const json::array* choices = fields.array("choices");
    if (choices == nullptr || choices->empty()) return bad_provider_response("no choices");
    Fields choice = Fields::of(choices->front(), "choices[0]");
    Fields message = Fields::of(choice.require("message"), choice.at("message"));
    if (auto reasoning = message.string("reasoning_content"); reasoning && !reasoning->empty()) {
      result.content.push_back(ThinkingPart{*reasoning, "", false, ""});
    }
    if (auto content = message.string("content"); content && !content->empty()) {
      result.content.push_back(TextPart{*content});
    } else if (auto refusal = message.string("refusal"); refusal && !refusal->empty()) {
      result.content.push_back(TextPart{*refusal});
    }
    if (auto* calls = message.array("tool_calls")) {
      for (size_t i = 0; i < calls->size(); ++i) {
        Fields call = Fields::of((*calls)[i], detail::index(message.at("tool_calls"), i));
        Fields function = Fields::of(call.require("function"), call.at("function"));
        std::string arguments = arguments_text(function.find("arguments"));
        result.content.push_back(ToolCallPart{call.string("id").value_or(""), function.string("name").value_or(""),
                                              arguments.empty() ? "{}" : arguments});
      }
    }
    result.finish_reason = finish_reason_from_openai(choice.string("finish_reason").value_or("stop"));
    if (auto logprobs = choice.object("logprobs")) result.logprobs = logprobs_from_json(*logprobs);
    if (auto usage = fields.object("usage")) result.usage = usage_from_json(*usage);
    return result;
  } catch (const detail::FieldError& error) {
    return bad_provider_response(error.what());
  }
}

Result<TextResult> parse_openai_chat_response(std::string_view body) {
  unsigned char arena_buffer[4096];  // the parsed answer dies with this call
  json::monotonic_resource arena(arena_buffer, sizeof arena_buffer);
  auto parsed = detail::parse_json_text(body, &arena);
  if (!parsed) return bad_provider_response(parsed.error().message);
  return openai_chat_response_from_json(*parsed);
}

void OpenAiStreamDecoder::emit_start(const json::object& chunk, std::vector<StreamEvent>& out) {
  started_ = true;
  Fields fields(chunk, "");
  out.push_back(MessageStart{fields.string("id").value_or(""), fields.string("model").value_or(""),
                             fields.integer_at_least("created", 0).value_or(0), Usage{}});
}

std::vector<StreamEvent> OpenAiStreamDecoder::decode(const SseEvent& event) {
  std::vector<StreamEvent> out;
  if (done_) return out;
  std::string_view data = event.data;
  while (!data.empty() && (data.back() == ' ' || data.back() == '\t')) data.remove_suffix(1);
  if (data == "[DONE]") {
    done_ = true;
    out.push_back(Finish{finish_reason_.value_or(FinishReason::stop), "", usage_});
    return out;
  }
  // The event's JSON dies with this call: its nodes come from a stack buffer, not one malloc each.
  unsigned char arena_buffer[2048];
  json::monotonic_resource arena(arena_buffer, sizeof arena_buffer);
  auto parsed = detail::parse_json_text(data, &arena);
  if (!parsed || !parsed->is_object()) {
    done_ = true;
    out.push_back(StreamError{bad_provider_response(parsed ? "a stream chunk is not an object" : parsed.error().message)});
    return out;
  }
  const json::object& chunk = parsed->get_object();
  if (auto error = error_in(chunk)) {
    done_ = true;
    out.push_back(StreamError{*error});
    return out;
  }
  try {
    if (!started_) emit_start(chunk, out);
    Fields fields(chunk, "");
    if (auto usage = fields.object("usage")) usage_ = usage_from_json(*usage);
    const json::array* choices = fields.array("choices");
    if (choices == nullptr || choices->empty()) return out;  // e.g. the include_usage chunk
    Fields choice = Fields::of(choices->front(), "choices[0]");
    if (auto delta = choice.object("delta")) {
      if (auto reasoning = delta->string("reasoning_content"); reasoning && !reasoning->empty()) {
        out.push_back(ThinkingDelta{*reasoning, ""});
      }
      if (auto content = delta->string("content"); content && !content->empty()) {
        TextDelta text{*content, {}};
        if (auto logprobs = choice.object("logprobs")) text.logprobs = logprobs_from_json(*logprobs);
        out.push_back(std::move(text));
      }
      if (auto* calls = delta->array("tool_calls")) {
        for (size_t i = 0; i < calls->size(); ++i) {
          Fields call = Fields::of((*calls)[i], detail::index(delta->at("tool_calls"), i));
          int provider_index = int(call.integer("index", 0, 1023).value_or(0));
          auto seen = std::find(seen_tool_indices_.begin(), seen_tool_indices_.end(), provider_index);
          int index = int(seen - seen_tool_indices_.begin());
          std::optional<Fields> function = call.object("function");
          if (seen == seen_tool_indices_.end()) {
            seen_tool_indices_.push_back(provider_index);
            out.push_back(ToolCallStart{index, call.string("id").value_or(""),
                                        function ? function->string("name").value_or("") : ""});
          }
          std::string arguments = function ? arguments_text(function->find("arguments")) : "";
          if (!arguments.empty()) out.push_back(ToolCallDelta{index, std::move(arguments)});
        }
      }
    }
    if (auto reason = choice.string("finish_reason")) finish_reason_ = finish_reason_from_openai(*reason);
  } catch (const detail::FieldError& error) {
    done_ = true;
    out.push_back(StreamError{bad_provider_response(error.what())});
  }
  return out;
}

std::vector<StreamEvent> OpenAiStreamDecoder::finish() {
  std::vector<StreamEvent> out;
  if (done_) return out;
  done_ = true;
  // Some OpenAI-compatible servers end without [DONE]; a finish_reason is enough to trust it.
  if (finish_reason_) {
    out.push_back(Finish{*finish_reason_, "", usage_});
  } else {
    out.push_back(StreamError{bad_provider_response("the stream ended before the answer was complete")});
  }
  return out;
}

}  // namespace tandem::schemas
