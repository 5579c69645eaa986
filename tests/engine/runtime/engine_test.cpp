// The step API on stories260K: greedy output equals llama.cpp's, batch invariance, chunked
// prefill, admission errors, cancellation, stop conditions and the score path.
#include "engine/engine.h"
#include "tests/engine/runtime/golden.h"

#include <gtest/gtest.h>

#include <cstring>

#include <map>

namespace tandem::engine {
namespace {

using test::load_golden;
using test::load_test_model;

// Each token reads "<id>"; token 2 is the end-of-generation token. Enough to test text flow
// without depending on a real vocabulary.
class AngleTokenizer : public Tokenizer {
 public:
  std::vector<TokenId> encode(std::string_view, bool, bool) const override { return {}; }
  std::string token_to_piece(TokenId id, bool) const override { return "<" + std::to_string(id) + ">"; }
  std::string decode(std::span<const TokenId> ids, bool special) const override {
    std::string s;
    for (auto id : ids) s += token_to_piece(id, special);
    return s;
  }
  size_t vocab_size() const override { return 512; }
  const std::string& token_text(TokenId) const override { return empty_; }
  TokenType token_type(TokenId) const override { return TokenType::normal; }
  std::string_view model_name() const override { return "angle"; }
  TokenId bos_id() const override { return 1; }
  TokenId eos_id() const override { return 2; }
  bool add_bos_default() const override { return true; }
  bool add_eos_default() const override { return false; }
  bool is_end_of_generation(TokenId id) const override { return id == 2; }
  std::vector<TokenId> end_of_generation_ids() const override { return {2}; }

 private:
  std::string empty_;
};

SequenceRequest greedy(std::vector<TokenId> prompt, uint32_t max_tokens, int top_logprobs = 0) {
  SequenceRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.0f;
  r.sampling.top_logprobs = top_logprobs;
  return r;
}

struct Collected {
  std::vector<TokenId> tokens;
  std::vector<float> logprobs;
  std::string text;
  FinishReason reason = FinishReason::none;
  std::string stop;
  uint32_t completion_tokens = 0;
};

// Runs until no work is left, collecting each sequence's output.
std::map<SequenceId, Collected> run_all(Engine& engine, size_t budget) {
  std::map<SequenceId, Collected> out;
  while (engine.has_work()) {
    for (auto& e : engine.step(budget)) {
      auto& c = out[e.id];
      for (auto& t : e.tokens) {
        c.tokens.push_back(t.id);
        c.logprobs.push_back(t.logprob);
      }
      c.text += e.text;
      c.completion_tokens = e.completion_tokens;
      if (e.finished) {
        c.reason = e.reason;
        c.stop = e.stop_string;
      }
    }
  }
  return out;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_ = load_test_model("stories260K.gguf");
    ASSERT_TRUE(m_.model);
    cases_ = load_golden("stories260K.gguf");
    ASSERT_EQ(cases_.size(), 4u);
  }
  test::LoadedTestModel m_;
  std::vector<test::GoldenCase> cases_;
};

TEST_F(EngineTest, GreedyMatchesLlamaCppForAllCasesRunTogether) {
  Engine engine(*m_.model, nullptr, {2048, 16, 0});
  std::vector<SequenceId> ids;
  for (const auto& c : cases_) {
    auto r = engine.add(greedy(c.prompt_tokens, static_cast<uint32_t>(c.completion_tokens.size())));
    ASSERT_TRUE(r.ok()) << r.error;
    ids.push_back(r.id);
  }
  auto out = run_all(engine, 64);
  for (size_t i = 0; i < cases_.size(); ++i) {
    EXPECT_EQ(out[ids[i]].tokens, cases_[i].completion_tokens) << cases_[i].prompt;
    EXPECT_EQ(out[ids[i]].reason, FinishReason::length);
    EXPECT_EQ(out[ids[i]].completion_tokens, cases_[i].completion_tokens.size());
  }
  EXPECT_EQ(engine.cache().used_blocks(), 0u);
}

// A sequence decoded alone and inside a busy batch of 16 (prefills and decodes of other
// sequences, some sampled at temperature) gives the same tokens and bit-identical logprobs.
TEST_F(EngineTest, BatchInvarianceAloneVersusSixteenMixed) {
  const auto& target = cases_[3];
  Collected alone;
  {
    Engine engine(*m_.model, nullptr, {4096, 16, 0});
    auto id = engine.add(greedy(target.prompt_tokens, 40)).id;
    alone = run_all(engine, 512)[id];
  }
  Engine engine(*m_.model, nullptr, {4096, 16, 0});
  std::vector<SequenceId> others;
  auto add_other = [&](int k) {
    std::vector<TokenId> prompt = cases_[static_cast<size_t>(k) % 3].prompt_tokens;
    for (int j = 0; j < k; ++j) prompt.push_back(static_cast<TokenId>(300 + 7 * j + k));
    SequenceRequest r = greedy(prompt, 20 + static_cast<uint32_t>(k));
    if (k % 2) {
      r.sampling.temperature = 0.9f;
      r.sampling.seed = static_cast<uint64_t>(k);
    }
    auto res = engine.add(r);
    ASSERT_TRUE(res.ok()) << res.error;
    others.push_back(res.id);
  };
  for (int k = 0; k < 8; ++k) add_other(k);
  engine.step(64);  // others are mid-flight when the target arrives
  SequenceId target_id = engine.add(greedy(target.prompt_tokens, 40)).id;
  for (int k = 8; k < 15; ++k) add_other(k);
  std::map<SequenceId, Collected> out;
  size_t max_batch = 0;
  while (engine.has_work()) {
    for (auto& e : engine.step(48)) {
      for (auto& t : e.tokens) {
        out[e.id].tokens.push_back(t.id);
        out[e.id].logprobs.push_back(t.logprob);
      }
    }
    max_batch = std::max(max_batch, engine.stats().last_step_sequences);
  }
  EXPECT_GE(max_batch, 16u);
  const auto& mixed = out[target_id];
  ASSERT_EQ(mixed.tokens, alone.tokens);
  // The same bits, not merely close: a row's result never depends on the rest of the batch.
  ASSERT_EQ(mixed.logprobs.size(), alone.logprobs.size());
  for (size_t i = 0; i < alone.logprobs.size(); ++i) {
    EXPECT_EQ(std::memcmp(&mixed.logprobs[i], &alone.logprobs[i], sizeof(float)), 0)
        << i << ": " << mixed.logprobs[i] << " vs " << alone.logprobs[i];
  }
}

TEST_F(EngineTest, ChunkedPrefillUnderSmallBudgetEqualsOneShot) {
  std::vector<TokenId> prompt = cases_[3].prompt_tokens;
  SequenceRequest r = greedy(prompt, 12, 5);
  Engine one_shot(*m_.model, nullptr, {1024, 16, 0});
  auto a = one_shot.add(r).id;
  auto full = run_all(one_shot, 512)[a];
  Engine chunked(*m_.model, nullptr, {1024, 16, 0});
  auto b = chunked.add(r).id;
  auto small = run_all(chunked, 5)[b];
  ASSERT_EQ(full.tokens, small.tokens);
  for (size_t i = 0; i < full.logprobs.size(); ++i) EXPECT_NEAR(full.logprobs[i], small.logprobs[i], 1e-5);
}

TEST_F(EngineTest, LongPromptDoesNotStallRunningStreams) {
  Engine engine(*m_.model, nullptr, {2048, 16, 0});
  auto running = engine.add(greedy(cases_[0].prompt_tokens, 30)).id;
  engine.step(64);  // prefilled; decoding from now on
  std::vector<TokenId> long_prompt(200, 300);
  long_prompt[0] = 1;
  engine.add(greedy(long_prompt, 4));
  for (int i = 0; i < 5; ++i) {
    auto events = engine.step(16);
    bool got = false;
    for (auto& e : events) got |= e.id == running && !e.tokens.empty();
    EXPECT_TRUE(got) << "step " << i << " skipped the running stream";
    EXPECT_LE(engine.stats().last_step_tokens, 16u);
  }
  EXPECT_EQ(engine.stats().waiting_prefill, 1u);
}

TEST_F(EngineTest, RefusesWhatCanNeverFitAndReportsATemporarilyFullPool) {
  Engine engine(*m_.model, nullptr, {256, 16, 128});
  auto too_long = engine.add(greedy(std::vector<TokenId>(100, 300), 50));
  EXPECT_EQ(too_long.status, AddStatus::too_long);
  EXPECT_EQ(too_long.error, "prompt (100 tokens) + max_tokens (50) exceeds the context size (128)");
  EXPECT_EQ(engine.cache().used_blocks(), 0u);

  // Blocks are reserved for the prompt only (7 of the 16), the rest as the sequence grows.
  auto first = engine.add(greedy(std::vector<TokenId>(100, 300), 28));
  ASSERT_TRUE(first.ok());
  auto second = engine.add(greedy(std::vector<TokenId>(100, 300), 28));
  ASSERT_TRUE(second.ok());
  auto third = engine.add(greedy(std::vector<TokenId>(40, 300), 10));  // 3 blocks, 2 free
  EXPECT_EQ(third.status, AddStatus::pool_full) << third.error;
  EXPECT_EQ(third.error, "KV cache temporarily full: needs 3 blocks, 2 free");
  EXPECT_TRUE(engine.cancel(first.id));
  EXPECT_TRUE(engine.add(greedy(std::vector<TokenId>(40, 300), 10)).ok());

  EXPECT_EQ(engine.add(greedy({}, 10)).status, AddStatus::invalid);
  EXPECT_EQ(engine.add(greedy({1, 9999}, 10)).status, AddStatus::invalid);
}

TEST_F(EngineTest, CancelReturnsBlocksImmediately) {
  Engine engine(*m_.model, nullptr, {1024, 16, 0});
  auto id = engine.add(greedy(cases_[0].prompt_tokens, 40)).id;
  engine.step(64);
  engine.step(64);
  EXPECT_EQ(engine.cache().used_blocks(), 1u);  // 6 tokens stored so far (blocks on demand)
  EXPECT_TRUE(engine.cancel(id));
  EXPECT_EQ(engine.cache().used_blocks(), 0u);
  EXPECT_FALSE(engine.has_work());
  EXPECT_FALSE(engine.cancel(id));
}

TEST_F(EngineTest, StopStringAcrossTokensEndsWithTextBeforeIt) {
  // Case 0 greedily continues 432, 383, 286, 261, ...: "<432><383><286><261>".
  AngleTokenizer tok;
  Engine engine(*m_.model, &tok, {1024, 16, 0});
  SequenceRequest r = greedy(cases_[0].prompt_tokens, 40);
  r.stop_strings = {"3><28"};
  auto id = engine.add(r).id;
  std::vector<std::string> deltas;
  Collected c;
  while (engine.has_work())
    for (auto& e : engine.step(64)) {
      deltas.push_back(e.text);
      c.text += e.text;
      if (e.finished) {
        c.reason = e.reason;
        c.stop = e.stop_string;
      }
      EXPECT_EQ(e.id, id);
    }
  EXPECT_EQ(c.reason, FinishReason::stop_string);
  EXPECT_EQ(c.stop, "3><28");
  EXPECT_EQ(c.text, "<432><38");
  ASSERT_EQ(deltas.size(), 3u);
  EXPECT_EQ(deltas[0], "<432>");
  EXPECT_EQ(deltas[1], "<38") << "'3>' may start the stop string: held back";
  EXPECT_EQ(engine.cache().used_blocks(), 0u);
}

TEST_F(EngineTest, EndOfGenerationTokenStopsWithoutItsText) {
  AngleTokenizer tok;
  Engine engine(*m_.model, &tok, {1024, 16, 0});
  SequenceRequest r = greedy(cases_[0].prompt_tokens, 40);
  r.stop_tokens = {286};  // the third greedy token
  auto out = run_all(engine, 64);
  auto id = engine.add(r).id;
  out = run_all(engine, 64);
  EXPECT_EQ(out[id].reason, FinishReason::eos);
  EXPECT_EQ(out[id].tokens, (std::vector<TokenId>{432, 383, 286}));
  EXPECT_EQ(out[id].text, "<432><383>");
}

TEST_F(EngineTest, LengthFinishFlushesHeldBackText) {
  AngleTokenizer tok;
  Engine engine(*m_.model, &tok, {1024, 16, 0});
  SequenceRequest r = greedy(cases_[0].prompt_tokens, 2);
  r.stop_strings = {"3>XYZ"};
  auto id = engine.add(r).id;
  auto out = run_all(engine, 64);
  EXPECT_EQ(out[id].reason, FinishReason::length);
  EXPECT_EQ(out[id].text, "<432><383>");
}

TEST_F(EngineTest, SeededSamplingIsReproducible) {
  auto sample_run = [&](uint64_t seed) {
    Engine engine(*m_.model, nullptr, {1024, 16, 0});
    SequenceRequest r = greedy(cases_[1].prompt_tokens, 30);
    r.sampling.temperature = 1.0f;
    r.sampling.top_p = 0.95f;
    r.sampling.seed = seed;
    auto id = engine.add(r).id;
    return run_all(engine, 64)[id].tokens;
  };
  EXPECT_EQ(sample_run(11), sample_run(11));
  EXPECT_NE(sample_run(11), sample_run(12));
}

TEST_F(EngineTest, ScoreMatchesLlamaCppTopLogprobs) {
  Engine engine(*m_.model, nullptr, {1024, 16, 0});
  const auto& c = cases_[0];
  std::vector<TokenId> tokens = c.prompt_tokens;
  tokens.insert(tokens.end(), c.completion_tokens.begin(), c.completion_tokens.end());
  auto rows = engine.score(tokens, 10, 7);  // small chunks exercise the chunked path
  ASSERT_EQ(rows.size(), tokens.size() - 1);
  for (size_t i = 0; i < c.top_logprobs.size(); ++i) {
    const auto& row = rows[c.prompt_tokens.size() - 1 + i];
    ASSERT_EQ(row.top.size(), 10u);
    EXPECT_EQ(row.top[0].id, c.top_logprobs[i][0].first);
    EXPECT_NEAR(row.top[0].logprob, c.top_logprobs[i][0].second, 2e-3);
    EXPECT_EQ(row.top[0].id, c.completion_tokens[i]);
    EXPECT_FLOAT_EQ(row.actual_logprob, row.top[0].logprob);
  }
  EXPECT_EQ(engine.cache().used_blocks(), 0u);
  EXPECT_THROW(engine.score(std::vector<TokenId>{1}, 10), EngineError);
}

}  // namespace
}  // namespace tandem::engine
