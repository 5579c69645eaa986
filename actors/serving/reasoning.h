// Reasoning in a local model's output. Chat templates of reasoning models (DeepSeek-R1, Qwen3,
// SmolLM3) teach the model to think between <think> and </think> before it answers; this finds
// such templates, maps the request's thinking settings onto them, and splits the output text
// into ThinkingDelta (the reasoning) and TextDelta (the answer), so reasoning never reaches a
// client's `content`. Pure (schemas only): unit-tested on crafted text.
#pragma once

#include "schemas/internal.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::local {

// Whether `template_source` (a Jinja chat template) has the <think>…</think> convention.
bool template_has_reasoning(std::string_view template_source);

// The `enable_thinking` value the template gets for `thinking`: false when the client turned
// thinking off (Anthropic `disabled`, effort `none`), true when it asked for it (`enabled`,
// `adaptive`, any other effort), nullopt when it said nothing (the template's own default).
std::optional<bool> enable_thinking(const schemas::ThinkingConfig& thinking);

// The end-of-reasoning marker a thinking budget forces when it is spent.
inline constexpr std::string_view reasoning_end_marker = "</think>";

// How many tokens the reasoning block may take, its tags included, for `thinking` on a
// generation of at most `max_tokens` tokens; nullopt: no bound but max_tokens. An explicit budget
// (Anthropic `enabled` + `budget_tokens`) is taken as is. An effort is a share of max_tokens:
// minimal 1/16, low 1/4, medium 1/2, high 3/4, xhigh 7/8, max (Anthropic) unbounded; Anthropic
// `adaptive` without an effort is `high` (its default effort). Nothing said, or thinking off: nullopt.
std::optional<int64_t> reasoning_budget(const schemas::ThinkingConfig& thinking, int64_t max_tokens);

// Whether a rendered prompt ends inside an open <think> block (the template prefilled it, as
// DeepSeek-R1's does), so the model's first words are reasoning.
bool prompt_opens_reasoning(std::string_view rendered_prompt);

// The `signature` of a local thinking block: "tandem-local:" + 32 hex digits, a digest of the
// thinking text. Anthropic's signatures let its API verify a block sent back unaltered; a local
// model needs none (earlier turns' thinking is not part of the prompt), so this only names the
// text it was made from and is never checked — it is not a cryptographic proof.
std::string local_thinking_signature(std::string_view thinking);

// Incremental splitter for one generation. Any split of the same output into feed() calls gives
// the same concatenated reasoning and answer: text that may be the start of a tag is held back
// until the next piece decides it. The reasoning is trimmed of the whitespace around it, the
// answer of the whitespace that separates it from </think>; the tags themselves are dropped. A
// block of reasoning ends with a signature-only ThinkingDelta (Anthropic's signature_delta).
class ReasoningSplitter {
 public:
  // `in_reasoning`: the prompt left the model inside <think> (see prompt_opens_reasoning);
  // otherwise a <think> at the very start of the output (after whitespace) opens the reasoning.
  explicit ReasoningSplitter(bool in_reasoning);

  void feed(std::string_view text, std::vector<schemas::StreamEvent>& out);
  // End of output: held-back text is flushed (a block never closed still ends with its signature).
  void finish(std::vector<schemas::StreamEvent>& out);

  // Everything from here on is answer text passed through unchanged.
  bool in_answer() const { return state_ == State::answer; }

 private:
  enum class State { start, reasoning, after_reasoning, answer };
  void close_reasoning(std::vector<schemas::StreamEvent>& out);
  void emit_thinking(std::string text, std::vector<schemas::StreamEvent>& out);
  void emit_answer(std::string text, std::vector<schemas::StreamEvent>& out);

  State state_;
  std::string held_;       // undecided text (a possible tag prefix, or whitespace)
  std::string thinking_;   // the reasoning emitted so far, for the signature
  bool thinking_started_ = false;  // non-whitespace reasoning seen (leading whitespace is dropped)
};

// Follows one generation token by token: counts the tokens it spends in its reasoning block (the
// <think> and </think> tags included; the whitespace before an opening tag too) and, with a
// budget, ends the block when only room for its end marker is left: add() then hands back the
// marker's tokens for the engine to force (Engine::force), once. The marker's tokens are generated
// tokens like any: they are counted here, in max_tokens and in usage, and the splitter sees the
// closing tag in the text as if the model had written it. Works on token texts (special tokens
// spelled out), so it is exact where the text splitter may still hold text back.
class ReasoningBudget {
 public:
  // `in_reasoning`: as ReasoningSplitter. `budget`: see reasoning_budget (nullopt: count only).
  // `end_marker`: the token ids of reasoning_end_marker in the model's vocabulary.
  ReasoningBudget(bool in_reasoning, std::optional<int64_t> budget, std::vector<int32_t> end_marker);

  // One generated token's text. Returns the tokens to force next (the end marker) when this token
  // left only room for it in an open block; empty otherwise.
  std::vector<int32_t> add(std::string_view token_text);

  // Tokens generated inside the reasoning block so far (0 when the output has none).
  int64_t reasoning_tokens() const { return state_ == State::start || state_ == State::none ? 0 : tokens_; }
  bool forced() const { return forced_; }

 private:
  enum class State { start, reasoning, closed, none };
  std::vector<int32_t> check_budget();

  State state_;
  std::optional<int64_t> budget_;
  std::vector<int32_t> end_marker_;
  std::string text_;      // start: the output so far; reasoning: a tail that may hold a split tag
  int64_t tokens_ = 0;    // tokens of the block (at the start: of the output, until it is decided)
  bool forced_ = false;
};

// Rewrites one generation's events for a reasoning template: TextDeltas go through a
// ReasoningSplitter; logprobs stay on answer text only (tokens of the reasoning and the tags have
// none). Other events pass through in order, the splitter flushed before Finish.
class ReasoningRewriter {
 public:
  explicit ReasoningRewriter(bool in_reasoning) : splitter_(in_reasoning) {}
  void add(schemas::StreamEvent event, std::vector<schemas::StreamEvent>& out);

 private:
  ReasoningSplitter splitter_;
};

}  // namespace tandem::local
