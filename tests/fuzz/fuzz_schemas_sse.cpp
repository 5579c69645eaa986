// libFuzzer target: the SSE parser and both provider-stream decoders. The first input byte picks
// read sizes; the parser must give the same events however the bytes are split, and every event
// sequence must fold and re-render without crashing.
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/sse.h"
#include "schemas/stream_writer.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace tandem::schemas;

template <class Decoder>
static void decode_and_rewrite(const std::vector<SseEvent>& sse_events) {
  Decoder decoder;
  ResultBuilder builder;
  AnthropicStreamWriter anthropic({});
  OpenAiChatStreamWriter openai({});
  OpenAiCompletionStreamWriter legacy({});
  auto handle = [&](const std::vector<StreamEvent>& events) {
    for (const auto& event : events) {
      builder.add(event);
      (void)anthropic.write(event);
      (void)openai.write(event);
      (void)legacy.write(event);
    }
  };
  for (const auto& sse : sse_events) handle(decoder.decode(sse));
  handle(decoder.finish());
  (void)anthropic_message_response(builder.result());
  (void)openai_chat_response(builder.result());
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 16;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  SseParser whole_parser;
  std::vector<SseEvent> whole = whole_parser.feed(text);
  bool whole_truncated = whole_parser.finish();

  SseParser split_parser;
  std::vector<SseEvent> split;
  for (size_t at = 0; at < text.size(); at += chunk) split_parser.feed(text.substr(at, chunk), split);
  bool split_truncated = split_parser.finish();
  if (split != whole || split_truncated != whole_truncated) std::abort();  // splitting must not matter

  decode_and_rewrite<OpenAiStreamDecoder>(whole);
  decode_and_rewrite<AnthropicStreamDecoder>(whole);
  return 0;
}
