// TextResult / StreamEvents → the OpenAI Responses API's `response` object and event stream.
#include "schemas/openai.h"
#include "schemas/responses.h"
#include "schemas/sse.h"

#include <boost/json.hpp>

namespace tandem::schemas {

namespace json = boost::json;

namespace {

// Token logprobs as the Responses API lists them (the entries of chat's `logprobs.content`).
json::array logprobs_json(const std::vector<TokenLogprob>& logprobs) {
  if (logprobs.empty()) return json::array{};
  return openai_chat_logprobs_json(logprobs).at("content").as_array();
}

json::object output_text_part(std::string_view text, const std::vector<TokenLogprob>& logprobs = {}) {
  return json::object{{"type", "output_text"}, {"text", text}, {"annotations", json::array{}},
                      {"logprobs", logprobs_json(logprobs)}};
}

json::object message_item(std::string_view id, std::string_view status, json::array content) {
  return json::object{{"id", id}, {"type", "message"}, {"status", status}, {"content", std::move(content)}, {"role", "assistant"}};
}

json::object reasoning_item(std::string_view id, std::string_view text) {
  json::array content;
  if (!text.empty()) content.push_back(json::object{{"type", "reasoning_text"}, {"text", text}});
  return json::object{{"id", id}, {"type", "reasoning"}, {"summary", json::array{}}, {"content", std::move(content)}};
}

json::object function_call_item(std::string_view id, std::string_view status, const ToolCallPart& call) {
  return json::object{{"id", id},           {"type", "function_call"}, {"status", status},
                      {"arguments", call.arguments}, {"call_id", call.id}, {"name", call.name}};
}

json::value tool_choice_json(const ToolChoice& choice) {
  switch (choice.mode) {
    case ToolChoice::Mode::none: return "none";
    case ToolChoice::Mode::any: return "required";
    case ToolChoice::Mode::tool: return json::object{{"type", "function"}, {"name", choice.name}};
    case ToolChoice::Mode::unset:
    case ToolChoice::Mode::auto_: break;
  }
  return "auto";
}

json::object text_config_json(const ResponseFormat& format) {
  json::object out;
  switch (format.type) {
    case ResponseFormat::Type::text: out = json::object{{"type", "text"}}; break;
    case ResponseFormat::Type::json_object: out = json::object{{"type", "json_object"}}; break;
    case ResponseFormat::Type::json_schema:
      out = json::object{{"type", "json_schema"}, {"name", format.name}, {"schema", format.schema}, {"strict", format.strict}};
      break;
  }
  return json::object{{"format", std::move(out)}};
}

json::value optional_number(const std::optional<double>& value, double fallback) {
  return json::value(value.value_or(fallback));
}

}  // namespace

std::string_view responses_status(FinishReason reason) {
  switch (reason) {
    case FinishReason::length:
    case FinishReason::content_filter: return "incomplete";
    case FinishReason::error: return "failed";
    case FinishReason::stop:
    case FinishReason::stop_sequence:
    case FinishReason::tool_calls: return "completed";
  }
  return "completed";
}

json::object responses_usage_json(const Usage& usage) {
  int64_t input = usage.prompt_tokens();
  json::object out{{"input_tokens", input},
                   {"input_tokens_details", json::object{{"cached_tokens", usage.cache_read_tokens.value_or(0)}}},
                   {"output_tokens", usage.output_tokens}};
  // The reasoning count only when known (a local model's, an OpenAI upstream's): an Anthropic
  // upstream does not report one, and it is never made up.
  if (usage.reasoning_tokens) out["output_tokens_details"] = json::object{{"reasoning_tokens", *usage.reasoning_tokens}};
  out["total_tokens"] = input + usage.output_tokens;
  return out;
}

json::object responses_deleted(std::string_view id) {
  return json::object{{"id", id}, {"object", "response"}, {"deleted", true}};
}

std::vector<ResponseItem> responses_output_items(const TextResult& result) {
  std::vector<ResponseItem> items;
  bool cut_short = responses_status(result.finish_reason) != "completed";
  std::string text;
  bool has_text = false;
  auto flush_text = [&] {
    if (!has_text) return;
    std::string id = generate_id("msg_");
    const auto& logprobs = result.logprobs ? *result.logprobs : std::vector<TokenLogprob>{};
    items.push_back({id, message_item(id, cut_short ? "incomplete" : "completed", json::array{output_text_part(text, logprobs)})});
    text.clear();
    has_text = false;
  };
  for (const auto& part : result.content) {
    if (auto* t = std::get_if<TextPart>(&part)) {
      text += t->text;
      has_text = true;
    } else if (auto* thinking = std::get_if<ThinkingPart>(&part)) {
      flush_text();
      std::string id = generate_id("rs_");
      items.push_back({id, reasoning_item(id, thinking->thinking)});
    } else if (auto* call = std::get_if<ToolCallPart>(&part)) {
      flush_text();
      std::string id = generate_id("fc_");
      items.push_back({id, function_call_item(id, "completed", *call)});
    }
  }
  flush_text();
  return items;
}

json::object responses_response(const InternalRequest& request, const TextResult& result,
                                const std::vector<ResponseItem>& output) {
  std::string_view status = responses_status(result.finish_reason);
  json::array items;
  for (const auto& item : output) items.push_back(item.json);
  json::value incomplete;
  if (status == "incomplete") {
    incomplete = json::object{{"reason", result.finish_reason == FinishReason::length ? "max_output_tokens" : "content_filter"}};
  }
  json::array tools;
  for (const auto& tool : request.tools) {
    json::object definition{{"type", "function"}, {"name", tool.name},
                            {"description", tool.description.empty() ? json::value() : json::value(tool.description)},
                            {"parameters", tool.parameters}, {"strict", tool.strict}};
    tools.push_back(std::move(definition));
  }
  const auto& responses = request.responses;
  json::object reasoning{{"effort", request.thinking.effort == Effort::unset ? json::value() : json::value(effort_name(request.thinking.effort))},
                         {"summary", nullptr}};
  return json::object{
      {"id", result.id},
      {"object", "response"},
      {"created_at", result.created},
      {"status", status},
      {"error", nullptr},
      {"incomplete_details", std::move(incomplete)},
      {"instructions", responses.instructions.empty() ? json::value() : json::value(responses.instructions)},
      {"max_output_tokens", request.max_tokens ? json::value(*request.max_tokens) : json::value()},
      {"model", result.model},
      {"output", std::move(items)},
      {"parallel_tool_calls", !request.tool_choice.disable_parallel_tool_use},
      {"previous_response_id",
       responses.previous_response_id.empty() ? json::value() : json::value(responses.previous_response_id)},
      {"reasoning", std::move(reasoning)},
      {"store", responses.store},
      {"temperature", optional_number(request.sampling.temperature, 1.0)},
      {"text", text_config_json(request.response_format)},
      {"tool_choice", tool_choice_json(request.tool_choice)},
      {"tools", std::move(tools)},
      {"top_p", optional_number(request.sampling.top_p, 1.0)},
      {"truncation", "disabled"},
      {"usage", responses_usage_json(result.usage)},
      {"user", request.user.empty() ? json::value() : json::value(request.user)},
      {"metadata", responses.metadata.is_object() ? responses.metadata : json::value(json::object{})}};
}

json::object responses_response(const InternalRequest& request, const TextResult& result) {
  return responses_response(request, result, responses_output_items(result));
}

// ---------------------------------------------------------------- stream

ResponsesStreamWriter::ResponsesStreamWriter(const InternalRequest& request, StreamWriterOptions options)
    : request_(request), options_(std::move(options)) {}

std::string ResponsesStreamWriter::event(std::string_view type, json::object data) {
  json::object body{{"type", type}, {"sequence_number", sequence_++}};
  for (auto& [key, value] : data) body[key] = std::move(value);
  return format_sse(type, json::serialize(body));
}

TextResult ResponsesStreamWriter::result() const {
  TextResult result = builder_.result();
  result.id = options_.id;
  result.model = options_.model;
  result.created = options_.created;
  result.usage = usage_;
  return result;
}

// The response object as it stands: the closed items, and usage once finished.
json::object ResponsesStreamWriter::snapshot(std::string_view status) const {
  TextResult result = this->result();
  json::object response = responses_response(request_, result, output_);
  response["status"] = status;
  if (status == "in_progress") {
    response["usage"] = nullptr;
    response["incomplete_details"] = nullptr;
  }
  return response;
}

std::string ResponsesStreamWriter::start(const MessageStart& start_event) {
  started_ = true;
  if (options_.id.empty()) options_.id = start_event.id.starts_with("resp_") ? start_event.id : generate_id("resp_");
  if (options_.model.empty()) options_.model = start_event.model;
  if (options_.created == 0) options_.created = start_event.created != 0 ? start_event.created : unix_time_now();
  usage_ = start_event.usage;
  builder_.add(start_event);
  std::string out = event("response.created", json::object{{"response", snapshot("in_progress")}});
  out += event("response.in_progress", json::object{{"response", snapshot("in_progress")}});
  return out;
}

std::string ResponsesStreamWriter::open_item(Item kind, json::object item) {
  std::string out = close_item();
  current_ = kind;
  current_text_.clear();
  current_logprobs_.clear();
  current_item_ = item;
  auto output_index = int64_t(output_.size());
  std::string id(item.at("id").as_string());
  out += event("response.output_item.added", json::object{{"output_index", output_index}, {"item", std::move(item)}});
  if (kind == Item::message) {
    out += event("response.content_part.added", json::object{{"item_id", id}, {"output_index", output_index},
                                                             {"content_index", 0}, {"part", output_text_part("")}});
  }
  return out;
}

std::string ResponsesStreamWriter::close_item() {
  if (current_ == Item::none) return {};
  auto output_index = int64_t(output_.size());
  std::string id(current_item_.at("id").as_string());
  std::string out;
  json::object done = current_item_;
  if (current_ == Item::message) {
    out += event("response.output_text.done", json::object{{"item_id", id}, {"output_index", output_index},
                                                           {"content_index", 0}, {"text", current_text_},
                                                           {"logprobs", logprobs_json(current_logprobs_)}});
    out += event("response.content_part.done",
                 json::object{{"item_id", id}, {"output_index", output_index}, {"content_index", 0},
                              {"part", output_text_part(current_text_, current_logprobs_)}});
    done["status"] = "completed";
    done["content"] = json::array{output_text_part(current_text_, current_logprobs_)};
  } else if (current_ == Item::reasoning) {
    out += event("response.reasoning_text.done", json::object{{"item_id", id}, {"output_index", output_index},
                                                              {"content_index", 0}, {"text", current_text_}});
    done = reasoning_item(id, current_text_);
  } else {
    out += event("response.function_call_arguments.done",
                 json::object{{"item_id", id}, {"output_index", output_index},
                              {"name", current_item_.at("name")}, {"arguments", current_text_}});
    done["status"] = "completed";
    done["arguments"] = current_text_;
  }
  out += event("response.output_item.done", json::object{{"output_index", output_index}, {"item", done}});
  output_.push_back({id, std::move(done)});
  current_ = Item::none;
  return out;
}

std::string ResponsesStreamWriter::write(const StreamEvent& stream_event) {
  if (finished_) return {};
  if (auto* start_event = std::get_if<MessageStart>(&stream_event)) return started_ ? std::string() : start(*start_event);
  std::string out;
  if (!started_) out += start(MessageStart{});
  builder_.add(stream_event);
  auto output_index = int64_t(output_.size());
  if (auto* text = std::get_if<TextDelta>(&stream_event)) {
    if (text->text.empty()) return out;
    if (current_ != Item::message) {
      out += open_item(Item::message, message_item(generate_id("msg_"), "in_progress", json::array{}));
      output_index = int64_t(output_.size());
    }
    current_text_ += text->text;
    current_logprobs_.insert(current_logprobs_.end(), text->logprobs.begin(), text->logprobs.end());
    out += event("response.output_text.delta", json::object{{"item_id", current_item_.at("id")}, {"output_index", output_index},
                                                            {"content_index", 0}, {"delta", text->text},
                                                            {"logprobs", logprobs_json(text->logprobs)}});
  } else if (auto* thinking = std::get_if<ThinkingDelta>(&stream_event)) {
    if (thinking->thinking.empty()) return out;
    if (current_ != Item::reasoning) {
      out += open_item(Item::reasoning, reasoning_item(generate_id("rs_"), ""));
      output_index = int64_t(output_.size());
    }
    current_text_ += thinking->thinking;
    out += event("response.reasoning_text.delta", json::object{{"item_id", current_item_.at("id")}, {"output_index", output_index},
                                                               {"content_index", 0}, {"delta", thinking->thinking}});
  } else if (auto* call = std::get_if<ToolCallStart>(&stream_event)) {
    ToolCallPart part{call->id, call->name, ""};
    out += open_item(Item::function_call, function_call_item(generate_id("fc_"), "in_progress", part));
    tool_items_.emplace_back(call->index, output_.size());
  } else if (auto* delta = std::get_if<ToolCallDelta>(&stream_event)) {
    if (delta->arguments.empty()) return out;
    for (const auto& [index, position] : tool_items_) {
      if (index != delta->index) continue;
      if (position == output_.size() && current_ == Item::function_call) {
        current_text_ += delta->arguments;
        out += event("response.function_call_arguments.delta",
                     json::object{{"item_id", current_item_.at("id")}, {"output_index", int64_t(position)}, {"delta", delta->arguments}});
      } else if (position < output_.size()) {  // a late fragment of a closed call still lands in it
        auto& item = output_[position].json;
        item["arguments"] = std::string(item["arguments"].as_string()) + delta->arguments;
        out += event("response.function_call_arguments.delta",
                     json::object{{"item_id", output_[position].id}, {"output_index", int64_t(position)}, {"delta", delta->arguments}});
      }
    }
  } else if (auto* finish = std::get_if<Finish>(&stream_event)) {
    out += close_item();
    if (finish->usage.input_tokens > 0) usage_.input_tokens = finish->usage.input_tokens;
    if (finish->usage.cache_read_tokens) usage_.cache_read_tokens = finish->usage.cache_read_tokens;
    if (finish->usage.cache_creation_tokens) usage_.cache_creation_tokens = finish->usage.cache_creation_tokens;
    usage_.output_tokens = finish->usage.output_tokens;
    if (finish->usage.reasoning_tokens) usage_.reasoning_tokens = finish->usage.reasoning_tokens;
    std::string_view status = responses_status(finish->reason);
    response_ = snapshot(status);
    finished_ = true;
    out += event(status == "incomplete" ? "response.incomplete" : "response.completed", json::object{{"response", response_}});
  } else if (auto* error = std::get_if<StreamError>(&stream_event)) {
    out += close_item();
    ErrorShape shape = error_shape(error->error.kind, Protocol::openai);
    std::string code = !error->error.code.empty() ? error->error.code
                       : !shape.code.empty()      ? std::string(shape.code)
                                                  : std::string(shape.type);
    out += event("error", json::object{{"code", code}, {"message", error->error.message},
                                       {"param", error->error.param.empty() ? json::value() : json::value(error->error.param)}});
    response_ = snapshot("failed");
    response_["error"] = json::object{{"code", code}, {"message", error->error.message}};
    response_["usage"] = nullptr;
    finished_ = true;
    out += event("response.failed", json::object{{"response", response_}});
  }
  return out;
}

}  // namespace tandem::schemas
