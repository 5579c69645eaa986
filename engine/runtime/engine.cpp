#include "engine/engine.h"

#include <algorithm>
#include <deque>

namespace tandem::engine {

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::eos: return "eos";
    case FinishReason::length: return "length";
    case FinishReason::stop_string: return "stop_string";
    case FinishReason::none: break;
  }
  return "none";
}

struct Engine::Sequence {
  SequenceId id = 0;
  SequenceRequest request;
  std::vector<TokenId> tokens;  // prompt, then generated tokens
  size_t n_cached = 0;          // positions already in the KV cache
  uint32_t n_generated = 0;
  uint32_t cached_tokens = 0;   // prompt tokens found in the prefix cache at admission
  BlockTable blocks;
  std::vector<uint64_t> block_hashes;  // chain hashes of the first full blocks of `tokens`
  size_t n_remembered = 0;             // leading full blocks offered to the prefix cache
  bool preempted = false;              // holds no blocks; waits to be recomputed
  uint32_t prefill_skips = 0;          // steps in a row its prompt rows waited and got none
  Sampler sampler;
  std::unique_ptr<IncrementalDetokenizer> detokenizer;
  StopStringMatcher stops;
  std::deque<TokenId> forced;   // next tokens to emit instead of sampling (Engine::force)
  bool finished = false;

  Sequence(SequenceRequest r, const Tokenizer* tokenizer)
      : request(std::move(r)), sampler(request.sampling), stops(request.stop_strings) {
    tokens = request.prompt;
    sampler.add_history(request.prompt);
    // Continuing after a prompt: the first generated token keeps its leading space.
    if (tokenizer) detokenizer = std::make_unique<IncrementalDetokenizer>(*tokenizer, false, false);
  }
  // More than the one newest token to compute (a new prompt, or a recompute after preemption).
  bool prefilling() const { return n_generated == 0 || tokens.size() - n_cached > 1; }
};

Engine::Engine(Model& model, const Tokenizer* tokenizer, const EngineConfig& config)
    : model_(model),
      tokenizer_(tokenizer),
      config_(config),
      context_size_(config.context_size ? config.context_size : model.config().context_length),
      cache_(model.kv_shape(config.kv_tokens, config.block_tokens)) {}

Engine::~Engine() = default;

AddResult Engine::add(SequenceRequest request) {
  AddResult result;
  const size_t n_prompt = request.prompt.size();
  auto refuse = [&](AddStatus status, std::string error) {
    result.status = status;
    result.error = std::move(error);
    return result;
  };
  if (n_prompt == 0) return refuse(AddStatus::invalid, "the prompt is empty");
  if (request.max_tokens == 0) return refuse(AddStatus::invalid, "max_tokens must be at least 1");
  const uint32_t n_vocab = model_.config().n_vocab;
  for (size_t i = 0; i < n_prompt; ++i) {
    if (request.prompt[i] < 0 || static_cast<uint32_t>(request.prompt[i]) >= n_vocab)
      return refuse(AddStatus::invalid, "prompt token " + std::to_string(i) + " (id " +
                                            std::to_string(request.prompt[i]) + ") is outside the vocabulary (" +
                                            std::to_string(n_vocab) + " tokens)");
  }
  const size_t total = n_prompt + request.max_tokens;
  if (total > context_size_)
    return refuse(AddStatus::too_long, "prompt (" + std::to_string(n_prompt) + " tokens) + max_tokens (" +
                                           std::to_string(request.max_tokens) + ") exceeds the context size (" +
                                           std::to_string(context_size_) + ")");
  if (cache_.blocks_for(total) > cache_.total_blocks())
    return refuse(AddStatus::too_long, "prompt (" + std::to_string(n_prompt) + " tokens) + max_tokens (" +
                                           std::to_string(request.max_tokens) + ") exceeds the KV cache size (" +
                                           std::to_string(cache_.shape().total_tokens) + " tokens)");

  for (const auto& other : sequences_)
    if (other->preempted) return refuse(AddStatus::pool_full, "KV cache temporarily full: preempted sequences resume first");
  auto seq = std::make_unique<Sequence>(std::move(request), tokenizer_);
  const size_t hit = attach_cached_prefix(*seq);
  if (!cache_.reserve(seq->blocks, n_prompt)) {
    const uint32_t needed = cache_.blocks_for(n_prompt) - static_cast<uint32_t>(seq->blocks.blocks.size());
    cache_.release(seq->blocks);
    return refuse(AddStatus::pool_full, "KV cache temporarily full: needs " + std::to_string(needed) + " blocks, " +
                                            std::to_string(cache_.free_blocks()) + " free");
  }
  seq->cached_tokens = static_cast<uint32_t>(hit);
  last_.prefix_hit_tokens += hit;
  last_.prefix_miss_tokens += n_prompt - hit;
  seq->id = next_id_++;
  result.id = seq->id;
  sequences_.push_back(std::move(seq));
  return result;
}

bool Engine::cancel(SequenceId id) {
  for (auto it = sequences_.begin(); it != sequences_.end(); ++it) {
    if ((*it)->id == id) {
      cache_.release((*it)->blocks);
      sequences_.erase(it);
      return true;
    }
  }
  return false;
}

bool Engine::force(SequenceId id, std::span<const TokenId> tokens) {
  const uint32_t n_vocab = model_.config().n_vocab;
  for (TokenId token : tokens)
    if (token < 0 || static_cast<uint32_t>(token) >= n_vocab) return false;
  for (auto& seq : sequences_) {
    if (seq->id != id) continue;
    if (seq->finished) return false;
    seq->forced.insert(seq->forced.end(), tokens.begin(), tokens.end());
    return true;
  }
  return false;
}

bool Engine::has_work() const { return !sequences_.empty(); }

EngineStats Engine::stats() const {
  EngineStats s = last_;
  s.running = s.waiting_prefill = s.preempted = 0;
  for (const auto& seq : sequences_) (seq->preempted ? s.preempted : seq->prefilling() ? s.waiting_prefill : s.running)++;
  s.kv_blocks_used = cache_.used_blocks();
  s.kv_blocks_total = cache_.total_blocks();
  s.kv_blocks_cached = cache_.cached_free_blocks();
  s.kv_evictions = cache_.evictions();
  return s;
}

size_t Engine::attach_cached_prefix(Sequence& seq) {
  if (!config_.prefix_cache || !seq.blocks.blocks.empty()) return 0;
  const size_t block = cache_.block_tokens();
  // The last token is always computed (its logits pick the next token), and only prompt-order
  // positions are ever cached (remember_full_blocks).
  const size_t order_end = prompt_order_end(seq);
  const size_t reusable = std::min((seq.tokens.size() - 1) / block, order_end / block);
  std::vector<BlockId> found;
  BlockId parent = kNoBlock;
  uint64_t previous = KvCache::kRootHash;
  for (size_t i = 0; i < reusable; ++i) {
    std::span<const TokenId> tokens(seq.tokens.data() + i * block, block);
    if (seq.block_hashes.size() == i) seq.block_hashes.push_back(KvCache::chain_hash(previous, tokens));
    previous = seq.block_hashes[i];
    parent = cache_.lookup(previous, parent, tokens);
    if (parent == kNoBlock) break;
    found.push_back(parent);
  }
  // A lone prompt row left over would be summed in the decode order: compute one more block.
  if (!found.empty() && order_end - found.size() * block == 1) found.pop_back();
  for (BlockId b : found) cache_.acquire(seq.blocks, b);
  seq.n_remembered = seq.blocks.blocks.size();
  seq.n_cached = seq.n_remembered * block;
  return seq.n_cached;
}

size_t Engine::prompt_order_end(const Sequence& seq) {
  const size_t n_prompt = seq.request.prompt.size();
  return n_prompt >= 2 ? n_prompt : 0;  // a 1-token prompt is one row: decode order
}

size_t Engine::prefill_chunk(const Sequence& seq, size_t budget, bool must_progress) {
  const size_t remaining = seq.tokens.size() - seq.n_cached;
  const size_t order_end = prompt_order_end(seq);
  const size_t prompt_rows = order_end > seq.n_cached ? order_end - seq.n_cached : 0;
  size_t chunk = std::min(budget, remaining);
  // Prompt rows go in slices of 2+ (prompt order); never leave a single one for later.
  if (chunk < prompt_rows) {
    if (prompt_rows - chunk == 1) --chunk;
    // Under a budget of 1 a step still has to do something: it overshoots by a row or two.
    if (chunk < 2) chunk = must_progress ? (prompt_rows == 3 ? 3 : 2) : 0;
  }
  return chunk;
}

void Engine::remember_full_blocks(Sequence& seq) {
  if (!config_.prefix_cache) return;
  const size_t block = cache_.block_tokens();
  // Only blocks of prompt-order rows: a new prompt computes those positions the same way.
  const size_t limit = std::min(seq.n_cached, prompt_order_end(seq));
  while ((seq.n_remembered + 1) * block <= limit) {
    const size_t i = seq.n_remembered;
    std::span<const TokenId> tokens(seq.tokens.data() + i * block, block);
    if (seq.block_hashes.size() == i)
      seq.block_hashes.push_back(KvCache::chain_hash(i == 0 ? KvCache::kRootHash : seq.block_hashes[i - 1], tokens));
    cache_.remember(seq.blocks.blocks[i], seq.block_hashes[i], i == 0 ? kNoBlock : seq.blocks.blocks[i - 1], tokens);
    ++seq.n_remembered;
  }
}

void Engine::preempt(Sequence& seq) {
  // Its full blocks stay cached (remembered), so the recompute is often a prefix hit.
  cache_.release(seq.blocks);
  seq.n_cached = 0;
  seq.n_remembered = 0;
  seq.preempted = true;
  ++last_.preemptions;
}

void Engine::resume_preempted() {
  size_t active = 0;
  for (const auto& seq : sequences_) active += seq->preempted ? 0 : 1;
  for (auto& seq : sequences_) {  // oldest first; a younger one never overtakes an older one
    if (!seq->preempted) continue;
    // Keep a block of headroom per running sequence so the resumed one isn't preempted again at
    // once; with nothing running the whole pool is free and any admitted sequence fits.
    if (cache_.free_blocks() < cache_.blocks_for(seq->tokens.size()) + active) return;
    attach_cached_prefix(*seq);
    if (!cache_.reserve(seq->blocks, seq->tokens.size())) {  // can't happen after the check above
      cache_.release(seq->blocks);
      seq->n_cached = seq->n_remembered = 0;
      return;
    }
    seq->preempted = false;
    ++active;
  }
}

void Engine::grow_or_preempt(std::vector<std::pair<Sequence*, size_t>>& chosen) {
  // Oldest first: an older sequence may take blocks from newer ones, never the other way round,
  // so the oldest always progresses (alone it fits the pool, add() checked that).
  std::sort(chosen.begin(), chosen.end(), [](const auto& a, const auto& b) { return a.first->id < b.first->id; });
  for (auto& [seq, rows] : chosen) {
    if (seq->preempted) continue;
    while (!cache_.reserve(seq->blocks, seq->n_cached + rows)) {
      Sequence* victim = nullptr;
      for (auto it = sequences_.rbegin(); it != sequences_.rend() && (*it)->id > seq->id; ++it) {
        if (!(*it)->preempted && !(*it)->blocks.blocks.empty()) {
          victim = it->get();
          break;
        }
      }
      if (!victim) {
        preempt(*seq);
        break;
      }
      preempt(*victim);
    }
  }
  std::erase_if(chosen, [](const auto& entry) { return entry.first->preempted; });
}

void Engine::finish(Sequence& seq, FinishReason reason, SequenceEvent& event) {
  // Release what the detokenizer and the stop matcher still hold; a stop string can still
  // complete in the detokenizer's tail.
  if (seq.detokenizer && reason != FinishReason::stop_string) {
    auto tail = seq.stops.push(seq.detokenizer->flush());
    event.text += tail.released;
    if (tail.stop) {
      reason = FinishReason::stop_string;
      event.stop_string = *tail.stop;
    }
    event.text += seq.stops.flush();
  }
  seq.finished = true;
  event.finished = true;
  event.reason = reason;
  cache_.release(seq.blocks);
}

void Engine::emit_token(Sequence& seq, const SampleResult& sample, SequenceEvent& event) {
  const TokenId token = sample.token;
  seq.tokens.push_back(token);
  ++seq.n_generated;

  GeneratedToken generated;
  generated.id = token;
  generated.logprob = sample.logprob;
  if (tokenizer_) generated.text = tokenizer_->token_to_piece(token, true);
  for (const auto& alt : sample.top)
    generated.top.push_back({alt.id, alt.logprob, tokenizer_ ? tokenizer_->token_to_piece(alt.id, true) : std::string()});
  event.tokens.push_back(std::move(generated));
  event.completion_tokens = seq.n_generated;

  const auto& stop_ids = seq.request.stop_tokens;
  bool end_of_generation = std::find(stop_ids.begin(), stop_ids.end(), token) != stop_ids.end() ||
                           (!seq.request.ignore_eos && tokenizer_ && tokenizer_->is_end_of_generation(token));
  if (end_of_generation) return finish(seq, FinishReason::eos, event);

  if (seq.detokenizer) {
    auto result = seq.stops.push(seq.detokenizer->push(token));
    event.text += result.released;
    if (result.stop) {
      event.stop_string = *result.stop;
      return finish(seq, FinishReason::stop_string, event);
    }
  }
  if (seq.n_generated >= seq.request.max_tokens) finish(seq, FinishReason::length, event);
}

std::vector<Engine::Sequence*> Engine::prefill_candidates(const StepPolicy& policy) {
  std::vector<Sequence*> prefills;
  for (auto& seq : sequences_)
    if (!seq->preempted && seq->prefilling()) prefills.push_back(seq.get());
  if (policy.prefill_order == StepPolicy::PrefillOrder::shortest_first) {
    auto overdue = [&](const Sequence* seq) { return seq->prefill_skips >= policy.max_prefill_skips; };
    auto rows_left = [](const Sequence* seq) { return seq->tokens.size() - seq->n_cached; };
    // Overdue prompts first, in arrival order; then the others by rows left (ties: arrival).
    std::stable_sort(prefills.begin(), prefills.end(), [&](const Sequence* a, const Sequence* b) {
      if (overdue(a) || overdue(b)) return overdue(a) && !overdue(b);
      return rows_left(a) < rows_left(b);
    });
  }
  return prefills;
}

std::vector<SequenceEvent> Engine::step(size_t token_budget, const StepPolicy& policy) {
  std::vector<SequenceEvent> events;
  if (token_budget == 0 || sequences_.empty()) return events;
  resume_preempted();

  std::vector<Sequence*> decoders;
  for (auto& seq : sequences_)
    if (!seq->preempted && !seq->prefilling()) decoders.push_back(seq.get());
  const std::vector<Sequence*> prefills = prefill_candidates(policy);
  std::vector<std::pair<Sequence*, size_t>> chosen;  // sequence, rows this step
  size_t budget = token_budget;
  // By default decode tokens go first, so running streams never wait behind a long prompt.
  const bool decode_now = !(policy.prefill_first && !prefills.empty());
  if (decode_now && !decoders.empty()) {
    const size_t n = std::min(decoders.size(), budget);
    const size_t start = decode_cursor_ % decoders.size();
    for (size_t i = 0; i < n; ++i) chosen.emplace_back(decoders[(start + i) % decoders.size()], 1);
    decode_cursor_ = (start + n) % decoders.size();
    budget -= n;
  }
  if (policy.max_prefill_tokens > 0 && !chosen.empty()) budget = std::min(budget, policy.max_prefill_tokens);
  size_t prompts = 0;
  for (Sequence* seq : prefills) {
    if (budget == 0 || (policy.max_prefill_sequences > 0 && prompts == policy.max_prefill_sequences)) break;
    const size_t chunk = prefill_chunk(*seq, budget, chosen.empty());
    if (chunk == 0) continue;
    chosen.emplace_back(seq, chunk);
    budget -= std::min(chunk, budget);  // a forced minimum slice may overshoot a tiny budget
    ++prompts;
  }
  for (Sequence* seq : prefills) {
    const bool got_rows = std::any_of(chosen.begin(), chosen.end(), [&](const auto& c) { return c.first == seq; });
    seq->prefill_skips = got_rows ? 0 : seq->prefill_skips + 1;
  }
  grow_or_preempt(chosen);
  last_.last_step_tokens = last_.last_step_sequences = 0;
  last_.last_step_prefill_tokens = last_.last_step_decode_tokens = 0;
  if (chosen.empty()) return events;
  for (auto [seq, rows] : chosen) (seq->prefilling() ? last_.last_step_prefill_tokens : last_.last_step_decode_tokens) += rows;

  ForwardBatch batch;
  std::vector<bool> sampled(chosen.size());
  for (size_t i = 0; i < chosen.size(); ++i) {
    auto [seq, rows] = chosen[i];
    sampled[i] = seq->n_cached + rows == seq->tokens.size();
    const size_t begin = seq->n_cached, end = begin + rows;
    batch.tokens.insert(batch.tokens.end(), seq->tokens.begin() + static_cast<ptrdiff_t>(begin),
                        seq->tokens.begin() + static_cast<ptrdiff_t>(end));
    // The forward sums a row in the prompt order when its sequence has 2+ rows in the batch, in
    // the decode order when it has one. Each position keeps the order it has in an
    // uninterrupted run (prompt_order_end), so a recompute after preemption, or a prefix hit,
    // reproduces the same bits: prompt rows go as one slice, generated tokens one row each.
    const size_t split = std::clamp(prompt_order_end(*seq), begin, end);
    auto logits_for = [&](size_t last) {
      return sampled[i] && last == end ? ForwardSequence::Logits::last : ForwardSequence::Logits::none;
    };
    if (split > begin)
      batch.sequences.push_back({&seq->blocks, static_cast<uint32_t>(begin), static_cast<uint32_t>(split - begin), logits_for(split)});
    for (size_t pos = split; pos < end; ++pos)
      batch.sequences.push_back({&seq->blocks, static_cast<uint32_t>(pos), 1, logits_for(pos + 1)});
  }
  model_.forward(batch, cache_, logits_);
  last_.last_step_tokens = batch.tokens.size();
  last_.last_step_sequences = chosen.size();

  const size_t n_vocab = model_.config().n_vocab;
  size_t logit_row = 0;
  for (size_t i = 0; i < chosen.size(); ++i) {
    Sequence& seq = *chosen[i].first;
    seq.n_cached += chosen[i].second;
    remember_full_blocks(seq);
    if (!sampled[i]) continue;
    std::span<const float> row(logits_.data() + logit_row++ * n_vocab, n_vocab);
    SequenceEvent event;
    event.id = seq.id;
    event.prompt_tokens = static_cast<uint32_t>(seq.request.prompt.size());
    event.cached_tokens = seq.cached_tokens;
    if (seq.forced.empty()) {
      emit_token(seq, seq.sampler.sample(row), event);
    } else {
      const TokenId token = seq.forced.front();
      seq.forced.pop_front();
      emit_token(seq, seq.sampler.take(row, token), event);
    }
    events.push_back(std::move(event));
  }
  sequences_.remove_if([](const std::unique_ptr<Sequence>& seq) { return seq->finished; });
  return events;
}

std::vector<Engine::ScoredPosition> Engine::score(std::span<const TokenId> tokens, size_t top_n,
                                                  size_t chunk_tokens) {
  if (tokens.size() < 2) throw EngineError("score: needs at least 2 tokens, got " + std::to_string(tokens.size()));
  if (tokens.size() > context_size_)
    throw EngineError("score: " + std::to_string(tokens.size()) + " tokens exceed the context size (" +
                      std::to_string(context_size_) + ")");
  const uint32_t n_vocab = model_.config().n_vocab;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || static_cast<uint32_t>(tokens[i]) >= n_vocab)
      throw EngineError("score: token " + std::to_string(i) + " (id " + std::to_string(tokens[i]) +
                        ") is outside the vocabulary (" + std::to_string(n_vocab) + " tokens)");
  BlockTable table;
  if (!cache_.reserve(table, tokens.size()))
    throw EngineError("score: KV cache temporarily full: needs " + std::to_string(cache_.blocks_for(tokens.size())) +
                      " blocks, " + std::to_string(cache_.free_blocks()) + " free");
  std::vector<ScoredPosition> rows;
  try {
    const size_t n_rows = tokens.size() - 1;  // the last token predicts nothing we can check
    for (size_t start = 0; start < n_rows; start += std::max<size_t>(chunk_tokens, 1)) {
      const size_t n = std::min(std::max<size_t>(chunk_tokens, 1), n_rows - start);
      ForwardBatch batch;
      batch.tokens.assign(tokens.begin() + static_cast<ptrdiff_t>(start),
                          tokens.begin() + static_cast<ptrdiff_t>(start + n));
      batch.sequences.push_back(
          {&table, static_cast<uint32_t>(start), static_cast<uint32_t>(n), ForwardSequence::Logits::all});
      model_.forward(batch, cache_, logits_);
      for (size_t j = 0; j < n; ++j) {
        std::span<const float> row(logits_.data() + j * n_vocab, n_vocab);
        ScoredPosition pos;
        pos.actual_logprob = static_cast<float>(row[static_cast<size_t>(tokens[start + j + 1])] - log_sum_exp(row));
        pos.top = top_logprobs(row, top_n);
        rows.push_back(std::move(pos));
      }
    }
  } catch (...) {
    cache_.release(table);
    throw;
  }
  cache_.release(table);
  return rows;
}

}  // namespace tandem::engine
