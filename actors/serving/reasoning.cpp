// Reasoning in a local model's output (see reasoning.h).
#include "actors/serving/reasoning.h"

#include <algorithm>
#include <cstdio>

namespace tandem::local {

namespace {

constexpr std::string_view open_tag = "<think>";
constexpr std::string_view close_tag = "</think>";

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

size_t first_non_space(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  return i;
}

size_t end_without_trailing_space(std::string_view text) {
  size_t end = text.size();
  while (end > 0 && is_space(text[end - 1])) --end;
  return end;
}

// Length of the longest suffix of `text` that is a proper prefix of `tag` (text that may still
// become the tag once more arrives).
size_t partial_tag_suffix(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n) {
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

uint64_t fnv1a(std::string_view text, uint64_t basis) {
  uint64_t hash = basis;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

}  // namespace

bool template_has_reasoning(std::string_view template_source) {
  return template_source.find(open_tag) != std::string_view::npos &&
         template_source.find(close_tag) != std::string_view::npos;
}

std::optional<bool> enable_thinking(const schemas::ThinkingConfig& thinking) {
  using Mode = schemas::ThinkingConfig::Mode;
  if (thinking.mode == Mode::disabled || thinking.effort == schemas::Effort::none) return false;
  if (thinking.mode == Mode::enabled || thinking.mode == Mode::adaptive) return true;
  if (thinking.effort != schemas::Effort::unset) return true;
  return std::nullopt;
}

std::optional<int64_t> reasoning_budget(const schemas::ThinkingConfig& thinking, int64_t max_tokens) {
  using Mode = schemas::ThinkingConfig::Mode;
  using schemas::Effort;
  if (enable_thinking(thinking) != true) return std::nullopt;
  if (thinking.mode == Mode::enabled && thinking.budget_tokens > 0) return thinking.budget_tokens;
  Effort effort = thinking.effort;
  if (effort == Effort::unset && thinking.mode == Mode::adaptive) effort = Effort::high;
  int64_t sixteenths = 0;  // the share of max_tokens, in 1/16ths
  switch (effort) {
    case Effort::minimal: sixteenths = 1; break;
    case Effort::low: sixteenths = 4; break;
    case Effort::medium: sixteenths = 8; break;
    case Effort::high: sixteenths = 12; break;
    case Effort::xhigh: sixteenths = 14; break;
    default: return std::nullopt;  // max, or no effort: bounded by max_tokens alone
  }
  return std::max<int64_t>(1, max_tokens * sixteenths / 16);
}

bool prompt_opens_reasoning(std::string_view rendered_prompt) {
  const size_t open = rendered_prompt.rfind(open_tag);
  if (open == std::string_view::npos) return false;
  const size_t close = rendered_prompt.rfind(close_tag);
  if (close != std::string_view::npos && close > open) return false;
  const auto rest = rendered_prompt.substr(open + open_tag.size());
  return first_non_space(rest) == rest.size();
}

std::string local_thinking_signature(std::string_view thinking) {
  char hex[33];
  std::snprintf(hex, sizeof hex, "%016llx%016llx",
                static_cast<unsigned long long>(fnv1a(thinking, 1469598103934665603ull)),
                static_cast<unsigned long long>(fnv1a(thinking, 0x6c62272e07bb0142ull)));
  return "tandem-local:" + std::string(hex);
}

// ---------------------------------------------------------------- ReasoningSplitter

ReasoningSplitter::ReasoningSplitter(bool in_reasoning) : state_(in_reasoning ? State::reasoning : State::start) {}

void ReasoningSplitter::emit_thinking(std::string text, std::vector<schemas::StreamEvent>& out) {
  if (!thinking_started_) text.erase(0, first_non_space(text));
  if (text.empty()) return;
  thinking_started_ = true;
  thinking_ += text;
  out.push_back(schemas::ThinkingDelta{std::move(text), ""});
}

void ReasoningSplitter::emit_answer(std::string text, std::vector<schemas::StreamEvent>& out) {
  if (text.empty()) return;
  schemas::TextDelta delta;
  delta.text = std::move(text);
  out.push_back(std::move(delta));
}

void ReasoningSplitter::close_reasoning(std::vector<schemas::StreamEvent>& out) {
  if (thinking_started_) out.push_back(schemas::ThinkingDelta{"", local_thinking_signature(thinking_)});
}

void ReasoningSplitter::feed(std::string_view text, std::vector<schemas::StreamEvent>& out) {
  std::string input = std::move(held_);
  held_.clear();
  input.append(text);
  std::string_view rest = input;
  while (!rest.empty()) {
    switch (state_) {
      case State::answer:
        emit_answer(std::string(rest), out);
        return;
      case State::start: {
        const auto body = rest.substr(first_non_space(rest));
        if (body.empty() || (body.size() < open_tag.size() && open_tag.substr(0, body.size()) == body)) {
          held_ = std::string(rest);  // whitespace or a possible "<think>" so far
          return;
        }
        if (body.substr(0, open_tag.size()) == open_tag) {
          state_ = State::reasoning;
          rest = body.substr(open_tag.size());
        } else {
          state_ = State::answer;  // no reasoning block: the output is all answer
        }
        break;
      }
      case State::reasoning: {
        const size_t close = rest.find(close_tag);
        if (close != std::string_view::npos) {
          const auto reasoning = rest.substr(0, close);
          emit_thinking(std::string(reasoning.substr(0, end_without_trailing_space(reasoning))), out);
          close_reasoning(out);
          state_ = State::after_reasoning;
          rest = rest.substr(close + close_tag.size());
          break;
        }
        // Hold back a possible "</think>" start and the whitespace before it (trimmed if the
        // block closes right after it).
        const size_t cut = rest.size() - partial_tag_suffix(rest, close_tag);
        const size_t keep = end_without_trailing_space(rest.substr(0, cut));
        emit_thinking(std::string(rest.substr(0, keep)), out);
        held_ = std::string(rest.substr(keep));
        return;
      }
      case State::after_reasoning: {
        const size_t skip = first_non_space(rest);
        rest = rest.substr(skip);
        if (!rest.empty()) state_ = State::answer;
        break;
      }
    }
  }
}

void ReasoningSplitter::finish(std::vector<schemas::StreamEvent>& out) {
  std::string held = std::move(held_);
  held_.clear();
  if (state_ == State::start) {
    emit_answer(std::move(held), out);
  } else if (state_ == State::reasoning) {
    // Cut off inside the block (a length finish): what was held is reasoning too.
    held.resize(end_without_trailing_space(held));
    emit_thinking(std::move(held), out);
    close_reasoning(out);
  }
  state_ = State::answer;
}

// ---------------------------------------------------------------- ReasoningBudget

ReasoningBudget::ReasoningBudget(bool in_reasoning, std::optional<int64_t> budget, std::vector<int32_t> end_marker)
    : state_(in_reasoning ? State::reasoning : State::start), budget_(budget), end_marker_(std::move(end_marker)) {}

std::vector<int32_t> ReasoningBudget::add(std::string_view token_text) {
  switch (state_) {
    case State::none:
    case State::closed:
      return {};
    case State::start: {
      ++tokens_;
      text_.append(token_text);
      const auto body = std::string_view(text_).substr(first_non_space(text_));
      if (body.size() < open_tag.size() && open_tag.substr(0, body.size()) == body) return {};  // undecided
      if (body.substr(0, open_tag.size()) != open_tag) {
        state_ = State::none;  // the output is all answer
        text_.clear();
        return {};
      }
      state_ = State::reasoning;
      text_ = std::string(body.substr(open_tag.size()));
      break;
    }
    case State::reasoning:
      ++tokens_;
      text_.append(token_text);
      break;
  }
  if (text_.find(close_tag) != std::string::npos) {
    state_ = State::closed;
    text_.clear();
    return {};
  }
  if (text_.size() >= close_tag.size()) text_.erase(0, text_.size() - (close_tag.size() - 1));
  return check_budget();
}

std::vector<int32_t> ReasoningBudget::check_budget() {
  if (!budget_ || forced_ || end_marker_.empty()) return {};
  if (tokens_ + static_cast<int64_t>(end_marker_.size()) < *budget_) return {};
  forced_ = true;
  return end_marker_;
}

// ---------------------------------------------------------------- ReasoningRewriter

void ReasoningRewriter::add(schemas::StreamEvent event, std::vector<schemas::StreamEvent>& out) {
  if (auto* text = std::get_if<schemas::TextDelta>(&event)) {
    if (splitter_.in_answer()) {
      out.push_back(std::move(event));
    } else {
      splitter_.feed(text->text, out);
    }
    return;
  }
  if (std::holds_alternative<schemas::Finish>(event)) splitter_.finish(out);
  out.push_back(std::move(event));
}

}  // namespace tandem::local
