// libFuzzer target: every request parser (both protocols, all endpoints) and, when a request
// parses, its translations, which must parse again; plus the provider-response parsers. Any crash, sanitizer report or
// exception escaping is a bug: bad input must come back as an ApiError.
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/refusals.h"
#include "schemas/responses.h"
#include "schemas/translate.h"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace tandem::schemas;

static void exercise(const Result<InternalRequest>& parsed) {
  if (!parsed.ok()) {
    (void)render_error(parsed.error(), Protocol::openai);
    (void)render_error(parsed.error(), Protocol::anthropic);
    return;
  }
  const InternalRequest& request = *parsed;
  (void)boost::json::serialize(to_anthropic_request(request));
  (void)boost::json::serialize(to_openai_chat_request(request));
  (void)boost::json::serialize(request_for_provider(request, Protocol::openai, "m"));
  (void)boost::json::serialize(request_for_provider(request, Protocol::anthropic, "m"));
  // What a translated request parses back into must be valid again in the other protocol.
  auto anthropic = anthropic_messages_request_from_json(to_anthropic_request(request));
  if (anthropic.ok()) (void)to_openai_chat_request(*anthropic);
  (void)refuse_unsupported(request, BackendSupport{});
}

static void require(bool condition, const char* what, const Result<InternalRequest>& again) {
  if (condition) return;
  std::fprintf(stderr, "round trip broken: %s: %s\n", what,
               again.ok() ? "(parsed)" : boost::json::serialize(render_error(again.error(), Protocol::openai)).c_str());
  std::abort();
}

// A chat request that parses must be written back in its own protocol in a form that parses
// again (an OpenAI conversation keeps its message count; Anthropic's writer may merge adjacent
// turns of one role), and translated to the other protocol in a form that parses there unless
// the translation refuses it by name (refuse_untranslatable: what the other protocol cannot say).
static void check_round_trip(const Result<InternalRequest>& parsed) {
  if (!parsed.ok() || parsed->endpoint == Endpoint::completions) return;
  const InternalRequest& request = *parsed;
  if (request.protocol == Protocol::openai) {
    auto again = openai_chat_request_from_json(to_openai_chat_request(request));
    require(again.ok(), "to_openai_chat_request does not parse", again);
    // (A message with no content at all is written without it and may be dropped.)
    const bool all_have_content = std::all_of(request.messages.begin(), request.messages.end(),
                                              [](const Message& m) { return !m.content.empty(); });
    if (all_have_content) {
      require(again->messages.size() == request.messages.size(), "openai: message count changed", again);
    }
  } else if (request.endpoint != Endpoint::count_tokens && has_anthropic_turn(request)) {
    // (Anthropic's writer lifts system turns into `system` and drops empty texts: a conversation
    // with no other turn has no messages left, which Anthropic refuses. Such a request is only
    // ever passed through as the client sent it, never re-written.)
    auto again = anthropic_messages_request_from_json(to_anthropic_request(request));
    require(again.ok(), "to_anthropic_request does not parse", again);
  }
  if (request.endpoint == Endpoint::count_tokens) return;
  const Protocol other = request.protocol == Protocol::openai ? Protocol::anthropic : Protocol::openai;
  if (refuse_untranslatable(request, other)) return;
  const boost::json::object translated = request_for_provider(request, other, "m");
  auto there = other == Protocol::anthropic ? anthropic_messages_request_from_json(translated)
                                            : openai_chat_request_from_json(translated);
  require(there.ok(), other == Protocol::anthropic ? "translation to Anthropic does not parse"
                                                   : "translation to OpenAI does not parse",
          there);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  exercise(parse_openai_chat_request(body, "application/json"));
  check_round_trip(parse_openai_chat_request(body, "application/json"));
  check_round_trip(parse_anthropic_messages_request(body, "application/json"));
  exercise(parse_openai_completion_request(body, "application/json"));
  exercise(parse_anthropic_messages_request(body, "application/json"));
  exercise(parse_anthropic_count_tokens_request(body, ""));
  auto responses = parse_responses_request(body, "application/json");
  exercise(responses);
  if (responses.ok()) {
    TextResult empty;
    (void)boost::json::serialize(responses_response(*responses, empty));
  }

  if (auto result = parse_openai_chat_response(body); result.ok()) {
    (void)boost::json::serialize(anthropic_message_response(*result));
    (void)boost::json::serialize(openai_chat_response(*result));
  }
  if (auto result = parse_anthropic_message_response(body); result.ok()) {
    (void)boost::json::serialize(openai_chat_response(*result));
    (void)boost::json::serialize(responses_response(InternalRequest{}, *result));
    (void)boost::json::serialize(openai_completion_response(*result));
  }
  return 0;
}
