// Anthropic's answers (a `message`, or its event stream) → TextResult / StreamEvents.
#include "schemas/anthropic.h"
#include "schemas/detail/json_read.h"

#include <boost/json.hpp>

namespace tandem::schemas {

namespace json = boost::json;
using detail::Fields;

namespace {

ApiError bad_provider_response(std::string_view what) {
  return make_error(ErrorKind::api_error, "invalid response from provider: " + std::string(what));
}

ErrorKind kind_from_anthropic_error(std::string_view type) {
  if (type == "invalid_request_error") return ErrorKind::invalid_request;
  if (type == "authentication_error") return ErrorKind::authentication;
  if (type == "permission_error") return ErrorKind::permission;
  if (type == "not_found_error") return ErrorKind::not_found;
  if (type == "request_too_large") return ErrorKind::request_too_large;
  if (type == "rate_limit_error") return ErrorKind::rate_limit;
  if (type == "overloaded_error") return ErrorKind::overloaded;
  if (type == "timeout_error") return ErrorKind::timeout;
  return ErrorKind::api_error;
}

// {"type":"error","error":{"type","message"}}
std::optional<ApiError> error_in(const json::object& body) {
  auto* type = body.if_contains("type");
  auto* error = body.if_contains("error");
  bool is_error = (type && type->is_string() && type->get_string() == "error") || (error && error->is_object());
  if (!is_error) return std::nullopt;
  ApiError out = make_error(ErrorKind::api_error, "provider error");
  if (error && error->is_object()) {
    const auto& object = error->get_object();
    if (auto* kind = object.if_contains("type"); kind && kind->is_string()) out.kind = kind_from_anthropic_error(kind->get_string());
    if (auto* message = object.if_contains("message"); message && message->is_string()) {
      out.message = std::string(message->get_string());
    }
  }
  return out;
}

Usage usage_from_json(const Fields& usage) {
  Usage out;
  out.input_tokens = usage.integer_at_least("input_tokens", 0).value_or(0);
  out.output_tokens = usage.integer_at_least("output_tokens", 0).value_or(0);
  out.cache_creation_tokens = usage.integer_at_least("cache_creation_input_tokens", 0);
  out.cache_read_tokens = usage.integer_at_least("cache_read_input_tokens", 0);
  return out;
}

}  // namespace

Result<TextResult> anthropic_message_response_from_json(const json::value& body) {
  if (!body.is_object()) return bad_provider_response("expected a JSON object");
  if (auto error = error_in(body.get_object())) return *error;
  try {
    Fields fields(body.get_object(), "");
    TextResult result;
    result.id = fields.string("id").value_or("");
    result.model = fields.string("model").value_or("");
    if (const json::array* content = fields.array("content")) {
      for (size_t i = 0; i < content->size(); ++i) {
        Fields block = Fields::of((*content)[i], detail::index("content", i));
        std::string type = block.string("type").value_or("");
        if (type == "text") {
          result.content.push_back(TextPart{block.required_string("text")});
        } else if (type == "thinking") {
          result.content.push_back(ThinkingPart{block.required_string("thinking"), block.string("signature").value_or(""), false, ""});
        } else if (type == "redacted_thinking") {
          result.content.push_back(ThinkingPart{"", "", true, block.required_string("data")});
        } else if (type == "tool_use") {
          const json::value* input = block.find("input");
          result.content.push_back(ToolCallPart{block.required_string("id"), block.required_string("name"),
                                                input ? json::serialize(*input) : "{}"});
        }
        // Server-tool blocks and future types carry nothing we can relay; skip them.
      }
    }
    result.finish_reason = finish_reason_from_anthropic(fields.string("stop_reason").value_or("end_turn"));
    result.stop_sequence = fields.string("stop_sequence").value_or("");
    if (auto usage = fields.object("usage")) result.usage = usage_from_json(*usage);
    return result;
  } catch (const detail::FieldError& error) {
    return bad_provider_response(error.what());
  }
}

Result<TextResult> parse_anthropic_message_response(std::string_view body) {
  unsigned char arena_buffer[4096];  // the parsed answer dies with this call
  json::monotonic_resource arena(arena_buffer, sizeof arena_buffer);
  auto parsed = detail::parse_json_text(body, &arena);
  if (!parsed) return bad_provider_response(parsed.error().message);
  return anthropic_message_response_from_json(*parsed);
}

std::vector<StreamEvent> AnthropicStreamDecoder::decode(const SseEvent& event) {
  std::vector<StreamEvent> out;
  if (done_) return out;
  // The event's JSON dies with this call: its nodes come from a stack buffer, not one malloc each.
  unsigned char arena_buffer[2048];
  json::monotonic_resource arena(arena_buffer, sizeof arena_buffer);
  auto parsed = detail::parse_json_text(event.data, &arena);
  if (!parsed || !parsed->is_object()) {
    done_ = true;
    out.push_back(StreamError{bad_provider_response(parsed ? "an event's data is not an object" : parsed.error().message)});
    return out;
  }
  const json::object& data = parsed->get_object();
  try {
    Fields fields(data, "");
    // The data's own `type` names the event; the `event:` line repeats it.
    std::string type = fields.string("type").value_or(event.event);
    if (type == "error") {
      done_ = true;
      out.push_back(StreamError{error_in(data).value_or(make_error(ErrorKind::api_error, "provider error"))});
    } else if (type == "message_start") {
      Fields message = Fields::of(fields.require("message"), "message");
      if (auto usage = message.object("usage")) usage_ = usage_from_json(*usage);
      out.push_back(MessageStart{message.string("id").value_or(""), message.string("model").value_or(""), 0, usage_});
    } else if (type == "content_block_start") {
      int64_t index = fields.integer_at_least("index", 0).value_or(0);
      Fields block = Fields::of(fields.require("content_block"), "content_block");
      std::string block_type = block.string("type").value_or("");
      if (block_type == "tool_use") {
        int tool_index = int(tool_blocks_.size());
        tool_blocks_.emplace_back(index, tool_index);
        out.push_back(ToolCallStart{tool_index, block.string("id").value_or(""), block.string("name").value_or("")});
      } else if (block_type == "text") {
        if (auto text = block.string("text"); text && !text->empty()) out.push_back(TextDelta{*text, {}});
      } else if (block_type == "thinking") {
        if (auto text = block.string("thinking"); text && !text->empty()) out.push_back(ThinkingDelta{*text, ""});
      }
    } else if (type == "content_block_delta") {
      int64_t index = fields.integer_at_least("index", 0).value_or(0);
      Fields delta = Fields::of(fields.require("delta"), "delta");
      std::string delta_type = delta.string("type").value_or("");
      if (delta_type == "text_delta") {
        out.push_back(TextDelta{delta.string("text").value_or(""), {}});
      } else if (delta_type == "thinking_delta") {
        out.push_back(ThinkingDelta{delta.string("thinking").value_or(""), ""});
      } else if (delta_type == "signature_delta") {
        out.push_back(ThinkingDelta{"", delta.string("signature").value_or("")});
      } else if (delta_type == "input_json_delta") {
        for (const auto& [block_index, tool_index] : tool_blocks_) {
          if (block_index == index) out.push_back(ToolCallDelta{tool_index, delta.string("partial_json").value_or("")});
        }
      }
    } else if (type == "message_delta") {
      if (auto delta = fields.object("delta")) {
        if (auto reason = delta->string("stop_reason")) stop_reason_ = finish_reason_from_anthropic(*reason);
        stop_sequence_ = delta->string("stop_sequence").value_or("");
      }
      if (auto usage = fields.object("usage")) {
        // message_delta's usage is cumulative output (and, lately, input) tokens.
        usage_.output_tokens = usage->integer_at_least("output_tokens", 0).value_or(usage_.output_tokens);
        if (auto input = usage->integer_at_least("input_tokens", 0); input && *input > 0) usage_.input_tokens = *input;
      }
    } else if (type == "message_stop") {
      done_ = true;
      out.push_back(Finish{stop_reason_.value_or(FinishReason::stop), stop_sequence_, usage_});
    }
    // ping, content_block_stop and event types added later carry nothing to relay.
  } catch (const detail::FieldError& error) {
    done_ = true;
    out.push_back(StreamError{bad_provider_response(error.what())});
  }
  return out;
}

std::vector<StreamEvent> AnthropicStreamDecoder::finish() {
  std::vector<StreamEvent> out;
  if (done_) return out;
  done_ = true;
  out.push_back(StreamError{bad_provider_response("the stream ended before message_stop")});
  return out;
}

}  // namespace tandem::schemas
