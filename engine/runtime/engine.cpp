#include "engine/engine.h"

#include <algorithm>

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
  BlockTable blocks;
  Sampler sampler;
  std::unique_ptr<IncrementalDetokenizer> detokenizer;
  StopStringMatcher stops;
  bool finished = false;

  Sequence(SequenceRequest r, const Tokenizer* tokenizer)
      : request(std::move(r)), sampler(request.sampling), stops(request.stop_strings) {
    tokens = request.prompt;
    sampler.add_history(request.prompt);
    // Continuing after a prompt: the first generated token keeps its leading space.
    if (tokenizer) detokenizer = std::make_unique<IncrementalDetokenizer>(*tokenizer, false, false);
  }
  bool prefilling() const { return n_generated == 0; }
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

  auto seq = std::make_unique<Sequence>(std::move(request), tokenizer_);
  if (!cache_.reserve(seq->blocks, total))
    return refuse(AddStatus::pool_full, "KV cache temporarily full: needs " + std::to_string(cache_.blocks_for(total)) +
                                            " blocks, " + std::to_string(cache_.free_blocks()) + " free");
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

bool Engine::has_work() const { return !sequences_.empty(); }

EngineStats Engine::stats() const {
  EngineStats s = last_;
  s.running = s.waiting_prefill = 0;
  for (const auto& seq : sequences_) (seq->prefilling() ? s.waiting_prefill : s.running)++;
  s.kv_blocks_used = cache_.used_blocks();
  s.kv_blocks_total = cache_.total_blocks();
  return s;
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

std::vector<SequenceEvent> Engine::step(size_t token_budget) {
  std::vector<SequenceEvent> events;
  if (token_budget == 0 || sequences_.empty()) return events;

  // Decode tokens first so running streams never wait behind a long prompt.
  std::vector<Sequence*> decoders, prefills;
  for (auto& seq : sequences_) (seq->prefilling() ? prefills : decoders).push_back(seq.get());
  std::vector<std::pair<Sequence*, size_t>> chosen;  // sequence, rows this step
  size_t budget = token_budget;
  if (!decoders.empty()) {
    const size_t n = std::min(decoders.size(), budget);
    const size_t start = decode_cursor_ % decoders.size();
    for (size_t i = 0; i < n; ++i) chosen.emplace_back(decoders[(start + i) % decoders.size()], 1);
    decode_cursor_ = (start + n) % decoders.size();
    budget -= n;
  }
  for (Sequence* seq : prefills) {
    if (budget == 0) break;
    const size_t chunk = std::min(budget, seq->tokens.size() - seq->n_cached);
    chosen.emplace_back(seq, chunk);
    budget -= chunk;
  }

  ForwardBatch batch;
  for (auto& [seq, rows] : chosen) {
    const bool completes = seq->n_cached + rows == seq->tokens.size();
    batch.tokens.insert(batch.tokens.end(), seq->tokens.begin() + static_cast<ptrdiff_t>(seq->n_cached),
                        seq->tokens.begin() + static_cast<ptrdiff_t>(seq->n_cached + rows));
    batch.sequences.push_back({&seq->blocks, static_cast<uint32_t>(seq->n_cached), static_cast<uint32_t>(rows),
                               completes ? ForwardSequence::Logits::last : ForwardSequence::Logits::none});
  }
  model_.forward(batch, cache_, logits_);
  last_.last_step_tokens = batch.tokens.size();
  last_.last_step_sequences = chosen.size();

  const size_t n_vocab = model_.config().n_vocab;
  size_t logit_row = 0;
  for (size_t i = 0; i < chosen.size(); ++i) {
    Sequence& seq = *chosen[i].first;
    seq.n_cached += chosen[i].second;
    if (batch.sequences[i].logits == ForwardSequence::Logits::none) continue;
    std::span<const float> row(logits_.data() + logit_row++ * n_vocab, n_vocab);
    SequenceEvent event;
    event.id = seq.id;
    event.prompt_tokens = static_cast<uint32_t>(seq.request.prompt.size());
    emit_token(seq, seq.sampler.sample(row), event);
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
