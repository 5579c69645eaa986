// Backend messages are plain data: a fully populated request, every stream event and the replies
// survive CAF's binary serializer field by field (what a backend on another node would receive),
// an actor sink travels as its actor, and an in-process sink refuses to leave its process.
#include "actors/backend/backend.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <vector>

namespace tandem::backend {
namespace {

template <class T>
std::vector<char> save(caf::actor_system& system, T value) {
  std::vector<char> bytes;
  caf::binary_serializer sink{system, bytes};
  auto error = sink(value);
  EXPECT_FALSE(error) << system.render(error);
  return bytes;
}

template <class T>
T load(caf::actor_system& system, const std::vector<char>& bytes) {
  T value;
  caf::binary_deserializer source{system, bytes};
  auto error = source(value);
  EXPECT_FALSE(error) << system.render(error);
  return value;
}

template <class T>
T round_trip(caf::actor_system& system, const T& value) {
  return load<T>(system, save(system, value));
}

class Inspection : public ::testing::Test {
 protected:
  caf::actor_system_config config_;
  caf::actor_system system_{config_};
};

// Every request field the parsers fill, both protocols.
constexpr const char* kOpenAiRequest = R"({
  "model": "m", "n": 2, "seed": 7, "temperature": 0.5, "top_p": 0.9, "presence_penalty": 0.25,
  "frequency_penalty": -0.5, "logit_bias": {"15": -100, "42": 3.5}, "logprobs": true, "top_logprobs": 3,
  "max_tokens": 99, "stop": ["END", "\n\n"], "stream": true, "stream_options": {"include_usage": true},
  "user": "u-1", "parallel_tool_calls": false, "reasoning_effort": "high",
  "response_format": {"type": "json_schema", "json_schema": {"name": "out", "strict": true,
                      "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}},
  "tools": [{"type": "function", "function": {"name": "get", "description": "gets", "strict": true,
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
  "tool_choice": {"type": "function", "function": {"name": "get"}},
  "messages": [
    {"role": "system", "content": "be brief"},
    {"role": "user", "name": "ann", "content": [{"type": "text", "text": "look"},
      {"type": "image_url", "image_url": {"url": "https://x.example/a.png", "detail": "low"}}]},
    {"role": "assistant", "content": "calling", "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get", "arguments": "{\"city\":\"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    {"role": "system", "content": "later system turn"}
  ]})";

constexpr const char* kAnthropicRequest = R"({
  "model": "c", "max_tokens": 2048, "system": "sys", "top_k": 40, "stop_sequences": ["S"],
  "thinking": {"type": "enabled", "budget_tokens": 1024}, "context_management": {"edits": []},
  "metadata": {"user_id": "u-2"},
  "messages": [
    {"role": "user", "content": [{"type": "document", "source": {"type": "text", "media_type": "text/plain",
      "data": "doc text"}, "title": "T"}, {"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]},
    {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "sig"},
      {"type": "redacted_thinking", "data": "opaque"}, {"type": "tool_use", "id": "toolu_1", "name": "get",
      "input": {"city": "Rome"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true,
      "content": [{"type": "text", "text": "failed"}]}]}
  ]})";

void expect_same_request(const schemas::InternalRequest& a, const schemas::InternalRequest& b) {
  // The writers read every field a protocol can say; comparing their output compares the fields.
  EXPECT_EQ(boost::json::serialize(schemas::to_openai_chat_request(a)),
            boost::json::serialize(schemas::to_openai_chat_request(b)));
  EXPECT_EQ(boost::json::serialize(schemas::to_anthropic_request(a)),
            boost::json::serialize(schemas::to_anthropic_request(b)));
  EXPECT_EQ(a.protocol, b.protocol);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.max_tokens, b.max_tokens);
  EXPECT_EQ(a.sampling.seed, b.sampling.seed);
  EXPECT_EQ(a.sampling.n, b.sampling.n);
  EXPECT_EQ(a.sampling.logit_bias, b.sampling.logit_bias);
  EXPECT_EQ(a.sampling.top_logprobs, b.sampling.top_logprobs);
  EXPECT_EQ(a.thinking.mode, b.thinking.mode);
  EXPECT_EQ(a.thinking.budget_tokens, b.thinking.budget_tokens);
  EXPECT_EQ(a.thinking.effort, b.thinking.effort);
  EXPECT_EQ(a.tool_choice.disable_parallel_tool_use, b.tool_choice.disable_parallel_tool_use);
  EXPECT_EQ(a.response_format.schema, b.response_format.schema);
  EXPECT_EQ(a.context_management, b.context_management);
  EXPECT_EQ(a.include_usage, b.include_usage);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.original, b.original);
  EXPECT_EQ(a.messages.size(), b.messages.size());
}

TEST_F(Inspection, RequestsOfBothProtocolsSurviveTheWire) {
  for (const char* body : {kOpenAiRequest, kAnthropicRequest}) {
    auto parsed = body == kOpenAiRequest ? schemas::parse_openai_chat_request(body, "application/json")
                                         : schemas::parse_anthropic_messages_request(body, "application/json");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    BackendRequest request;
    request.request = *parsed;
    request.requested_model = "provider/m";
    request.request_id = "req_1";
    request.raw_body = body;
    request.forward_headers = {{"anthropic-beta", "b1"}};
    request.can_fall_back = true;
    request.received_at = std::chrono::steady_clock::time_point{} + std::chrono::nanoseconds(123456789);

    BackendRequest copy = round_trip(system_, request);

    expect_same_request(request.request, copy.request);
    EXPECT_EQ(copy.requested_model, "provider/m");
    EXPECT_EQ(copy.request_id, "req_1");
    EXPECT_EQ(copy.raw_body, body);
    EXPECT_EQ(copy.forward_headers, request.forward_headers);
    EXPECT_TRUE(copy.can_fall_back);
    EXPECT_EQ(copy.received_at, request.received_at);
  }
}

TEST_F(Inspection, EveryStreamEventSurvivesTheWire) {
  schemas::Usage usage{11, 22, 33, std::nullopt, 7};
  schemas::TextDelta text{"hé", {{"h", -0.5, {{"h", -0.5}, {"x", -2.0}}}}};
  std::vector<BackendEvent> events = {
      schemas::StreamEvent(schemas::MessageStart{"msg_1", "m", 1700000000, usage}),
      schemas::StreamEvent(text),
      schemas::StreamEvent(schemas::ThinkingDelta{"think", "sig"}),
      schemas::StreamEvent(schemas::ToolCallStart{1, "call_9", "get"}),
      schemas::StreamEvent(schemas::ToolCallDelta{1, "{\"a\":"}),
      schemas::StreamEvent(schemas::Finish{schemas::FinishReason::stop_sequence, "END", usage}),
      schemas::StreamEvent(schemas::StreamError{schemas::make_error(schemas::ErrorKind::rate_limit, "slow down")}),
      ResponseHead{429, {{"retry-after", "3"}}, true},
      RawBytes{"data: {}\n\n"},
      QueueWaiting{4},
      ChoiceEvent{1, schemas::TextDelta{"second", {}}},
  };
  for (std::size_t i = 0; i < events.size(); ++i) {
    BackendEvent copy = round_trip(system_, events[i]);
    ASSERT_EQ(copy.index(), events[i].index()) << "event " << i;
  }
  auto start = std::get<schemas::MessageStart>(std::get<schemas::StreamEvent>(round_trip(system_, events[0])));
  EXPECT_EQ(start.id, "msg_1");
  EXPECT_EQ(start.created, 1700000000);
  EXPECT_EQ(start.usage.cache_read_tokens, 33);
  EXPECT_FALSE(start.usage.cache_creation_tokens);
  auto delta = std::get<schemas::TextDelta>(std::get<schemas::StreamEvent>(round_trip(system_, events[1])));
  EXPECT_EQ(delta.text, "hé");
  ASSERT_EQ(delta.logprobs.size(), 1u);
  ASSERT_EQ(delta.logprobs[0].top.size(), 2u);
  EXPECT_EQ(delta.logprobs[0].top[1].logprob, -2.0);
  auto finish = std::get<schemas::Finish>(std::get<schemas::StreamEvent>(round_trip(system_, events[5])));
  EXPECT_EQ(finish.reason, schemas::FinishReason::stop_sequence);
  EXPECT_EQ(finish.stop_sequence, "END");
  EXPECT_EQ(finish.usage.output_tokens, 22);
  EXPECT_EQ(finish.usage.reasoning_tokens, 7);
  auto failure = std::get<schemas::StreamError>(std::get<schemas::StreamEvent>(round_trip(system_, events[6])));
  EXPECT_EQ(failure.error.kind, schemas::ErrorKind::rate_limit);
  EXPECT_EQ(failure.error.message, "slow down");
  auto head = std::get<ResponseHead>(round_trip(system_, events[7]));
  EXPECT_EQ(head.status, 429);
  EXPECT_TRUE(head.event_stream);
  EXPECT_EQ(head.headers, (HeaderList{{"retry-after", "3"}}));
  EXPECT_EQ(std::get<RawBytes>(round_trip(system_, events[8])).bytes, "data: {}\n\n");
  EXPECT_EQ(std::get<QueueWaiting>(round_trip(system_, events[9])).position, 4);
  auto choice = std::get<ChoiceEvent>(round_trip(system_, events[10]));
  EXPECT_EQ(choice.index, 1);
  EXPECT_EQ(std::get<schemas::TextDelta>(choice.event).text, "second");
}

TEST_F(Inspection, RepliesSurviveTheWire) {
  GenerateReply reply = GenerateReply::refuse(schemas::make_error(schemas::ErrorKind::unavailable, "down"), "breaker_open");
  reply.error.retry_after = 5;
  reply.fallbacks = {"local/a"};
  auto copy = round_trip(system_, reply);
  EXPECT_FALSE(copy.accepted);
  EXPECT_EQ(copy.error.retry_after, 5);
  EXPECT_EQ(copy.fallback_reason, "breaker_open");
  EXPECT_EQ(copy.fallbacks, reply.fallbacks);
  EXPECT_EQ(round_trip(system_, TokenCount::of(12)).tokens, 12);
}

TEST_F(Inspection, AnActorSinkTravelsAsItsActorAndAnInProcessSinkStaysHome) {
  auto receiver = system_.spawn([]() -> caf::behavior { return {[](int) {}}; });
  EventSink remote(receiver);
  EventSink copy = round_trip(system_, remote);
  EXPECT_FALSE(copy.is_local());
  EXPECT_EQ(copy.actor(), receiver);

  auto [tx, rx] = actors::make_event_stream<BackendEvent>(4);
  std::vector<char> bytes;
  caf::binary_serializer sink{system_, bytes};
  EXPECT_TRUE(sink(EventSink(tx)));  // an error, naming why
  caf::anon_send_exit(receiver, caf::exit_reason::user_shutdown);
}

// A field added to one of these types must be added to actors/backend/inspect.h too, or it
// silently vanishes on the wire. These sizes (x86-64, libstdc++) trip when a type changes.
TEST(InspectionTripwire, TypesHaveTheFieldsInspectListsForThem) {
  EXPECT_EQ(sizeof(schemas::InternalRequest), 656u) << "InternalRequest changed: update inspect.h, then this size";
  EXPECT_EQ(sizeof(schemas::SamplingParams), 144u) << "SamplingParams changed: update inspect.h, then this size";
  EXPECT_EQ(sizeof(schemas::ThinkingConfig), 24u) << "ThinkingConfig changed: update inspect.h, then this size";
  EXPECT_EQ(sizeof(schemas::Usage), 64u) << "Usage changed: update inspect.h, then this size";
  EXPECT_EQ(sizeof(schemas::Message), 64u) << "Message changed: update inspect.h, then this size";
  EXPECT_EQ(sizeof(schemas::ToolResultPart), 120u) << "ToolResultPart changed: update inspect.h, then this size";
  EXPECT_EQ(sizeof(schemas::MessageStart), 136u) << "MessageStart changed: update inspect.h, then this size";
  EXPECT_EQ(sizeof(schemas::Finish), 104u) << "Finish changed: update inspect.h, then this size";
  EXPECT_EQ(sizeof(BackendRequest), 792u) << "BackendRequest changed: update backend.h's inspect, then this size";
}

}  // namespace
}  // namespace tandem::backend
