// Usage read from answers that pass through untouched, in every shape the providers send it.
#include "schemas/usage_reader.h"

#include <gtest/gtest.h>

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
}

}  // namespace
}  // namespace tandem::schemas
