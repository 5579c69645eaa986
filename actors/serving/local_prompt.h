// What the local backend makes of a request before the scheduler sees it: the prompt's tokens
// (the model's chat template, or a legacy completion's raw text / token ids), the sampling and
// limits, and the output options (logprobs, echo, tool-call syntax). Pure: engine + schemas, no
// actors, so it is tested with real models and templates directly.
#pragma once

#include "actors/serving/scheduler.h"
#include "actors/serving/tool_calls.h"
#include "engine/constraint.h"
#include "engine/loaded_model.h"
#include "schemas/internal.h"

#include <string>
#include <vector>

namespace tandem::local {

// The chat template's prompt for the request's system + messages (+ tools), tokenized as the
// model expects (special tokens parsed, BOS added unless the template printed it). A template
// that refuses the conversation is a 400 naming `messages`.
schemas::Result<std::vector<engine::TokenId>> chat_prompt_tokens(const engine::LoadedModel& model,
                                                                 const schemas::InternalRequest& request);

// A chat prompt and how its output is to be read.
struct ChatPrompt {
  std::vector<engine::TokenId> tokens;
  // The template has the <think>…</think> convention: the output is split into reasoning and
  // answer (see reasoning.h); `opens_reasoning`: the prompt ends inside <think>.
  bool reasoning = false;
  bool opens_reasoning = false;
};

// chat_prompt_tokens plus the reasoning facts. On a reasoning template the request's thinking
// settings become the template's `enable_thinking` (see enable_thinking in reasoning.h);
// `thinking_off` forces it false (constrained output must be the answer, not reasoning).
schemas::Result<ChatPrompt> chat_prompt(const engine::LoadedModel& model, const schemas::InternalRequest& request,
                                        bool thinking_off = false);

// A legacy completion's prompt: text (the model's BOS flag, special-token text left as text) or
// token ids checked against the vocabulary (a 400 naming `prompt[i]`).
schemas::Result<std::vector<engine::TokenId>> completion_prompt_tokens(const engine::LoadedModel& model,
                                                                       const schemas::Prompt& prompt);

// The tool-call syntax `model`'s chat template teaches (none for the ChatML fallback).
ToolCallFormat tool_call_format(const engine::LoadedModel& model);

// Refusals of what local models do not implement (n > 1 outside OpenAI chat and legacy
// completions, several prompts, images);
// nullopt when fine.
std::optional<schemas::ApiError> unsupported_options(const schemas::InternalRequest& request);

// Sampling, stop strings and limits of `request` on `prompt`. max_tokens left out by an OpenAI
// client means the rest of the context.
actors::GenerationRequest generation_request(const schemas::InternalRequest& request,
                                             std::vector<engine::TokenId> prompt, uint32_t context_size,
                                             const std::string& request_id);

// The texts of `tokens` as a detokenized prompt shows them: joined they equal decode(tokens).
std::vector<std::string> token_pieces(const engine::Tokenizer& tokenizer, const std::vector<engine::TokenId>& tokens);

// How the output of one generation is reported (see LocalAnswer in local_backend.cpp).
struct OutputPlan {
  std::string model_id;  // the `model` of the answer
  schemas::Endpoint endpoint = schemas::Endpoint::chat_completions;
  schemas::Protocol protocol = schemas::Protocol::openai;
  int64_t prompt_tokens = 0;
  bool logprobs = false;  // report per-token logprobs
  // Legacy completions' echo: the prompt tokens' texts (joined: the echoed prompt). With
  // score_prompt they get the prompt's logprobs (the first token has none).
  bool echo = false;
  bool score_prompt = false;
  std::vector<std::string> prompt_pieces;
  // Tool calls are looked for in the output in this syntax (none: the output is all text).
  ToolCallFormat tool_calls = ToolCallFormat::none;
  // The output is split into reasoning and answer (see ChatPrompt).
  bool reasoning = false;
  bool opens_reasoning = false;
  // The thinking budget (see reasoning_budget in reasoning.h; nullopt: unbounded) and the
  // tokens of the end marker it forces when spent (end_marker_tokens).
  std::optional<int64_t> reasoning_budget;
  std::vector<engine::TokenId> reasoning_end_marker;
};

// The tokens of reasoning.h's end marker as the model writes it after other text: its own token
// when the vocabulary has one (Qwen3, DeepSeek-R1), else the pieces that continue a word
// (a SentencePiece vocabulary would put a word-start space before the text on its own).
std::vector<engine::TokenId> end_marker_tokens(const engine::Tokenizer& tokenizer);

struct PreparedGeneration {
  actors::GenerationRequest request;
  OutputPlan plan;
};

// Everything above for one request to `model` (a chat, messages or legacy completions
// endpoint), or the 400 to answer with. `constraints` (the model's, see local_constraint.h)
// serves structured output and forced tool calls; without it those requests get a 500.
schemas::Result<PreparedGeneration> prepare_generation(const engine::LoadedModel& model, const std::string& model_id,
                                                       uint32_t context_size, const schemas::InternalRequest& request,
                                                       const std::string& request_id,
                                                       engine::ConstraintCache* constraints = nullptr);

}  // namespace tandem::local
