#include "tests/fakes/fake_answers.h"

#include <boost/json.hpp>

#include <cstdlib>

namespace json = boost::json;

namespace tandem::fakes {

namespace {

constexpr long kCreated = 1700000000;  // fixed: answers are compared byte for byte

std::string frame(std::string_view event, const json::object& data) {
  return "event: " + std::string(event) + "\ndata: " + json::serialize(data) + "\n\n";
}

std::string data_frame(const json::object& data) { return "data: " + json::serialize(data) + "\n\n"; }

json::value parse_arguments(const std::string& arguments) {
  boost::system::error_code ec;
  json::value value = json::parse(arguments, ec);
  if (ec) return json::object{};
  return value;
}

std::string anthropic_stop(const FakeAnswer& answer) {
  if (!answer.stop_reason.empty()) return answer.stop_reason;
  return answer.tool_calls.empty() ? "end_turn" : "tool_use";
}

std::string openai_finish(const FakeAnswer& answer) {
  if (!answer.stop_reason.empty()) return answer.stop_reason;
  return answer.tool_calls.empty() ? "stop" : "tool_calls";
}

json::object anthropic_usage(const FakeAnswer& answer, long output_tokens) {
  json::object usage;
  usage["input_tokens"] = answer.input_tokens;
  usage["cache_creation_input_tokens"] = answer.cache_creation_tokens.value_or(0);
  usage["cache_read_input_tokens"] = answer.cache_read_tokens.value_or(0);
  usage["output_tokens"] = output_tokens;
  return usage;
}

json::object openai_usage(const FakeAnswer& answer) {
  long cached = answer.cache_read_tokens.value_or(0);
  json::object usage;
  usage["prompt_tokens"] = answer.input_tokens + cached;
  usage["completion_tokens"] = answer.output_tokens;
  usage["total_tokens"] = answer.input_tokens + cached + answer.output_tokens;
  usage["prompt_tokens_details"] = json::object{{"cached_tokens", cached}, {"audio_tokens", 0}};
  usage["completion_tokens_details"] = json::object{{"reasoning_tokens", 0}, {"audio_tokens", 0}};
  return usage;
}

}  // namespace

std::vector<std::string> split_text(const std::string& text, std::size_t pieces) {
  std::vector<std::string> out;
  if (pieces == 0) pieces = 1;
  std::size_t size = (text.size() + pieces - 1) / pieces;
  if (size == 0) return {text};
  for (std::size_t at = 0; at < text.size(); at += size) out.push_back(text.substr(at, size));
  return out;
}

// ---------------------------------------------------------------- Anthropic

std::string anthropic_message_json(const FakeAnswer& answer) {
  json::array content;
  if (!answer.thinking.empty())
    content.push_back(json::object{{"type", "thinking"}, {"thinking", answer.thinking}, {"signature", answer.signature}});
  if (!answer.text.empty()) content.push_back(json::object{{"type", "text"}, {"text", answer.text}});
  for (const auto& call : answer.tool_calls)
    content.push_back(json::object{{"type", "tool_use"}, {"id", call.id}, {"name", call.name},
                                   {"input", parse_arguments(call.arguments)}});
  json::object message;
  message["id"] = answer.id;
  message["type"] = "message";
  message["role"] = "assistant";
  message["model"] = answer.model;
  message["content"] = std::move(content);
  message["stop_reason"] = anthropic_stop(answer);
  message["stop_sequence"] = answer.stop_sequence.empty() ? json::value(nullptr) : json::value(answer.stop_sequence);
  message["usage"] = anthropic_usage(answer, answer.output_tokens);
  return json::serialize(message);
}

std::vector<std::string> anthropic_stream_frames(const FakeAnswer& answer) {
  std::vector<std::string> frames;
  json::object start_message{{"id", answer.id}, {"type", "message"}, {"role", "assistant"},
                             {"model", answer.model}, {"content", json::array{}},
                             {"stop_reason", nullptr}, {"stop_sequence", nullptr}};
  start_message["usage"] = anthropic_usage(answer, 1);
  frames.push_back(frame("message_start", json::object{{"type", "message_start"}, {"message", start_message}}));
  long index = 0;
  auto block_stop = [&] {
    frames.push_back(frame("content_block_stop", json::object{{"type", "content_block_stop"}, {"index", index}}));
    ++index;
  };
  auto delta = [&](json::object body) {
    frames.push_back(frame("content_block_delta",
                           json::object{{"type", "content_block_delta"}, {"index", index}, {"delta", std::move(body)}}));
  };
  if (!answer.thinking.empty()) {
    frames.push_back(frame("content_block_start",
                           json::object{{"type", "content_block_start"}, {"index", index},
                                        {"content_block", json::object{{"type", "thinking"}, {"thinking", ""}}}}));
    for (const auto& piece : split_text(answer.thinking, 2))
      delta(json::object{{"type", "thinking_delta"}, {"thinking", piece}});
    delta(json::object{{"type", "signature_delta"}, {"signature", answer.signature}});
    block_stop();
  }
  if (!answer.text.empty()) {
    frames.push_back(frame("content_block_start",
                           json::object{{"type", "content_block_start"}, {"index", index},
                                        {"content_block", json::object{{"type", "text"}, {"text", ""}}}}));
    frames.push_back(frame("ping", json::object{{"type", "ping"}}));
    for (const auto& piece : split_text(answer.text, answer.text_pieces))
      delta(json::object{{"type", "text_delta"}, {"text", piece}});
    block_stop();
  }
  for (const auto& call : answer.tool_calls) {
    frames.push_back(frame("content_block_start",
                           json::object{{"type", "content_block_start"}, {"index", index},
                                        {"content_block", json::object{{"type", "tool_use"}, {"id", call.id},
                                                                       {"name", call.name}, {"input", json::object{}}}}}));
    delta(json::object{{"type", "input_json_delta"}, {"partial_json", ""}});
    for (const auto& piece : split_text(call.arguments, 3))
      delta(json::object{{"type", "input_json_delta"}, {"partial_json", piece}});
    block_stop();
  }
  json::object message_delta{{"type", "message_delta"}};
  message_delta["delta"] = json::object{
      {"stop_reason", anthropic_stop(answer)},
      {"stop_sequence", answer.stop_sequence.empty() ? json::value(nullptr) : json::value(answer.stop_sequence)}};
  message_delta["usage"] = json::object{{"output_tokens", answer.output_tokens}};
  frames.push_back(frame("message_delta", message_delta));
  frames.push_back(frame("message_stop", json::object{{"type", "message_stop"}}));
  return frames;
}

std::string anthropic_error_json(std::string_view type, std::string_view message) {
  return json::serialize(json::object{{"type", "error"}, {"error", json::object{{"type", type}, {"message", message}}}});
}

std::string anthropic_error_frame(std::string_view type, std::string_view message) {
  return "event: error\ndata: " + anthropic_error_json(type, message) + "\n\n";
}

// ---------------------------------------------------------------- OpenAI

std::string openai_chat_json(const FakeAnswer& answer) {
  json::object message{{"role", "assistant"}};
  message["content"] = answer.text.empty() ? json::value(nullptr) : json::value(answer.text);
  if (!answer.thinking.empty()) message["reasoning_content"] = answer.thinking;
  message["refusal"] = nullptr;
  if (!answer.tool_calls.empty()) {
    json::array calls;
    for (const auto& call : answer.tool_calls)
      calls.push_back(json::object{{"id", call.id}, {"type", "function"},
                                   {"function", json::object{{"name", call.name}, {"arguments", call.arguments}}}});
    message["tool_calls"] = std::move(calls);
  }
  json::object choice{{"index", 0}, {"message", std::move(message)}, {"logprobs", nullptr},
                      {"finish_reason", openai_finish(answer)}};
  json::object body{{"id", answer.id}, {"object", "chat.completion"}, {"created", kCreated}, {"model", answer.model}};
  body["choices"] = json::array{std::move(choice)};
  body["usage"] = openai_usage(answer);
  body["system_fingerprint"] = "fp_fake";
  return json::serialize(body);
}

std::vector<std::string> openai_stream_frames(const FakeAnswer& answer, bool include_usage) {
  std::vector<std::string> frames;
  auto chunk = [&](json::object delta, json::value finish_reason) {
    json::object choice{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                        {"finish_reason", std::move(finish_reason)}};
    json::object body{{"id", answer.id}, {"object", "chat.completion.chunk"}, {"created", kCreated},
                      {"model", answer.model}, {"system_fingerprint", "fp_fake"}};
    body["choices"] = json::array{std::move(choice)};
    if (include_usage) body["usage"] = nullptr;
    frames.push_back(data_frame(body));
  };
  chunk(json::object{{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr);
  if (!answer.thinking.empty())
    for (const auto& piece : split_text(answer.thinking, 2)) chunk(json::object{{"reasoning_content", piece}}, nullptr);
  if (!answer.text.empty())
    for (const auto& piece : split_text(answer.text, answer.text_pieces)) chunk(json::object{{"content", piece}}, nullptr);
  for (std::size_t i = 0; i < answer.tool_calls.size(); ++i) {
    const auto& call = answer.tool_calls[i];
    json::object first{{"index", static_cast<long>(i)}, {"id", call.id}, {"type", "function"},
                       {"function", json::object{{"name", call.name}, {"arguments", ""}}}};
    chunk(json::object{{"tool_calls", json::array{std::move(first)}}}, nullptr);
    for (const auto& piece : split_text(call.arguments, 3)) {
      json::object more{{"index", static_cast<long>(i)}, {"function", json::object{{"arguments", piece}}}};
      chunk(json::object{{"tool_calls", json::array{std::move(more)}}}, nullptr);
    }
  }
  chunk(json::object{}, json::value(openai_finish(answer)));
  if (include_usage) {
    json::object body{{"id", answer.id}, {"object", "chat.completion.chunk"}, {"created", kCreated},
                      {"model", answer.model}, {"system_fingerprint", "fp_fake"}, {"choices", json::array{}}};
    body["usage"] = openai_usage(answer);
    frames.push_back(data_frame(body));
  }
  frames.push_back("data: [DONE]\n\n");
  return frames;
}

std::string openai_error_json(std::string_view type, std::string_view message, std::string_view code) {
  json::object error{{"message", message}, {"type", type}, {"param", nullptr}};
  error["code"] = code.empty() ? json::value(nullptr) : json::value(code);
  return json::serialize(json::object{{"error", std::move(error)}});
}

ScriptedResponse protocol_answer(const RecordedRequest& request) {
  if (request.method == "GET" && request.target.starts_with("/v1/models")) {
    // One list both protocols can read: OpenAI's fields and Anthropic's side by side.
    return json_response(200, R"({"object":"list","data":[{"id":"fake-model","object":"model","type":"model",)"
                              R"("created":1767225600,"created_at":"2026-01-01T00:00:00Z","owned_by":"fake",)"
                              R"("display_name":"Fake model"}],"has_more":false})");
  }
  bool anthropic = request.target.starts_with("/v1/messages");
  boost::system::error_code ec;
  json::value body = json::parse(request.body, ec);
  std::string model = "fake-model";
  bool stream = false;
  if (!ec && body.is_object()) {
    if (const auto* m = body.as_object().if_contains("model"); m && m->is_string()) model = std::string(m->as_string());
    if (const auto* s = body.as_object().if_contains("stream"); s && s->is_bool()) stream = s->as_bool();
  }
  if (model.starts_with("error-")) {
    int status = std::atoi(model.c_str() + 6);
    if (status < 400 || status > 599) status = 500;
    HeaderList headers;
    if (status == 429 || status == 529) headers.emplace_back("retry-after", "1");
    std::string message = "fake upstream error " + std::to_string(status);
    if (anthropic) {
      std::string type = status == 429 ? "rate_limit_error" : status == 529 ? "overloaded_error"
                         : status == 401 ? "authentication_error" : status == 404 ? "not_found_error"
                         : status >= 500 ? "api_error" : "invalid_request_error";
      return json_response(status, anthropic_error_json(type, message), std::move(headers));
    }
    std::string type = status == 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
    return json_response(status, openai_error_json(type, message), std::move(headers));
  }
  if (request.target == "/v1/messages/count_tokens") return json_response(200, R"({"input_tokens":17})");
  FakeAnswer answer;
  answer.model = model;
  if (model.find("tools") != std::string::npos) {
    answer.text = "Checking the weather.";
    answer.tool_calls.push_back({anthropic ? "toolu_fake1" : "call_fake1", "get_weather", R"({"city":"Paris"})"});
    answer.tool_calls.push_back({anthropic ? "toolu_fake2" : "call_fake2", "get_time", R"({"tz":"CET"})"});
  }
  if (model.find("think") != std::string::npos) answer.thinking = "Thinking it over.";
  if (!anthropic) answer.id = "chatcmpl-fake01";
  if (anthropic) return stream ? sse_response(anthropic_stream_frames(answer)) : json_response(200, anthropic_message_json(answer));
  if (stream) {
    bool usage = false;
    if (const auto* options = body.is_object() ? body.as_object().if_contains("stream_options") : nullptr)
      if (options->is_object())
        if (const auto* include = options->as_object().if_contains("include_usage"); include && include->is_bool())
          usage = include->as_bool();
    return sse_response(openai_stream_frames(answer, usage));
  }
  return json_response(200, openai_chat_json(answer));
}

}  // namespace tandem::fakes
