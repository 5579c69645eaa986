#include "schemas/stream_writer.h"

#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/sse.h"

#include <boost/json.hpp>

#include <algorithm>

namespace tandem::schemas {

namespace json = boost::json;

namespace {

void adopt_start(StreamWriterOptions& options, const MessageStart& event, std::string_view id_prefix) {
  if (options.id.empty()) options.id = event.id.empty() ? generate_id(id_prefix) : event.id;
  if (options.model.empty()) options.model = event.model;
  if (options.created == 0) options.created = event.created != 0 ? event.created : unix_time_now();
}

std::string openai_error_frame(const ApiError& error) {
  // OpenAI's streaming errors are a data line carrying the usual error body.
  return format_sse_data(render_error(error, Protocol::openai)) + format_sse_data("[DONE]");
}

}  // namespace

// ---------------------------------------------------------------- OpenAI chat

OpenAiChatStreamWriter::OpenAiChatStreamWriter(StreamWriterOptions options)
    : options_(std::move(options)),
      choices_(size_t(std::max(1, options_.choices))),
      unfinished_(int(choices_.size())) {}

std::string OpenAiChatStreamWriter::chunk(int choice, json::value delta, json::value finish_reason,
                                          json::value logprobs) const {
  // One chunk per streamed event: its JSON lives on a stack arena until it is serialized.
  unsigned char buffer[2048];
  json::monotonic_resource arena(buffer, sizeof buffer);
  json::storage_ptr storage(&arena);
  json::object choice_json({{"index", choice}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)},
                            {"finish_reason", std::move(finish_reason)}},
                           storage);
  json::array choices(storage);
  choices.emplace_back(std::move(choice_json));
  json::object body({{"id", options_.id},
                     {"object", "chat.completion.chunk"},
                     {"created", options_.created},
                     {"model", options_.model},
                     {"choices", std::move(choices)}},
                    storage);
  if (options_.include_usage) body["usage"] = nullptr;  // as OpenAI does: null until the usage chunk
  return format_sse_data(json::serialize(body));
}

std::string OpenAiChatStreamWriter::start(int choice, const MessageStart& event) {
  if (!adopted_) {
    adopted_ = true;
    adopt_start(options_, event, "chatcmpl-");
  }
  choices_[choice].started = true;
  // The prompt is shared by the choices: count its tokens once.
  if (usage_.input_tokens == 0) usage_.input_tokens = event.usage.input_tokens;
  return chunk(choice, json::object{{"role", "assistant"}, {"content", ""}}, nullptr, nullptr);
}

std::string OpenAiChatStreamWriter::write_choice(int choice, const StreamEvent& event) {
  if (finished_) return {};
  std::string out;
  if (auto* error = std::get_if<StreamError>(&event)) {
    finished_ = true;
    return openai_error_frame(error->error);
  }
  if (choice < 0 || size_t(choice) >= choices_.size() || choices_[choice].finished) return out;
  if (auto* start_event = std::get_if<MessageStart>(&event)) {
    return choices_[choice].started ? out : start(choice, *start_event);
  }
  if (!choices_[choice].started) out += start(choice, MessageStart{});
  if (auto* text = std::get_if<TextDelta>(&event)) {
    if (text->text.empty() && text->logprobs.empty()) return out;
    json::value logprobs = text->logprobs.empty() ? json::value() : json::value(openai_chat_logprobs_json(text->logprobs));
    out += chunk(choice, json::object{{"content", text->text}}, nullptr, std::move(logprobs));
  } else if (auto* thinking = std::get_if<ThinkingDelta>(&event)) {
    // Not in OpenAI's API; the field vLLM, llama.cpp and DeepSeek use for a model's reasoning.
    if (!thinking->thinking.empty()) {
      out += chunk(choice, json::object{{"reasoning_content", thinking->thinking}}, nullptr, nullptr);
    }
  } else if (auto* call = std::get_if<ToolCallStart>(&event)) {
    json::object tool_call{{"index", call->index},
                           {"id", call->id},
                           {"type", "function"},
                           {"function", json::object{{"name", call->name}, {"arguments", ""}}}};
    out += chunk(choice, json::object{{"tool_calls", json::array{std::move(tool_call)}}}, nullptr, nullptr);
  } else if (auto* delta = std::get_if<ToolCallDelta>(&event)) {
    if (delta->arguments.empty()) return out;
    json::object tool_call{{"index", delta->index}, {"function", json::object{{"arguments", delta->arguments}}}};
    out += chunk(choice, json::object{{"tool_calls", json::array{std::move(tool_call)}}}, nullptr, nullptr);
  } else if (auto* finish = std::get_if<Finish>(&event)) {
    choices_[choice].finished = true;
    out += chunk(choice, json::object{}, json::value(openai_finish_reason(finish->reason)), nullptr);
    if (finish->usage.input_tokens > 0) usage_.input_tokens = finish->usage.input_tokens;
    if (finish->usage.cache_read_tokens) usage_.cache_read_tokens = finish->usage.cache_read_tokens;
    if (finish->usage.cache_creation_tokens) usage_.cache_creation_tokens = finish->usage.cache_creation_tokens;
    usage_.output_tokens += finish->usage.output_tokens;
    if (finish->usage.reasoning_tokens) {
      usage_.reasoning_tokens = usage_.reasoning_tokens.value_or(0) + *finish->usage.reasoning_tokens;
    }
    if (--unfinished_ > 0) return out;
    finished_ = true;
    if (options_.include_usage) {
      json::object usage_chunk{{"id", options_.id},         {"object", "chat.completion.chunk"},
                               {"created", options_.created}, {"model", options_.model},
                               {"choices", json::array{}},   {"usage", openai_usage_json(usage_)}};
      out += format_sse_data(json::serialize(usage_chunk));
    }
    out += format_sse_data("[DONE]");
  }
  return out;
}

// ---------------------------------------------------------------- OpenAI legacy completions

OpenAiCompletionStreamWriter::OpenAiCompletionStreamWriter(StreamWriterOptions options)
    : options_(std::move(options)),
      choices_(size_t(std::max(1, options_.choices))),
      unfinished_(int(choices_.size())) {}

void OpenAiCompletionStreamWriter::start(const MessageStart& event) {
  started_ = true;
  adopt_start(options_, event, "cmpl-");
  if (usage_.input_tokens == 0) usage_.input_tokens = event.usage.input_tokens;  // shared by the choices
}

std::string OpenAiCompletionStreamWriter::chunk(int choice, std::string_view text, json::value finish_reason,
                                                json::value logprobs) const {
  json::object choice_json{{"text", text}, {"index", choice}, {"logprobs", std::move(logprobs)},
                           {"finish_reason", std::move(finish_reason)}};
  json::object body{{"id", options_.id},
                    {"object", "text_completion"},
                    {"created", options_.created},
                    {"model", options_.model},
                    {"choices", json::array{std::move(choice_json)}}};
  if (options_.include_usage) body["usage"] = nullptr;
  return format_sse_data(json::serialize(body));
}

std::string OpenAiCompletionStreamWriter::write_choice(int choice, const StreamEvent& event) {
  if (finished_) return {};
  if (auto* error = std::get_if<StreamError>(&event)) {
    finished_ = true;
    return openai_error_frame(error->error);
  }
  if (choice < 0 || size_t(choice) >= choices_.size() || choices_[choice].finished) return {};
  if (auto* start_event = std::get_if<MessageStart>(&event)) {
    if (!started_) start(*start_event);
    return {};
  }
  if (!started_) start(MessageStart{});
  std::string out;
  auto& state = choices_[choice];
  if (auto* text = std::get_if<TextDelta>(&event)) {
    if (text->text.empty() && text->logprobs.empty()) return out;
    json::value logprobs;
    if (!text->logprobs.empty()) {
      logprobs = openai_completion_logprobs_json(text->logprobs, state.text_offset);
      for (const auto& token : text->logprobs) state.text_offset += int64_t(token.token.size());
    }
    out += chunk(choice, text->text, nullptr, std::move(logprobs));
  } else if (auto* finish = std::get_if<Finish>(&event)) {
    state.finished = true;
    out += chunk(choice, "", json::value(openai_finish_reason(finish->reason)), nullptr);
    if (finish->usage.input_tokens > 0) usage_.input_tokens = finish->usage.input_tokens;
    if (finish->usage.cache_read_tokens) usage_.cache_read_tokens = finish->usage.cache_read_tokens;
    if (finish->usage.cache_creation_tokens) usage_.cache_creation_tokens = finish->usage.cache_creation_tokens;
    usage_.output_tokens += finish->usage.output_tokens;
    if (--unfinished_ > 0) return out;
    finished_ = true;
    if (options_.include_usage) {
      json::object usage_chunk{{"id", options_.id},         {"object", "text_completion"},
                               {"created", options_.created}, {"model", options_.model},
                               {"choices", json::array{}},   {"usage", openai_usage_json(usage_)}};
      out += format_sse_data(json::serialize(usage_chunk));
    }
    out += format_sse_data("[DONE]");
  }
  // Thinking and tool calls have no legacy-completions form.
  return out;
}

// ---------------------------------------------------------------- Anthropic

AnthropicStreamWriter::AnthropicStreamWriter(StreamWriterOptions options) : options_(std::move(options)) {}

static std::string anthropic_frame(std::string_view name, const json::object& data) {
  return format_sse(name, json::serialize(data));
}

std::string AnthropicStreamWriter::start(const MessageStart& event) {
  started_ = true;
  adopt_start(options_, event, "msg_");
  json::object message{{"id", options_.id},
                       {"type", "message"},
                       {"role", "assistant"},
                       {"model", options_.model},
                       {"content", json::array{}},
                       {"stop_reason", nullptr},
                       {"stop_sequence", nullptr},
                       {"usage", anthropic_usage_json(event.usage)}};
  return anthropic_frame("message_start", json::object{{"type", "message_start"}, {"message", std::move(message)}});
}

std::string AnthropicStreamWriter::close_block() {
  if (current_ == Block::none) return {};
  current_ = Block::none;
  return anthropic_frame("content_block_stop", json::object{{"type", "content_block_stop"}, {"index", next_index_ - 1}});
}

std::string AnthropicStreamWriter::open_block(Block type, json::value content_block) {
  std::string out = close_block();
  current_ = type;
  out += anthropic_frame("content_block_start", json::object{{"type", "content_block_start"},
                                                             {"index", next_index_++},
                                                             {"content_block", std::move(content_block)}});
  if (!pinged_) {
    pinged_ = true;
    out += anthropic_frame("ping", json::object{{"type", "ping"}});
  }
  return out;
}

static std::string block_delta(int index, json::object delta) {
  unsigned char buffer[1024];  // one frame per streamed event: its JSON lives on a stack arena
  json::monotonic_resource arena(buffer, sizeof buffer);
  return anthropic_frame("content_block_delta",
                         json::object({{"type", "content_block_delta"}, {"index", index}, {"delta", std::move(delta)}},
                                      json::storage_ptr(&arena)));
}

std::string AnthropicStreamWriter::write(const StreamEvent& event) {
  if (finished_) return {};
  if (auto* start_event = std::get_if<MessageStart>(&event)) return started_ ? std::string() : start(*start_event);
  if (auto* error = std::get_if<StreamError>(&event)) {
    finished_ = true;
    // Anthropic ends a failed stream with an `error` event carrying the usual error body.
    return format_sse("error", render_error(error->error, Protocol::anthropic));
  }
  std::string out;
  if (!started_) out += start(MessageStart{});
  if (auto* text = std::get_if<TextDelta>(&event)) {
    if (text->text.empty()) return out;
    if (current_ != Block::text) out += open_block(Block::text, json::object{{"type", "text"}, {"text", ""}});
    out += block_delta(next_index_ - 1, json::object{{"type", "text_delta"}, {"text", text->text}});
  } else if (auto* thinking = std::get_if<ThinkingDelta>(&event)) {
    if (thinking->thinking.empty() && thinking->signature.empty()) return out;
    if (current_ != Block::thinking) {
      out += open_block(Block::thinking, json::object{{"type", "thinking"}, {"thinking", ""}});
    }
    if (!thinking->thinking.empty()) {
      out += block_delta(next_index_ - 1, json::object{{"type", "thinking_delta"}, {"thinking", thinking->thinking}});
    }
    if (!thinking->signature.empty()) {
      out += block_delta(next_index_ - 1, json::object{{"type", "signature_delta"}, {"signature", thinking->signature}});
    }
  } else if (auto* call = std::get_if<ToolCallStart>(&event)) {
    if (call->index < 0) return out;
    out += open_block(Block::tool_use, json::object{{"type", "tool_use"}, {"id", call->id}, {"name", call->name},
                                                    {"input", json::object{}}});
    if (tool_block_index_.size() <= size_t(call->index)) tool_block_index_.resize(call->index + 1, -1);
    tool_block_index_[call->index] = next_index_ - 1;
  } else if (auto* delta = std::get_if<ToolCallDelta>(&event)) {
    if (delta->arguments.empty() || delta->index < 0 || size_t(delta->index) >= tool_block_index_.size()) return out;
    int block = tool_block_index_[delta->index];
    // Deltas normally target the open block; SDKs accumulate by index, so a late one still lands.
    if (block >= 0) out += block_delta(block, json::object{{"type", "input_json_delta"}, {"partial_json", delta->arguments}});
  } else if (auto* finish = std::get_if<Finish>(&event)) {
    finished_ = true;
    out += close_block();
    if (!pinged_) {
      pinged_ = true;
      out += anthropic_frame("ping", json::object{{"type", "ping"}});
    }
    bool matched_sequence = finish->reason == FinishReason::stop_sequence;
    json::object delta{{"stop_reason", anthropic_stop_reason(finish->reason)},
                       {"stop_sequence", matched_sequence ? json::value(finish->stop_sequence) : json::value()}};
    out += anthropic_frame("message_delta", json::object{{"type", "message_delta"},
                                                         {"delta", std::move(delta)},
                                                         {"usage", json::object{{"output_tokens", finish->usage.output_tokens}}}});
    out += anthropic_frame("message_stop", json::object{{"type", "message_stop"}});
  }
  return out;
}

std::unique_ptr<StreamWriter> make_stream_writer(Protocol protocol, Endpoint endpoint, StreamWriterOptions options) {
  if (protocol == Protocol::anthropic) return std::make_unique<AnthropicStreamWriter>(std::move(options));
  if (endpoint == Endpoint::completions) return std::make_unique<OpenAiCompletionStreamWriter>(std::move(options));
  return std::make_unique<OpenAiChatStreamWriter>(std::move(options));
}

}  // namespace tandem::schemas
