// CAF inspection of everything a backend message carries, so requests, events and replies are
// plain data that can be serialized — the precondition for a backend on another node (remote CAF
// actors): an engine host would receive `(generate_atom, BackendRequest, EventSink)` and send
// BackendEvents back to an actor sink.
//
// schemas/ knows nothing of CAF, so its types are inspected here, where they enter messages.
// CAF 0.17 inspects strings, numbers, enums, vectors and pairs itself; std::optional,
// std::variant and JSON values get the adapters below (a variant travels as its index, then the
// alternative; a JSON value as its serialized text). Every field of every type is listed: a field
// left out would silently vanish on the wire (tests/actors/backend/inspect_test.cpp round-trips
// fully populated values through CAF's binary serializer and compares them field by field).
#pragma once

#include "schemas/internal.h"

#include <caf/all.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace tandem::inspection {

template <class T>
struct OptionalField {
  std::optional<T>& value;
};
template <class T>
OptionalField<T> optional_field(std::optional<T>& value) {
  return {value};
}

struct JsonField {
  boost::json::value& value;
};
inline JsonField json_field(boost::json::value& value) { return {value}; }

// An optional travels as (present, value); an absent one writes a default value.
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, OptionalField<T>& field) {
  if constexpr (Inspector::writes_state) {
    bool present = false;
    T value{};
    auto store = caf::meta::load_callback([&]() -> caf::error {
      if (present) field.value = std::move(value);
      else field.value.reset();
      return caf::none;
    });
    return f(present, value, store);
  } else {
    bool present = field.value.has_value();
    T value = present ? *field.value : T{};
    return f(present, value);
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, JsonField& field) {
  if constexpr (Inspector::writes_state) {
    std::string text;
    auto store = caf::meta::load_callback([&]() -> caf::error {
      boost::system::error_code ec;
      field.value = boost::json::parse(text, ec);
      return ec ? caf::make_error(caf::sec::invalid_argument, "malformed JSON value") : caf::error{};
    });
    return f(text, store);
  } else {
    std::string text = boost::json::serialize(field.value);
    return f(text);
  }
}

template <class... Ts, std::size_t... I>
bool emplace_alternative(std::variant<Ts...>& value, std::size_t index, std::index_sequence<I...>) {
  return ((index == I ? (value.template emplace<I>(), true) : false) || ...);
}

// A variant travels as its index, then the alternative it holds.
template <class Inspector, class... Ts>
typename Inspector::result_type inspect_variant(Inspector& f, std::variant<Ts...>& value) {
  static_assert(sizeof...(Ts) < 256);
  if constexpr (Inspector::writes_state) {
    uint8_t index = 0;
    if (auto error = f(index)) return error;
    if (!emplace_alternative(value, index, std::index_sequence_for<Ts...>{}))
      return caf::make_error(caf::sec::invalid_argument, "variant index out of range");
    return std::visit([&f](auto& alternative) { return f(alternative); }, value);
  } else {
    uint8_t index = static_cast<uint8_t>(value.index());
    return std::visit([&f, index](auto& alternative) mutable { return f(index, alternative); }, value);
  }
}

}  // namespace tandem::inspection

namespace tandem::schemas {

using inspection::json_field;
using inspection::optional_field;

#define TANDEM_INSPECT(Type, ...)                                                   \
  template <class Inspector>                                                        \
  typename Inspector::result_type inspect(Inspector& f, Type& x) {                  \
    return f(caf::meta::type_name("tandem::schemas::" #Type), __VA_ARGS__);        \
  }

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ApiError& x) {
  return f(caf::meta::type_name("tandem::schemas::ApiError"), x.kind, x.message, x.param, x.code, x.status,
           x.retry_after);
}

TANDEM_INSPECT(TextPart, x.text)
TANDEM_INSPECT(ImagePart, x.source, x.media_type, x.data, x.detail, x.origin)
TANDEM_INSPECT(DocumentPart, x.source, x.media_type, x.data, x.title, x.origin)
TANDEM_INSPECT(ToolCallPart, x.id, x.name, x.arguments)
TANDEM_INSPECT(ToolResultPart, x.tool_call_id, x.text, x.images, x.is_error, x.documents)
TANDEM_INSPECT(ThinkingPart, x.thinking, x.signature, x.redacted, x.redacted_data)

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ContentPart& x) {
  return inspection::inspect_variant(f, x);
}

TANDEM_INSPECT(Message, x.role, x.content, x.name)
TANDEM_INSPECT(SamplingParams, optional_field(x.temperature), optional_field(x.top_p), optional_field(x.top_k),
               optional_field(x.presence_penalty), optional_field(x.frequency_penalty), optional_field(x.seed), x.n,
               x.logit_bias, x.logprobs, x.top_logprobs)
TANDEM_INSPECT(ToolDefinition, x.name, x.description, json_field(x.parameters), x.strict)
TANDEM_INSPECT(ToolChoice, x.mode, x.name, x.disable_parallel_tool_use)
TANDEM_INSPECT(ResponseFormat, x.type, x.name, json_field(x.schema), x.strict)
TANDEM_INSPECT(ThinkingConfig, x.mode, x.enabled, x.budget_tokens, x.effort)
TANDEM_INSPECT(ResponsesOptions, x.store, x.previous_response_id, x.instructions, json_field(x.metadata),
               x.reasoning_summary)
TANDEM_INSPECT(Prompt, x.text, x.tokens, x.is_tokens)
TANDEM_INSPECT(InternalRequest, x.protocol, x.endpoint, x.model, x.system, x.messages, x.prompts, x.echo, x.sampling,
               x.stop, optional_field(x.max_tokens), x.tools, x.tool_choice, x.response_format, x.thinking,
               x.context_management, x.responses, x.stream, x.include_usage, x.user, json_field(x.original))

TANDEM_INSPECT(Usage, x.input_tokens, x.output_tokens, optional_field(x.cache_read_tokens),
               optional_field(x.cache_creation_tokens), optional_field(x.reasoning_tokens))
TANDEM_INSPECT(TopLogprob, x.token, x.logprob)
TANDEM_INSPECT(TokenLogprob, x.token, x.logprob, x.top)
TANDEM_INSPECT(MessageStart, x.id, x.model, x.created, x.usage)
TANDEM_INSPECT(TextDelta, x.text, x.logprobs)
TANDEM_INSPECT(ThinkingDelta, x.thinking, x.signature)
TANDEM_INSPECT(ToolCallStart, x.index, x.id, x.name)
TANDEM_INSPECT(ToolCallDelta, x.index, x.arguments)
TANDEM_INSPECT(Finish, x.reason, x.stop_sequence, x.usage)
TANDEM_INSPECT(StreamError, x.error)

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, StreamEvent& x) {
  return inspection::inspect_variant(f, x);
}

#undef TANDEM_INSPECT

}  // namespace tandem::schemas
