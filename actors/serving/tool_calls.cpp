// Tool-call parsing of local model output (see tool_calls.h).
#include "actors/serving/tool_calls.h"

#include <boost/json.hpp>

#include <optional>

namespace tandem::local {

namespace json = boost::json;

namespace {

// How a format's calls look in the output.
struct Syntax {
  std::string_view open;   // marker that starts a call block
  std::string_view close;  // marker that ends it; empty: the block is one JSON value
  char bare = 0;           // a JSON value opened by this at the start of the output is a call block
};

Syntax syntax_of(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::hermes: return {"<tool_call>", "</tool_call>", 0};
    // Llama 3.1's <|python_tag|> and Mistral's [TOOL_CALLS] are control tokens the detokenizer
    // drops, so the call usually arrives as a bare JSON value at the start of the answer.
    case ToolCallFormat::llama3: return {"<|python_tag|>", "", '{'};
    case ToolCallFormat::mistral: return {"[TOOL_CALLS]", "", '['};
    case ToolCallFormat::none: break;
  }
  return {};
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

size_t first_non_space(std::string_view text, size_t from = 0) {
  while (from < text.size() && is_space(text[from])) ++from;
  return from;
}

// The longest tail of `text` that is a proper prefix of `marker` (held back: it may be a marker
// cut between tokens).
size_t marker_prefix_tail(std::string_view text, std::string_view marker) {
  const size_t longest = std::min(text.size(), marker.size() - 1);
  for (size_t n = longest; n > 0; --n) {
    if (marker.substr(0, n) == text.substr(text.size() - n)) return n;
  }
  return 0;
}

struct Call {
  std::string name;
  std::string arguments;
};

// {"name": ..., "arguments" | "parameters": {...} or its JSON text}; also the OpenAI-shaped
// {"type": "function", "function": {...}} some models copy from the tool list.
std::optional<Call> call_from(const json::value& value) {
  const auto* object = value.if_object();
  if (!object) return std::nullopt;
  const auto* name = object->if_contains("name");
  if (!name) {
    const auto* function = object->if_contains("function");
    return function ? call_from(*function) : std::nullopt;
  }
  if (!name->is_string() || name->get_string().empty()) return std::nullopt;
  Call call{std::string(name->get_string()), "{}"};
  const auto* arguments = object->if_contains("arguments");
  if (!arguments) arguments = object->if_contains("parameters");
  if (!arguments || arguments->is_null()) return call;
  if (arguments->is_object()) {
    call.arguments = json::serialize(*arguments);
  } else if (arguments->is_string()) {
    // Arguments written as JSON text: usable only when that text is an object.
    boost::system::error_code ec;
    auto parsed = json::parse(arguments->get_string(), ec);
    if (ec || !parsed.is_object()) return std::nullopt;
    call.arguments = json::serialize(parsed);
  } else {
    return std::nullopt;
  }
  return call;
}

// Every call in a block's JSON (an object, or an array of them); nullopt unless all are valid.
std::optional<std::vector<Call>> calls_from(std::string_view body) {
  boost::system::error_code ec;
  auto value = json::parse(body, ec);
  if (ec) return std::nullopt;
  std::vector<Call> calls;
  if (const auto* array = value.if_array()) {
    if (array->empty()) return std::nullopt;
    for (const auto& element : *array) {
      auto call = call_from(element);
      if (!call) return std::nullopt;
      calls.push_back(std::move(*call));
    }
  } else {
    auto call = call_from(value);
    if (!call) return std::nullopt;
    calls.push_back(std::move(*call));
  }
  return calls;
}

void append_text(std::string_view text, std::vector<schemas::StreamEvent>& out) {
  if (text.empty()) return;
  if (!out.empty()) {
    if (auto* delta = std::get_if<schemas::TextDelta>(&out.back())) {
      delta->text += text;
      return;
    }
  }
  out.push_back(schemas::TextDelta{std::string(text), {}});
}

}  // namespace

std::string_view tool_call_format_name(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::hermes: return "hermes";
    case ToolCallFormat::llama3: return "llama3";
    case ToolCallFormat::mistral: return "mistral";
    case ToolCallFormat::none: break;
  }
  return "none";
}

ToolCallFormat detect_tool_call_format(std::string_view source) {
  auto has = [&](std::string_view marker) { return source.find(marker) != std::string_view::npos; };
  if (has("<tool_call>")) return ToolCallFormat::hermes;
  if (has("[TOOL_CALLS]")) return ToolCallFormat::mistral;
  // Llama 3.x: the tool prompt asks for {"name": function name, "parameters": ...}.
  if (has("<|python_tag|>") || (has("<|start_header_id|>") && has("\"parameters\""))) {
    return ToolCallFormat::llama3;
  }
  return ToolCallFormat::none;
}

bool wants_tool_calls(const schemas::InternalRequest& request) {
  return !request.tools.empty() && request.tool_choice.mode != schemas::ToolChoice::Mode::none;
}

// ---------------------------------------------------------------- ToolCallParser

ToolCallParser::ToolCallParser(ToolCallFormat format, schemas::Protocol protocol)
    : format_(format), protocol_(protocol) {}

void ToolCallParser::feed(std::string_view text, std::vector<schemas::StreamEvent>& out) {
  if (format_ == ToolCallFormat::none) {
    append_text(text, out);
    return;
  }
  input_ += text;
  scan_text(out);
}

void ToolCallParser::open_block(std::string start, size_t body_start, bool bare) {
  state_ = State::block;
  block_ = std::move(start);
  body_start_ = body_start;
  scanned_ = body_start;
  depth_ = 0;
  significant_ = 0;
  opener_ = 0;
  in_string_ = escaped_ = false;
  bare_ = bare;
}

// Moves input_ along: text out, call blocks opened, scanned and closed, until input_ is used up
// or only a possible marker prefix (or an unfinished block) is left.
void ToolCallParser::scan_text(std::vector<schemas::StreamEvent>& out) {
  const Syntax syntax = syntax_of(format_);
  while (true) {
    if (state_ == State::block) {
      block_ += input_;
      input_.clear();
      size_t position = 0;
      const Scan scan = scan_block(position);
      if (scan == Scan::open) return;
      std::string rest = block_.substr(position);
      block_.resize(position);
      state_ = State::text;
      if (scan == Scan::invalid) {
        // Not a call after all: what was read is text; what follows is scanned again.
        emit_text(block_, out);
      } else {
        const size_t body_end = block_.size() - syntax.close.size();
        if (!emit_calls(std::string_view(block_).substr(body_start_, body_end - body_start_), out)) {
          emit_text(block_, out);
        }
      }
      block_.clear();
      input_ = std::move(rest);
      continue;
    }
    const size_t first = first_non_space(input_);
    if (first == input_.size()) {
      emit_text(input_, out);  // whitespace: held until text or a call follows
      input_.clear();
      return;
    }
    if (!seen_text_ && syntax.bare != 0 && input_[first] == syntax.bare) {
      std::string_view rest = std::string_view(input_).substr(first);
      if (rest.size() < syntax.open.size() && syntax.open.substr(0, rest.size()) == rest) {
        emit_text(std::string_view(input_).substr(0, first), out);
        input_.erase(0, first);
        return;  // may yet be the marker
      }
      if (rest.substr(0, syntax.open.size()) != syntax.open) {
        emit_text(std::string_view(input_).substr(0, first), out);
        open_block(std::string(rest), 0, true);
        input_.clear();
        continue;
      }
    }
    const size_t marker = input_.find(syntax.open);
    if (marker != std::string::npos) {
      emit_text(std::string_view(input_).substr(0, marker), out);
      open_block(std::string(syntax.open), syntax.open.size(), false);
      input_.erase(0, marker + syntax.open.size());
      continue;
    }
    const size_t held = marker_prefix_tail(input_, syntax.open);
    emit_text(std::string_view(input_).substr(0, input_.size() - held), out);
    input_.erase(0, input_.size() - held);
    return;
  }
}

// Where the open block stands. done/invalid set `position`: the end of the block (close marker
// or JSON value included), or the first character that cannot belong to a call.
ToolCallParser::Scan ToolCallParser::scan_block(size_t& position) {
  const Syntax syntax = syntax_of(format_);
  if (!syntax.close.empty()) {
    const size_t first = first_non_space(block_, body_start_);
    if (first < block_.size() && block_[first] != '{') {
      position = first;
      return Scan::invalid;
    }
    const size_t close = block_.find(syntax.close, body_start_);
    if (close == std::string::npos) return Scan::open;
    position = close + syntax.close.size();
    return Scan::done;
  }
  // One JSON value: found complete by balancing brackets outside strings. The first two tokens
  // are checked so that prose starting with "{" or "[" is released at once, not at the end.
  for (; scanned_ < block_.size(); ++scanned_) {
    const char c = block_[scanned_];
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (is_space(c)) continue;
    bool fits = true;
    if (significant_ == 0) {
      fits = c == '{' || (c == '[' && format_ == ToolCallFormat::mistral);
      opener_ = c;
    } else if (significant_ == 1) {
      fits = opener_ == '{' ? (c == '"' || c == '}') : (c == '{' || c == ']');
    }
    if (!fits) {
      position = scanned_;
      return Scan::invalid;
    }
    ++significant_;
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        position = scanned_ + 1;
        return Scan::done;
      }
    }
  }
  return Scan::open;
}

bool ToolCallParser::emit_calls(std::string_view body, std::vector<schemas::StreamEvent>& out) {
  auto calls = calls_from(body);
  if (!calls) return false;
  pending_ws_.clear();  // whitespace before a call only separated it from the text
  for (const auto& call : *calls) emit_call(call.name, call.arguments, out);
  after_call_ = true;
  return true;
}

void ToolCallParser::emit_call(const std::string& name, const std::string& arguments,
                               std::vector<schemas::StreamEvent>& out) {
  schemas::ToolCallStart start;
  start.index = calls_++;
  start.id = schemas::generate_id(protocol_ == schemas::Protocol::anthropic ? "toolu_" : "call_");
  start.name = name;
  out.push_back(std::move(start));
  out.push_back(schemas::ToolCallDelta{calls_ - 1, arguments});
}

void ToolCallParser::emit_text(std::string_view text, std::vector<schemas::StreamEvent>& out) {
  const size_t first = first_non_space(text);
  pending_ws_.append(text.substr(0, first));
  text.remove_prefix(first);
  if (text.empty()) return;
  size_t end = text.size();
  while (is_space(text[end - 1])) --end;
  if (!after_call_) append_text(pending_ws_, out);
  append_text(text.substr(0, end), out);
  pending_ws_.assign(text.substr(end));
  seen_text_ = true;
  after_call_ = false;
}

void ToolCallParser::finish(std::vector<schemas::StreamEvent>& out) {
  if (format_ == ToolCallFormat::none) return;
  if (state_ == State::block) {
    // An unterminated block. A marker-closed one is still a call when its JSON is complete (the
    // model stopped right after the JSON instead of writing the close marker); a bare JSON
    // value still open is cut short, so text.
    const bool marker_closed = !syntax_of(format_).close.empty();
    if (!marker_closed || !emit_calls(std::string_view(block_).substr(body_start_), out)) {
      emit_text(block_, out);
    }
    block_.clear();
    state_ = State::text;
  }
  emit_text(input_, out);
  input_.clear();
  if (!after_call_) append_text(pending_ws_, out);
  pending_ws_.clear();
}

std::vector<schemas::ContentPart> parse_tool_calls(ToolCallFormat format, std::string_view output,
                                                   schemas::Protocol protocol) {
  ToolCallParser parser(format, protocol);
  std::vector<schemas::StreamEvent> events;
  parser.feed(output, events);
  parser.finish(events);
  std::vector<schemas::ContentPart> parts;
  for (auto& event : events) {
    if (auto* text = std::get_if<schemas::TextDelta>(&event)) {
      parts.emplace_back(schemas::TextPart{std::move(text->text)});
    } else if (auto* start = std::get_if<schemas::ToolCallStart>(&event)) {
      parts.emplace_back(schemas::ToolCallPart{std::move(start->id), std::move(start->name), ""});
    } else if (auto* delta = std::get_if<schemas::ToolCallDelta>(&event)) {
      std::get<schemas::ToolCallPart>(parts.back()).arguments += delta->arguments;
    }
  }
  return parts;
}

// ---------------------------------------------------------------- ToolCallRewriter

void ToolCallRewriter::add(schemas::StreamEvent event, std::vector<schemas::StreamEvent>& out) {
  if (auto* delta = std::get_if<schemas::TextDelta>(&event)) {
    // Logprobs stay with the text of this step; a step whose text went into a call keeps
    // them on an empty delta.
    if (!delta->logprobs.empty()) out.push_back(schemas::TextDelta{{}, std::move(delta->logprobs)});
    parser_.feed(delta->text, out);
    return;
  }
  if (auto* finish = std::get_if<schemas::Finish>(&event)) {
    parser_.finish(out);
    if (parser_.calls_emitted() > 0 && finish->reason == schemas::FinishReason::stop) {
      finish->reason = schemas::FinishReason::tool_calls;
    }
  } else if (std::holds_alternative<schemas::StreamError>(event)) {
    parser_.finish(out);  // what was held back is still output
  }
  out.push_back(std::move(event));
}

}  // namespace tandem::local
