// KV reuse: the prefix cache (block bookkeeping, hits bit-identical to misses, eviction under
// pressure) and on-demand KV with preemption (a pool too small for every sequence's max_tokens
// still completes them all, with exactly the tokens and logprobs of uninterrupted runs).
#include "engine/engine.h"
#include "engine/kv_cache.h"
#include "tests/engine/runtime/golden.h"

#include <gtest/gtest.h>

#include <bit>
#include <map>

namespace tandem::engine {
namespace {

using test::load_golden;
using test::load_test_model;

// ---- KvCache prefix bookkeeping -------------------------------------------------------------

std::vector<int32_t> block_of(int32_t first) {
  std::vector<int32_t> tokens(16);
  for (int32_t i = 0; i < 16; ++i) tokens[static_cast<size_t>(i)] = first + i;
  return tokens;
}

TEST(KvPrefixCache, RememberedBlocksOutliveTheirTableAndAreFoundByPrefix) {
  KvCache cache({2, 2, 4, 16, 64});
  BlockTable a;
  ASSERT_TRUE(cache.reserve(a, 40));  // 3 blocks, the last one partial
  const auto t0 = block_of(100), t1 = block_of(200);
  const uint64_t h0 = KvCache::chain_hash(KvCache::kRootHash, t0);
  const uint64_t h1 = KvCache::chain_hash(h0, t1);
  EXPECT_NE(h1, KvCache::chain_hash(KvCache::kRootHash, t1)) << "the hash must depend on the whole prefix";
  cache.remember(a.blocks[0], h0, kNoBlock, t0);
  cache.remember(a.blocks[1], h1, a.blocks[0], t1);
  const BlockTable kept = a;
  cache.release(a);
  EXPECT_EQ(cache.used_blocks(), 0u);
  EXPECT_EQ(cache.free_blocks(), 4u) << "cached blocks count as free";
  EXPECT_EQ(cache.cached_free_blocks(), 2u);

  EXPECT_EQ(cache.lookup(h0, kNoBlock, t0), kept.blocks[0]);
  EXPECT_EQ(cache.lookup(h1, kept.blocks[0], t1), kept.blocks[1]);
  EXPECT_EQ(cache.lookup(h1, kept.blocks[2], t1), kNoBlock) << "wrong parent";
  EXPECT_EQ(cache.lookup(h1, kept.blocks[0], t0), kNoBlock) << "wrong tokens under the same hash";
  EXPECT_EQ(cache.lookup(h1 ^ 1, kept.blocks[0], t1), kNoBlock);

  BlockTable b;
  cache.acquire(b, kept.blocks[0]);
  EXPECT_EQ(cache.used_blocks(), 1u);
  EXPECT_EQ(cache.cached_free_blocks(), 1u);
  EXPECT_EQ(cache.ref_count(kept.blocks[0]), 1u);
  cache.release(b);
  EXPECT_EQ(cache.cached_free_blocks(), 2u);
  EXPECT_EQ(cache.evictions(), 0u);
}

TEST(KvPrefixCache, EvictsOnlyWhenNeverUsedBlocksRunOutDeepestFirst) {
  KvCache cache({2, 2, 4, 16, 64});
  BlockTable a;
  ASSERT_TRUE(cache.reserve(a, 32));
  const auto t0 = block_of(100), t1 = block_of(200);
  const uint64_t h0 = KvCache::chain_hash(KvCache::kRootHash, t0);
  const uint64_t h1 = KvCache::chain_hash(h0, t1);
  cache.remember(a.blocks[0], h0, kNoBlock, t0);
  cache.remember(a.blocks[1], h1, a.blocks[0], t1);
  const BlockTable kept = a;
  cache.release(a);

  BlockTable b;
  ASSERT_TRUE(cache.reserve(b, 32));  // the two never-used blocks
  EXPECT_EQ(cache.evictions(), 0u);
  EXPECT_EQ(cache.lookup(h1, kept.blocks[0], t1), kept.blocks[1]);
  ASSERT_TRUE(cache.reserve(b, 48));  // one more: evicts the prefix's tail, keeps its head
  EXPECT_EQ(cache.evictions(), 1u);
  EXPECT_EQ(cache.lookup(h1, kept.blocks[0], t1), kNoBlock);
  EXPECT_EQ(cache.lookup(h0, kNoBlock, t0), kept.blocks[0]);
  EXPECT_FALSE(cache.reserve(b, 80)) << "only 4 blocks";
  EXPECT_EQ(cache.lookup(h0, kNoBlock, t0), kept.blocks[0]) << "a refused reservation evicts nothing";
  cache.release(b);
  EXPECT_EQ(cache.free_blocks(), 4u);
}

// ---- The engine on stories260K --------------------------------------------------------------

SequenceRequest greedy(std::vector<TokenId> prompt, uint32_t max_tokens) {
  SequenceRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.0f;
  r.sampling.top_logprobs = 3;
  return r;
}

struct Output {
  std::vector<TokenId> tokens;
  std::vector<uint32_t> logprob_bits;  // chosen and top alternatives, as raw bits
  uint32_t cached_tokens = 0;
  bool finished = false;
  size_t events = 0;
};

std::map<SequenceId, Output> run_all(Engine& engine, size_t budget) {
  std::map<SequenceId, Output> out;
  while (engine.has_work()) {
    for (auto& e : engine.step(budget)) {
      auto& o = out[e.id];
      EXPECT_FALSE(o.finished) << "event after the finishing one";
      ++o.events;
      for (auto& t : e.tokens) {
        o.tokens.push_back(t.id);
        o.logprob_bits.push_back(std::bit_cast<uint32_t>(t.logprob));
        for (auto& alt : t.top) o.logprob_bits.push_back(std::bit_cast<uint32_t>(alt.logprob));
      }
      o.cached_tokens = e.cached_tokens;
      o.finished = e.finished;
    }
  }
  return out;
}

Output run_one(Engine& engine, const SequenceRequest& request, size_t budget = 64) {
  auto added = engine.add(request);
  EXPECT_TRUE(added.ok()) << added.error;
  return run_all(engine, budget)[added.id];
}

void expect_same_output(const Output& got, const Output& want) {
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.logprob_bits, want.logprob_bits) << "logprobs differ in some bit";
  EXPECT_TRUE(got.finished);
}

class KvReuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_ = load_test_model("stories260K.gguf");
    ASSERT_TRUE(m_.model);
    cases_ = load_golden("stories260K.gguf");
    ASSERT_EQ(cases_.size(), 4u);
  }
  // A golden prompt stretched to `length` tokens with a pattern that depends on `salt`.
  std::vector<TokenId> prompt(size_t which, size_t length, int salt = 0) const {
    std::vector<TokenId> p = cases_[which].prompt_tokens;
    for (size_t i = p.size(); i < length; ++i) p.push_back(static_cast<TokenId>(260 + (i * 7 + salt * 13) % 200));
    p.resize(length);
    return p;
  }
  static EngineConfig config(uint32_t kv_tokens, bool prefix_cache) {
    EngineConfig c{kv_tokens, 16, 0};
    c.prefix_cache = prefix_cache;
    return c;
  }
  test::LoadedTestModel m_;
  std::vector<test::GoldenCase> cases_;
};

TEST_F(KvReuseTest, SamePromptTwiceHitsTheCacheWithBitIdenticalOutput) {
  const auto request = greedy(prompt(3, 50), 24);
  Engine uncached(*m_.model, nullptr, config(2048, false));
  const Output reference = run_one(uncached, request);
  EXPECT_EQ(reference.cached_tokens, 0u);

  Engine engine(*m_.model, nullptr, config(2048, true));
  const Output first = run_one(engine, request);
  EXPECT_EQ(first.cached_tokens, 0u);
  expect_same_output(first, reference);
  EXPECT_EQ(engine.cache().used_blocks(), 0u);
  EXPECT_GT(engine.stats().kv_blocks_cached, 0u) << "finished blocks stay cached";

  const Output second = run_one(engine, request);
  EXPECT_EQ(second.cached_tokens, 48u) << "3 full blocks; the last prompt token is always computed";
  expect_same_output(second, reference);
  const auto stats = engine.stats();
  EXPECT_EQ(stats.prefix_hit_tokens, 48u);
  EXPECT_EQ(stats.prefix_miss_tokens, 50u + 2u);
  EXPECT_EQ(stats.kv_evictions, 0u);
}

TEST_F(KvReuseTest, SharedPrefixAndMultiTurnContinuationReuseBlocks) {
  Engine engine(*m_.model, nullptr, config(2048, true));
  Engine uncached(*m_.model, nullptr, config(2048, false));
  const auto base = prompt(1, 40);
  const Output turn1 = run_one(engine, greedy(base, 30));

  // Another prompt with the same first 35 tokens: 2 whole blocks are shared.
  auto sibling = prompt(1, 60, 5);
  std::copy(base.begin(), base.begin() + 35, sibling.begin());
  const Output hit = run_one(engine, greedy(sibling, 20));
  EXPECT_EQ(hit.cached_tokens, 32u);
  expect_same_output(hit, run_one(uncached, greedy(sibling, 20)));

  // The next turn of a chat: the previous prompt, its answer, and more. Only prompt blocks are
  // cached (a generated token's row is summed in the decode order, a prompt's in the prompt order).
  auto turn2 = base;
  turn2.insert(turn2.end(), turn1.tokens.begin(), turn1.tokens.end());
  for (int i = 0; i < 9; ++i) turn2.push_back(300 + i);
  const Output next = run_one(engine, greedy(turn2, 20));
  EXPECT_EQ(next.cached_tokens, 32u) << "the 40-token prompt of turn 1 closed 2 blocks";
  expect_same_output(next, run_one(uncached, greedy(turn2, 20)));

  // A hit while the owner of the blocks is still running shares them.
  const auto a = engine.add(greedy(sibling, 10));
  engine.step(64);
  const auto b = engine.add(greedy(sibling, 10));
  ASSERT_TRUE(a.ok() && b.ok());
  auto out = run_all(engine, 64);
  EXPECT_EQ(out[b.id].cached_tokens, 48u);
  EXPECT_EQ(out[b.id].tokens, std::vector<TokenId>(hit.tokens.begin(), hit.tokens.begin() + 10));
  EXPECT_EQ(engine.cache().used_blocks(), 0u);
}

TEST_F(KvReuseTest, EvictionUnderPressureKeepsOutputsExact) {
  // 8 blocks. Each request needs 4 or 5 of them, so later ones evict earlier ones' cached blocks.
  Engine engine(*m_.model, nullptr, config(128, true));
  Engine uncached(*m_.model, nullptr, config(2048, false));
  std::vector<SequenceRequest> requests;
  for (int k = 0; k < 4; ++k) requests.push_back(greedy(prompt(static_cast<size_t>(k), 50 + 16 * static_cast<size_t>(k % 2), k), 12));
  std::vector<Output> want;
  for (const auto& r : requests) want.push_back(run_one(uncached, r));
  for (int round = 0; round < 2; ++round)
    for (size_t k = 0; k < requests.size(); ++k) {
      SCOPED_TRACE("round " + std::to_string(round) + " request " + std::to_string(k));
      expect_same_output(run_one(engine, requests[k]), want[k]);
    }
  EXPECT_GT(engine.stats().kv_evictions, 0u);
  EXPECT_EQ(engine.cache().used_blocks(), 0u);
}

// Prompt rows always go in slices of 2+ (their summation order), so any budget, even 1 (the
// step then overshoots by a row), gives the bits of a one-shot prefill.
TEST_F(KvReuseTest, AnyStepBudgetGivesTheOneShotBits) {
  const auto request = greedy(prompt(2, 35), 12);
  Engine one_shot(*m_.model, nullptr, config(1024, false));
  const Output want = run_one(one_shot, request, 512);
  for (size_t budget : {1u, 2u, 3u, 5u, 17u}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    Engine engine(*m_.model, nullptr, config(1024, false));
    expect_same_output(run_one(engine, request, budget), want);
    EXPECT_LE(engine.stats().last_step_tokens, std::max<size_t>(budget, 3));
  }
}

// ---- On-demand KV and preemption ------------------------------------------------------------

TEST_F(KvReuseTest, BlocksAreTakenAsSequencesGrow) {
  Engine engine(*m_.model, nullptr, config(1024, false));
  auto id = engine.add(greedy(prompt(0, 20), 40)).id;
  EXPECT_EQ(engine.cache().used_blocks(), 2u) << "the prompt only, not prompt + max_tokens";
  size_t max_used = 0;
  while (engine.has_work()) {
    engine.step(64);
    max_used = std::max<size_t>(max_used, engine.cache().used_blocks());
  }
  EXPECT_EQ(max_used, 4u) << "20 + 40 tokens, the last one never stored";
  EXPECT_FALSE(engine.cancel(id));
}

TEST_F(KvReuseTest, PoolTooSmallForAllMaxTokensCompletesEveryRequestExactly) {
  for (bool prefix_cache : {false, true}) {
    SCOPED_TRACE(prefix_cache ? "prefix cache on" : "prefix cache off");
    // 8 blocks; 4 sequences of 20 + 44 tokens need 16 at once.
    std::vector<SequenceRequest> requests;
    for (int k = 0; k < 4; ++k) requests.push_back(greedy(prompt(static_cast<size_t>(k), 20, k), 44));
    requests[1].sampling.temperature = 0.8f;  // a seeded sampler's state survives preemption too
    requests[1].sampling.seed = 7;
    std::vector<Output> want;
    for (const auto& r : requests) {
      Engine alone(*m_.model, nullptr, config(2048, false));
      want.push_back(run_one(alone, r));
    }
    Engine engine(*m_.model, nullptr, config(128, prefix_cache));
    std::vector<SequenceId> ids;
    for (const auto& r : requests) {
      auto added = engine.add(r);
      ASSERT_TRUE(added.ok()) << added.error;
      ids.push_back(added.id);
    }
    auto out = run_all(engine, 32);
    for (size_t k = 0; k < requests.size(); ++k) {
      SCOPED_TRACE("request " + std::to_string(k));
      expect_same_output(out[ids[k]], want[k]);
    }
    const auto stats = engine.stats();
    EXPECT_GT(stats.preemptions, 0u);
    EXPECT_EQ(stats.preempted, 0u);
    EXPECT_EQ(engine.cache().used_blocks(), 0u);
  }
}

TEST_F(KvReuseTest, PreemptedSequencesResumeBeforeNewOnesAreAdmitted) {
  Engine engine(*m_.model, nullptr, config(128, false));
  std::vector<SequenceId> ids;
  for (int k = 0; k < 4; ++k) ids.push_back(engine.add(greedy(prompt(static_cast<size_t>(k), 20, k), 44)).id);
  while (engine.stats().preempted == 0 && engine.has_work()) engine.step(32);
  ASSERT_GT(engine.stats().preempted, 0u);
  auto late = engine.add(greedy(prompt(0, 5), 4));
  EXPECT_EQ(late.status, AddStatus::pool_full) << "a preempted sequence waits first in line";
  EXPECT_TRUE(engine.cancel(ids.back())) << "a preempted sequence can be cancelled";
  run_all(engine, 32);
  EXPECT_TRUE(engine.add(greedy(prompt(0, 5), 4)).ok());
}

}  // namespace
}  // namespace tandem::engine
