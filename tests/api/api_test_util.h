// Helpers of the serving integration tests: JSON requests, streamed text, /metrics values.
#pragma once

#include "tests/api/sse_client.h"
#include "tests/common/http_client.h"
#include "tests/common/tandem_process.h"
#include "tests/common/test_data.h"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace tandem::test {

namespace json = boost::json;

inline HttpResponse post_json(std::uint16_t port, const std::string& target, const json::value& body,
                              const HeaderList& headers = {}) {
  HeaderList all = headers;
  all.emplace_back("content-type", "application/json");
  HttpClient client("127.0.0.1", port, std::chrono::seconds(60));
  return client.request("POST", target, json::serialize(body), all);
}

inline json::value parse(const std::string& text) {
  boost::system::error_code ec;
  auto value = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return value;
}

// The text a stream carried: OpenAI chat deltas, legacy completion texts, or Anthropic text deltas.
struct StreamedText {
  std::string text;
  std::string finish_reason;  // OpenAI finish_reason / Anthropic stop_reason
  bool done = false;          // [DONE] (OpenAI) or message_stop (Anthropic) seen
  std::vector<std::string> event_names;
};

inline void add_event(StreamedText& out, const schemas::SseEvent& event) {
  out.event_names.push_back(event.event);
  if (event.data == "[DONE]") {
    out.done = true;
    return;
  }
  auto value = parse(event.data);
  if (!value.is_object()) return;
  const auto& object = value.as_object();
  if (event.event == "message_stop") out.done = true;
  if (event.event == "content_block_delta") {
    const auto& delta = object.at("delta").as_object();
    if (delta.contains("text")) out.text += delta.at("text").as_string();
  }
  if (event.event == "message_delta") {
    const auto& reason = object.at("delta").as_object().at("stop_reason");
    if (reason.is_string()) out.finish_reason = reason.as_string();
  }
  if (const auto* choices = object.if_contains("choices")) {
    for (const auto& choice : choices->as_array()) {
      const auto& c = choice.as_object();
      if (const auto* text = c.if_contains("text")) out.text += text->as_string();
      if (const auto* delta = c.if_contains("delta")) {
        if (const auto* content = delta->as_object().if_contains("content"); content && content->is_string()) {
          out.text += content->as_string();
        }
      }
      if (const auto* reason = c.if_contains("finish_reason"); reason && reason->is_string()) {
        out.finish_reason = reason->as_string();
      }
    }
  }
}

inline StreamedText stream_text(std::uint16_t port, const std::string& target, json::object body) {
  body["stream"] = true;
  SseClient client(port, target, json::serialize(body));
  StreamedText out;
  EXPECT_EQ(client.status(), 200);
  if (client.status() != 200) {
    ADD_FAILURE() << client.read_body();
    return out;
  }
  while (auto event = client.next_event()) add_event(out, *event);
  return out;
}

// The value of the first /metrics sample whose line starts with `prefix` (name and labels up to
// where they are unique), e.g. metric(text, "tandem_scheduler_running_sequences{").
inline std::optional<double> metric(const std::string& text, const std::string& prefix,
                                    const std::string& must_contain = {}) {
  size_t position = 0;
  while (position < text.size()) {
    size_t end = text.find('\n', position);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + position, end - position);
    if (line.starts_with(prefix) && (must_contain.empty() || line.find(must_contain) != std::string_view::npos)) {
      auto space = line.rfind(' ');
      return std::stod(std::string(line.substr(space + 1)));
    }
    position = end + 1;
  }
  return std::nullopt;
}

inline std::string metrics_text(std::uint16_t port) { return http_request(port, "GET", "/metrics").body; }

// Polls /metrics until `predicate(text)` holds or `limit` passes.
template <class Predicate>
bool metrics_eventually(std::uint16_t port, Predicate predicate,
                        std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (predicate(metrics_text(port))) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline json::object golden_case(size_t index) {
  auto path = shared_file("golden/stories260K.json");
  if (path.empty()) return {};
  return parse(read_file(path)).as_object().at("cases").as_array().at(index).as_object();
}

inline std::string stories_path() { return shared_file("models/stories260K.gguf"); }

}  // namespace tandem::test
