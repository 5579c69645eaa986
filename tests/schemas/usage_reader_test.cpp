// Usage read from answers that pass through untouched, in every shape the providers send it.
#include "schemas/usage_reader.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tandem::schemas {
namespace {

TEST(UsageReader, CompleteBodiesOfBothProtocols) {
  UsageReader openai;
  openai.body(R"({"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}})");
  EXPECT_TRUE(openai.found());
  EXPECT_EQ(openai.input_tokens(), 12);
  EXPECT_EQ(openai.output_tokens(), 7);

  UsageReader anthropic;
  anthropic.body(R"({"id":"msg_1","type":"message","usage":{"input_tokens":30,"output_tokens":4,"cache_read_input_tokens":2}})");
  EXPECT_EQ(anthropic.input_tokens(), 30);
  EXPECT_EQ(anthropic.output_tokens(), 4);

  UsageReader none;
  none.body(R"({"error":{"message":"no"}})");
  none.body("not json");
  EXPECT_FALSE(none.found());
}

TEST(UsageReader, AnthropicStreamTakesStartInputAndTheLastCumulativeOutput) {
  UsageReader reader;
  reader.frames("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":"
                "{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"usage\"}}\n\n");
  reader.frames("event: message_delta\r\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\r\n\r\n");
  EXPECT_TRUE(reader.found());
  EXPECT_EQ(reader.input_tokens(), 25);
  EXPECT_EQ(reader.output_tokens(), 15);
}

TEST(UsageReader, OpenAiUsageChunkAndResponsesCompletedEvent) {
  UsageReader chat;
  chat.frames("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
              "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n");
  EXPECT_EQ(chat.input_tokens(), 9);
  EXPECT_EQ(chat.output_tokens(), 3);

  UsageReader responses;
  responses.frames("event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\","
                   "\"usage\":{\"input_tokens\":11,\"output_tokens\":5}}}\n\n");
  EXPECT_EQ(responses.input_tokens(), 11);
  EXPECT_EQ(responses.output_tokens(), 5);

  UsageReader without;
  without.frames("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n");
  EXPECT_FALSE(without.found());

  // include_usage: "usage":null in every chunk before the one that counts.
  UsageReader nulls;
  nulls.frames("data: {\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\"\"}}],\"usage\":null}\n\n"
               "data: {\"choices\":[],\"usage\" : null}\n\n");
  EXPECT_FALSE(nulls.found());
  nulls.frames("data: {\"choices\":[],\"usage\":null,\"x\":{\"usage\": {\"prompt_tokens\":1}}}\n\n"
               "data: {\"choices\":[],\"usage\": {\"prompt_tokens\":7,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n");
  EXPECT_TRUE(nulls.found());
  EXPECT_EQ(nulls.input_tokens(), 7);
  EXPECT_EQ(nulls.output_tokens(), 2);
}

// The reader streams through the JSON without building it; what it finds must be what a lookup in
// the parsed document finds (the reader's first version, kept here as the reference).
std::optional<std::pair<int64_t, int64_t>> usage_by_document(std::string_view text) {
  namespace json = boost::json;
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  const auto& root = value.as_object();
  const json::object* usage = nullptr;
  if (const auto* top = root.if_contains("usage"); top && top->is_object()) usage = &top->as_object();
  for (const char* holder : {"message", "response"}) {
    if (usage) break;
    const auto* inner = root.if_contains(holder);
    if (!inner || !inner->is_object()) continue;
    if (const auto* found = inner->as_object().if_contains("usage"); found && found->is_object()) usage = &found->as_object();
  }
  if (!usage) return std::nullopt;
  auto count_of = [&](std::initializer_list<const char*> names) -> std::optional<int64_t> {
    for (const char* name : names) {
      const auto* count = usage->if_contains(name);
      if (!count) continue;
      if (count->is_int64() && count->as_int64() >= 0) return count->as_int64();
      if (count->is_uint64()) return static_cast<int64_t>(count->as_uint64());
    }
    return std::nullopt;
  };
  auto input = count_of({"input_tokens", "prompt_tokens"});
  auto output = count_of({"output_tokens", "completion_tokens"});
  if (!input && !output) return std::nullopt;
  return std::pair{input.value_or(-1), output.value_or(-1)};
}

TEST(UsageReader, FindsWhatALookupInTheParsedDocumentFinds) {
  const std::vector<std::string> bodies = {
      R"({"usage":{"prompt_tokens":12,"completion_tokens":7}})",
      R"({"choices":[{"usage":{"prompt_tokens":1}}],"usage":{"prompt_tokens":2,"completion_tokens":3}})",
      R"({"choices":[{"usage":{"prompt_tokens":1}}]})",                               // not a place usage is read
      R"({"usage":{"input_tokens":1.5,"prompt_tokens":4,"output_tokens":-2,"completion_tokens":6}})",
      R"({"usage":{"input_tokens":1,"input_tokens":9,"output_tokens":2}})",            // the last one wins
      R"({"usage":{"input_tokens":1},"usage":{"output_tokens":5}})",                   // the last object, whole
      R"({"usage":null,"message":{"usage":{"input_tokens":8,"output_tokens":1}}})",    // on to the next holder
      R"({"usage":{"input_tokens":8},"usage":"none","response":{"usage":{"input_tokens":3}}})",
      R"({"message":{"usage":{"input_tokens":8}},"message":{"id":"m"},"response":{"usage":{"output_tokens":4}}})",
      R"({"message":{"content":[{"usage":{"input_tokens":1}}],"usage":{"input_tokens":21,"output_tokens":0}}})",
      R"({"usag\u0065":{"input_tokens":5,"output_tokens":6}})",                         // an escaped key is the same key
      R"({"text":"\"usage\":{\"input_tokens\":5}","usage":{}})",
      R"({"usage":{"input_tokens":18446744073709551615,"output_tokens":3}})",
      R"({"usage":{"input_tokens":5,"output_tokens":6}} trailing)",
      R"({"usage":{"input_tokens":5,"output_tokens":6})",
      R"([{"usage":{"input_tokens":5}}])",
      R"({"response":{"usage":{"input_tokens":11,"output_tokens":5},"output":[{"usage":{"output_tokens":99}}]}})",
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE(body);
    UsageReader reader;
    reader.body(body);
    auto expected = usage_by_document(body);
    ASSERT_EQ(reader.found(), expected.has_value());
    if (!expected) continue;
    if (expected->first >= 0) {
      EXPECT_EQ(reader.input_tokens(), expected->first);
    }
    if (expected->second >= 0) {
      EXPECT_EQ(reader.output_tokens(), expected->second);
    }
  }
}

}  // namespace
}  // namespace tandem::schemas
