// The step API the scheduler drives: add sequences, run steps that mix prefill chunks with
// decode tokens under a token budget, cancel. One caller thread; no I/O, no clocks.
//
// KV memory: a sequence gets blocks for its prompt when added and one more block whenever it
// grows past its last one. When the pool runs out, the newest sequence holding blocks is
// preempted: its blocks are freed and it waits, ahead of any new sequence, until it can be
// recomputed (prompt + tokens generated so far) and continue; it emits nothing meanwhile.
// Automatic prefix caching: every full block of prompt rows is remembered by the hash of the
// prefix it closes (kv_cache.h), and a sequence starts from the longest cached prefix of its
// prompt, computing only the rest (at least its last token, for the logits). Generated tokens'
// blocks are not remembered: a decode row is summed in another order than a prompt row. With the default (invariant) matmul
// backend a row's result never depends on the batch, so outputs are bit-identical with or
// without a hit, and after a preemption.
#pragma once

#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/stop_strings.h"
#include "engine/tokenizer.h"

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::engine {

using SequenceId = uint64_t;

enum class FinishReason { none, eos, length, stop_string };
std::string_view finish_reason_name(FinishReason reason);  // "eos", "length", "stop_string"

struct SequenceRequest {
  std::vector<TokenId> prompt;
  SamplingParams sampling;
  uint32_t max_tokens = 256;
  std::vector<std::string> stop_strings;
  std::vector<TokenId> stop_tokens;  // in addition to the tokenizer's end-of-generation tokens
  bool ignore_eos = false;           // don't stop at end-of-generation tokens
};

enum class AddStatus {
  ok,
  too_long,   // prompt + max_tokens can never fit: answer 400, naming the limit
  pool_full,  // the KV pool cannot take it now: queue and retry after sequences finish
  invalid,    // empty prompt, token outside the vocabulary, ...
};

struct AddResult {
  AddStatus status = AddStatus::ok;
  SequenceId id = 0;
  std::string error;
  bool ok() const { return status == AddStatus::ok; }
};

struct TokenAlternative {
  TokenId id = -1;
  float logprob = 0.0f;
  std::string text;  // the token's bytes (special tokens spelled out); may be partial UTF-8
};

struct GeneratedToken {
  TokenId id = -1;
  float logprob = 0.0f;
  std::string text;
  std::vector<TokenAlternative> top;  // SamplingParams::top_logprobs entries, best first
};

// What happened to one sequence in one step.
struct SequenceEvent {
  SequenceId id = 0;
  std::vector<GeneratedToken> tokens;  // new tokens
  std::string text;                    // newly released text (stop-string hold-back applied)
  bool finished = false;
  FinishReason reason = FinishReason::none;
  std::string stop_string;             // which one matched, for FinishReason::stop_string
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  uint32_t cached_tokens = 0;          // prompt tokens taken from the prefix cache at admission
};

struct EngineConfig {
  uint32_t kv_tokens = 4096;    // KV pool size in tokens, shared by all sequences
  uint32_t block_tokens = 16;
  uint32_t context_size = 0;    // per-sequence limit; 0 = the model's trained context
  bool prefix_cache = true;     // reuse cached KV blocks of a common token prefix
};

struct EngineStats {
  size_t running = 0;             // sequences decoding
  size_t waiting_prefill = 0;     // sequences with prompt tokens not yet processed
  uint32_t kv_blocks_used = 0;
  uint32_t kv_blocks_total = 0;
  size_t last_step_tokens = 0;    // rows in the last forward pass
  size_t last_step_sequences = 0;
  size_t last_step_prefill_tokens = 0;  // of last_step_tokens: prompt rows (incl. recomputes)
  size_t last_step_decode_tokens = 0;   // of last_step_tokens: one row per decoding sequence
  size_t preempted = 0;           // sequences waiting to be recomputed
  uint32_t kv_blocks_cached = 0;  // cached blocks no sequence holds (evictable; counted free)
  // Totals since start.
  uint64_t prefix_hit_tokens = 0;   // prompt tokens taken from the prefix cache at admission
  uint64_t prefix_miss_tokens = 0;  // prompt tokens computed at admission
  uint64_t kv_evictions = 0;        // cached blocks evicted to make room
  uint64_t preemptions = 0;
};

// How one step shares its token budget between decoding sequences and waiting prompts.
struct StepPolicy {
  // Which waiting prompts get rows first: in arrival order, or the fewest rows left first (a
  // short prompt then gets its first token without waiting behind a long one's chunks). A prompt
  // passed over `max_prefill_skips` steps in a row goes first, so a long prompt is never starved.
  enum class PrefillOrder { arrival, shortest_first };
  PrefillOrder prefill_order = PrefillOrder::arrival;
  uint32_t max_prefill_skips = 8;
  // Prompt rows one step may take while sequences decode (0: the rest of the budget).
  size_t max_prefill_tokens = 0;
  // Prompts that get rows in one step (0: any number).
  size_t max_prefill_sequences = 0;
  // While prompts wait, steps compute only them and decodes pause (vLLM's prefill-first order);
  // false: each step decodes every running sequence and fills the rest with prompt rows.
  bool prefill_first = false;
};

class EngineError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Engine {
 public:
  // `tokenizer` may be null (no text: events carry token ids only, stop strings never match).
  Engine(Model& model, const Tokenizer* tokenizer, const EngineConfig& config = {});
  ~Engine();

  // Admits a sequence, reserving KV blocks for its prompt (less any cached prefix). pool_full
  // when they are not free now, or while preempted sequences wait to resume (they go first).
  AddResult add(SequenceRequest request);

  // One forward pass over at most `token_budget` rows: by default first one decode token for each
  // running sequence, then prefill chunks (oldest first) with what is left. Preempted sequences resume
  // first when the pool has room; growing sequences may preempt newer ones. Returns an event for
  // every sequence that produced a token or finished. Finished sequences release their blocks.
  // `policy` may change how rows are shared (StepPolicy); it never changes a row's result.
  std::vector<SequenceEvent> step(size_t token_budget, const StepPolicy& policy = {});

  // Drops a sequence and frees its blocks at once. False if unknown (or already finished).
  bool cancel(SequenceId id);

  // Forced continuation: the sequence's next generated tokens are `tokens`, in order, instead of
  // sampled ones (a reasoning budget closing the thinking block with its end marker). They are
  // generated tokens in every other way: they count against max_tokens, are detokenized, matched
  // against stop strings and end the sequence if one is an end-of-generation token. False if the
  // sequence is unknown (or finished) or an id is outside the vocabulary.
  bool force(SequenceId id, std::span<const TokenId> tokens);

  EngineStats stats() const;
  bool has_work() const;
  uint32_t context_size() const { return context_size_; }
  const KvCache& cache() const { return cache_; }
  const Model& model() const { return model_; }

  // Teacher forcing: row j holds the top_n most likely tokens for position j+1 given tokens
  // 0..j, and the logprob of the actual token j+1 (tokens.size()-1 rows). Runs now, in chunks
  // of `chunk_tokens`; throws EngineError if the tokens don't fit the context or the free pool.
  struct ScoredPosition {
    float actual_logprob = 0.0f;
    std::vector<TokenLogprob> top;
  };
  std::vector<ScoredPosition> score(std::span<const TokenId> tokens, size_t top_n, size_t chunk_tokens = 512);

 private:
  struct Sequence;
  void finish(Sequence& seq, FinishReason reason, SequenceEvent& event);
  void emit_token(Sequence& seq, const SampleResult& sample, SequenceEvent& event);
  static size_t prompt_order_end(const Sequence& seq);
  static size_t prefill_chunk(const Sequence& seq, size_t budget, bool must_progress);
  size_t attach_cached_prefix(Sequence& seq);
  void remember_full_blocks(Sequence& seq);
  void preempt(Sequence& seq);
  void resume_preempted();
  void grow_or_preempt(std::vector<std::pair<Sequence*, size_t>>& chosen);
  std::vector<Sequence*> prefill_candidates(const StepPolicy& policy);

  Model& model_;
  const Tokenizer* tokenizer_;
  EngineConfig config_;
  uint32_t context_size_;
  KvCache cache_;
  std::list<std::unique_ptr<Sequence>> sequences_;  // admission order
  SequenceId next_id_ = 1;
  size_t decode_cursor_ = 0;  // round-robin start when decoders exceed the budget
  EngineStats last_;  // last step's shape and the running totals
  std::vector<float> logits_;
};

}  // namespace tandem::engine
