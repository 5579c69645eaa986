// Streaming: the SSE parser, the exact frames both protocols' writers produce, and decoding
// providers' streams back into events.
#include "schema_test_util.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/sse.h"
#include "schemas/stream_writer.h"

#include <gtest/gtest.h>

#include <random>

namespace tandem::schemas {
namespace {

using test::fixture_text;

// ---------------------------------------------------------------- SSE parser

std::vector<SseEvent> parse_whole(std::string_view text) {
  SseParser parser;
  return parser.feed(text);
}

std::vector<SseEvent> parse_byte_by_byte(std::string_view text) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (char c : text) parser.feed(std::string_view(&c, 1), events);
  return events;
}

std::string with_line_ends(std::string_view text, std::string_view line_end) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += line_end;
    } else {
      out += c;
    }
  }
  return out;
}

TEST(SseParser, FieldsCommentsAndMultiLineData) {
  auto events = parse_whole(
      ": comment\n"
      "event: greeting\n"
      "data: hello\n"
      "data:  world\n"
      "id: 7\n"
      "retry: 1500\n"
      "unknown: ignored\n"
      "\n"
      "data\n"  // a field name alone: empty data
      "\n"
      "event: no-data-is-dropped\n"
      "\n"
      "data:x\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event, "greeting");
  EXPECT_EQ(events[0].data, "hello\n world");  // only the first space after the colon goes
  EXPECT_EQ(events[0].id, "7");
  EXPECT_EQ(events[0].retry, 1500);
  EXPECT_EQ(events[1], (SseEvent{"", "", "", std::nullopt}));
  EXPECT_EQ(events[2].data, "x");
  EXPECT_EQ(events[2].event, "");
}

TEST(SseParser, LineEndsLfCrlfAndCrGiveTheSameEvents) {
  std::string stream = fixture_text("streams/anthropic_provider_stream.txt");
  auto lf = parse_whole(stream);
  ASSERT_EQ(lf.size(), 13u);
  EXPECT_EQ(parse_whole(with_line_ends(stream, "\r\n")), lf);
  EXPECT_EQ(parse_whole(with_line_ends(stream, "\r")), lf);
  EXPECT_EQ(lf[0].event, "message_start");
  EXPECT_EQ(lf[12].event, "message_stop");
}

TEST(SseParser, ByteByByteEqualsWhole) {
  for (const char* name : {"streams/anthropic_provider_stream.txt", "streams/openai_provider_stream.txt"}) {
    std::string stream = fixture_text(name);
    for (std::string_view line_end : {"\n", "\r\n", "\r"}) {
      std::string text = with_line_ends(stream, line_end);
      auto whole = parse_whole(text);
      EXPECT_FALSE(whole.empty());
      EXPECT_EQ(parse_byte_by_byte(text), whole) << name << " with line end " << int(line_end.back());
    }
  }
}

TEST(SseParser, RandomSplitsEqualWhole) {
  std::string text = with_line_ends(fixture_text("streams/openai_provider_stream.txt"), "\r\n");
  auto whole = parse_whole(text);
  std::mt19937 random(1234);
  for (int trial = 0; trial < 50; ++trial) {
    SseParser parser;
    std::vector<SseEvent> events;
    size_t at = 0;
    while (at < text.size()) {
      size_t length = std::uniform_int_distribution<size_t>(1, 40)(random);
      parser.feed(std::string_view(text).substr(at, length), events);
      at += length;
    }
    EXPECT_EQ(events, whole);
  }
}

TEST(SseParser, ByteOrderMarkAndTruncatedStream) {
  SseParser parser;
  auto events = parser.feed("\xEF\xBB\xBF" "data: first\n\ndata: partial");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "first");
  EXPECT_TRUE(parser.finish());  // the unterminated event is reported, not delivered
  SseParser clean;
  clean.feed("data: x\n\n");
  EXPECT_FALSE(clean.finish());
}

TEST(SseParser, OversizedEventIsAnErrorNotUnboundedGrowth) {
  SseParser parser(64);
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.feed("data: ok\n\n", events));
  EXPECT_FALSE(parser.feed("data: " + std::string(100, 'x'), events));
  EXPECT_FALSE(parser.error().empty());
  EXPECT_FALSE(parser.feed("\n\n", events));
  EXPECT_EQ(events.size(), 1u);
}

// The scanning helpers against the standard library's own answers.
TEST(SseScan, FindTextAgreesWithStringViewFind) {
  std::mt19937 random(20261130);
  // A small alphabet makes near misses (first and last byte match, the middle does not) common.
  auto text_of = [&](std::size_t length, std::string_view alphabet) {
    std::string text;
    for (std::size_t i = 0; i < length; ++i) text += alphabet[random() % alphabet.size()];
    return text;
  };
  for (int round = 0; round < 20000; ++round) {
    const std::string text = text_of(random() % 90, round % 2 ? "ab\"" : "\"usage:{}0 ");
    std::string part;
    if (!text.empty() && random() % 2) {  // a piece of the text: found somewhere
      const std::size_t from = random() % text.size();
      part = text.substr(from, random() % 24);
    } else {
      part = text_of(random() % 8, round % 2 ? "ab\"" : "\"usage:{}0 ");
    }
    ASSERT_EQ(find_text(text, part), std::string_view(text).find(part)) << "text '" << text << "' part '" << part << "'";
  }
  const std::string chunk = R"(data: {"id":"c","choices":[{"delta":{"content":"hi"}}],"usage":{"prompt_tokens":3}})";
  EXPECT_EQ(find_text(chunk, "\"usage\""), chunk.find("\"usage\""));
  EXPECT_FALSE(contains_text(chunk, "\"reasoning_content\":\""));
}

TEST(SseScan, LineEndIsTheFirstCrOrLf) {
  for (std::string_view text : {"", "abc", "a\nb", "a\rb\n", "ab\r\n", "\n\r", "abc\r", "x\ny\rz"}) {
    for (std::size_t from = 0; from <= text.size(); ++from) {
      EXPECT_EQ(sse_line_end(text, from), text.find_first_of("\r\n", from)) << "'" << text << "' from " << from;
    }
  }
}

TEST(SseFormat, NamedEventsAndMultiLineData) {
  EXPECT_EQ(format_sse("ping", R"({"type":"ping"})"), "event: ping\ndata: {\"type\":\"ping\"}\n\n");
  EXPECT_EQ(format_sse_data("[DONE]"), "data: [DONE]\n\n");
  EXPECT_EQ(format_sse_data("a\nb"), "data: a\ndata: b\n\n");
  EXPECT_EQ(format_sse_comment("keep-alive"), ": keep-alive\n\n");
  EXPECT_EQ(parse_whole(format_sse("x", "a\nb")).at(0), (SseEvent{"x", "a\nb", "", std::nullopt}));
}

// ---------------------------------------------------------------- writers

std::vector<StreamEvent> sample_events() {
  return {
      MessageStart{"", "", 0, Usage{25, 1, std::nullopt, std::nullopt}},
      ThinkingDelta{"Let me think.", ""},
      ThinkingDelta{"", "sig123"},
      TextDelta{"Hello", {}},
      TextDelta{", world", {}},
      ToolCallStart{0, "call_1", "get_weather"},
      ToolCallDelta{0, "{\"city\":"},
      ToolCallDelta{0, "\"Paris\"}"},
      Finish{FinishReason::tool_calls, "", Usage{25, 15, std::nullopt, std::nullopt}},
  };
}

StreamWriterOptions fixed_options(std::string id, bool include_usage) {
  return StreamWriterOptions{std::move(id), "tandem-test", 1700000000, include_usage};
}

std::string write_all(StreamWriter& writer, const std::vector<StreamEvent>& events) {
  std::string out;
  for (const auto& event : events) out += writer.write(event);
  return out;
}

TEST(StreamWriter, OpenAiChatExactFrames) {
  OpenAiChatStreamWriter writer(fixed_options("chatcmpl-test", true));
  EXPECT_EQ(write_all(writer, sample_events()), fixture_text("streams/openai_chat_stream.txt"));
  EXPECT_TRUE(writer.finished());
  EXPECT_EQ(writer.write(TextDelta{"late", {}}), "");
}

TEST(StreamWriter, OpenAiChatWithoutUsageChunk) {
  OpenAiChatStreamWriter writer(fixed_options("chatcmpl-test", false));
  std::string out = write_all(writer, {TextDelta{"Hi", {}}, Finish{FinishReason::stop, "", {}}});
  auto events = parse_whole(out);
  ASSERT_EQ(events.size(), 4u);  // implicit role chunk, content, finish, [DONE]
  EXPECT_NE(events[0].data.find(R"("delta":{"role":"assistant","content":""})"), std::string::npos);
  EXPECT_EQ(events[0].data.find("usage"), std::string::npos);
  EXPECT_NE(events[2].data.find(R"("finish_reason":"stop")"), std::string::npos);
  EXPECT_EQ(events[3].data, "[DONE]");
}

TEST(StreamWriter, OpenAiCompletionExactFrames) {
  OpenAiCompletionStreamWriter writer(fixed_options("cmpl-test", true));
  std::vector<StreamEvent> events = {
      MessageStart{},
      TextDelta{"Once", {{"Once", -0.5, {{"Once", -0.5}, {"One", -1.5}}}}},
      TextDelta{" upon", {{" upon", -0.25, {{" upon", -0.25}}}}},
      Finish{FinishReason::length, "", Usage{3, 2, std::nullopt, std::nullopt}},
  };
  EXPECT_EQ(write_all(writer, events), fixture_text("streams/openai_completion_stream.txt"));
}

TEST(StreamWriter, AnthropicExactFrames) {
  AnthropicStreamWriter writer(fixed_options("msg_test", false));
  EXPECT_EQ(write_all(writer, sample_events()), fixture_text("streams/anthropic_stream.txt"));
}

TEST(StreamWriter, AnthropicEventOrder) {
  AnthropicStreamWriter writer(fixed_options("msg_test", false));
  std::vector<std::string> names;
  for (const auto& event : parse_whole(write_all(writer, sample_events()))) names.push_back(event.event);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
                       "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta",
                       "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta",
                       "content_block_stop", "message_delta", "message_stop"}));
}

TEST(StreamWriter, AnthropicStopSequenceAndEmptyAnswer) {
  AnthropicStreamWriter writer(fixed_options("msg_test", false));
  auto events = parse_whole(write_all(writer, {MessageStart{}, Finish{FinishReason::stop_sequence, "###", {}}}));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].event, "ping");
  EXPECT_EQ(boost::json::parse(events[2].data),
            boost::json::parse(R"({"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"###"},"usage":{"output_tokens":0}})"));
}

TEST(StreamWriter, ErrorsMidStream) {
  ApiError error = make_error(ErrorKind::overloaded, "Overloaded");
  AnthropicStreamWriter anthropic(fixed_options("msg_test", false));
  std::string out = write_all(anthropic, {MessageStart{}, TextDelta{"Hi", {}}, StreamError{error}});
  auto events = parse_whole(out);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event, "error");
  EXPECT_EQ(boost::json::parse(events.back().data),
            boost::json::parse(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));
  EXPECT_TRUE(anthropic.finished());

  OpenAiChatStreamWriter openai(fixed_options("chatcmpl-test", false));
  auto openai_events = parse_whole(write_all(openai, {TextDelta{"Hi", {}}, StreamError{error}}));
  ASSERT_GE(openai_events.size(), 2u);
  EXPECT_EQ(openai_events.back().data, "[DONE]");
  EXPECT_EQ(boost::json::parse(openai_events[openai_events.size() - 2].data).at("error").at("message").as_string(),
            "Overloaded");
}

TEST(StreamWriter, FactoryPicksByProtocolAndEndpoint) {
  EXPECT_NE(dynamic_cast<AnthropicStreamWriter*>(make_stream_writer(Protocol::anthropic, Endpoint::messages, {}).get()), nullptr);
  EXPECT_NE(dynamic_cast<OpenAiCompletionStreamWriter*>(make_stream_writer(Protocol::openai, Endpoint::completions, {}).get()), nullptr);
  EXPECT_NE(dynamic_cast<OpenAiChatStreamWriter*>(make_stream_writer(Protocol::openai, Endpoint::chat_completions, {}).get()), nullptr);
  auto writer = make_stream_writer(Protocol::openai, Endpoint::chat_completions, {});
  auto events = parse_whole(writer->write(TextDelta{"x", {}}));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(boost::json::parse(events[0].data).at("id").as_string().subview().substr(0, 9), "chatcmpl-");
}

// ---------------------------------------------------------------- provider streams

template <class Decoder>
std::vector<StreamEvent> decode_stream(std::string_view text) {
  SseParser parser;
  Decoder decoder;
  std::vector<StreamEvent> events;
  for (const auto& sse : parser.feed(text)) {
    for (auto& event : decoder.decode(sse)) events.push_back(std::move(event));
  }
  for (auto& event : decoder.finish()) events.push_back(std::move(event));
  return events;
}

TextResult fold(const std::vector<StreamEvent>& events) {
  ResultBuilder builder;
  for (const auto& event : events) builder.add(event);
  EXPECT_TRUE(builder.finished());
  EXPECT_FALSE(builder.error().has_value()) << builder.error()->message;
  return builder.result();
}

TEST(ProviderStream, OpenAiChunksDecodeToEvents) {
  auto events = decode_stream<OpenAiStreamDecoder>(fixture_text("streams/openai_provider_stream.txt"));
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(std::get<MessageStart>(events[0]).id, "chatcmpl-123");
  EXPECT_EQ(std::get<TextDelta>(events[1]).text, "Let me check.");
  EXPECT_EQ(std::get<ToolCallStart>(events[2]).name, "get_weather");
  EXPECT_EQ(std::get<ToolCallDelta>(events[3]).arguments, "{\"location\":");
  const auto& finish = std::get<Finish>(events[5]);
  EXPECT_EQ(finish.reason, FinishReason::tool_calls);
  EXPECT_EQ(finish.usage.input_tokens, 20);
  EXPECT_EQ(finish.usage.output_tokens, 12);

  TextResult result = fold(events);
  EXPECT_EQ(result.model, "gpt-4o-mini");
  EXPECT_EQ(result.created, 1694268190);
  EXPECT_EQ(std::get<ToolCallPart>(result.content.at(1)).arguments, "{\"location\":\"Paris\"}");
}

TEST(ProviderStream, AnthropicEventsDecodeToEvents) {
  auto events = decode_stream<AnthropicStreamDecoder>(fixture_text("streams/anthropic_provider_stream.txt"));
  TextResult result = fold(events);
  EXPECT_EQ(result.id, "msg_014p7gG3wDgGV9EUtLvnow3U");
  EXPECT_EQ(result.text(), "Okay, let me check the weather.");
  const auto& call = std::get<ToolCallPart>(result.content.at(1));
  EXPECT_EQ(call.id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
  EXPECT_EQ(boost::json::parse(call.arguments), boost::json::parse(R"({"location": "San Francisco, CA"})"));
  EXPECT_EQ(result.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(result.usage.input_tokens, 472);
  EXPECT_EQ(result.usage.output_tokens, 89);
}

TEST(ProviderStream, TruncatedAndErrorStreams) {
  std::string stream = fixture_text("streams/anthropic_provider_stream.txt");
  auto cut = decode_stream<AnthropicStreamDecoder>(stream.substr(0, stream.find("event: message_delta")));
  ASSERT_TRUE(std::holds_alternative<StreamError>(cut.back()));
  EXPECT_EQ(std::get<StreamError>(cut.back()).error.kind, ErrorKind::api_error);

  auto failed = decode_stream<AnthropicStreamDecoder>(
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(std::get<StreamError>(failed[0]).error.kind, ErrorKind::overloaded);

  auto no_done = decode_stream<OpenAiStreamDecoder>("data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n");
  ASSERT_TRUE(std::holds_alternative<StreamError>(no_done.back()));

  auto garbage = decode_stream<OpenAiStreamDecoder>("data: {not json\n\n");
  ASSERT_EQ(garbage.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<StreamError>(garbage[0]));
}

// Our writers' output, read back by the provider decoders, gives the same answer: the two halves
// agree on both wire formats.
TEST(ProviderStream, WritersAndDecodersRoundTrip) {
  TextResult expected = fold(sample_events());

  AnthropicStreamWriter anthropic(fixed_options("msg_test", false));
  TextResult via_anthropic = fold(decode_stream<AnthropicStreamDecoder>(write_all(anthropic, sample_events())));
  EXPECT_EQ(via_anthropic.id, "msg_test");
  EXPECT_EQ(boost::json::value(anthropic_message_response(via_anthropic)).at("content"),
            boost::json::value(anthropic_message_response(expected)).at("content"));
  EXPECT_EQ(via_anthropic.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(via_anthropic.usage.input_tokens, 25);
  EXPECT_EQ(via_anthropic.usage.output_tokens, 15);

  OpenAiChatStreamWriter openai(fixed_options("chatcmpl-test", true));
  TextResult via_openai = fold(decode_stream<OpenAiStreamDecoder>(write_all(openai, sample_events())));
  EXPECT_EQ(via_openai.id, "chatcmpl-test");
  EXPECT_EQ(via_openai.text(), "Hello, world");
  const auto& thinking = std::get<ThinkingPart>(via_openai.content.at(0));
  EXPECT_EQ(thinking.thinking, "Let me think.");  // as reasoning_content; OpenAI has no signatures
  EXPECT_EQ(std::get<ToolCallPart>(via_openai.content.at(2)).arguments, "{\"city\":\"Paris\"}");
  EXPECT_EQ(via_openai.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(via_openai.usage.input_tokens, 25);
  EXPECT_EQ(via_openai.usage.output_tokens, 15);
}

}  // namespace
}  // namespace tandem::schemas
