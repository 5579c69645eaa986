// Pure units: KV block accounting, the sampler on hand-made logits, stop strings with hold-back.
#include "engine/kv_cache.h"
#include "engine/sampler.h"
#include "engine/stop_strings.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

namespace tandem::engine {
namespace {

KvCacheShape small_shape(uint32_t total_tokens) { return {2, 2, 4, 16, total_tokens}; }

TEST(KvCache, ReservesWholeBlocksAndReturnsThem) {
  KvCache cache(small_shape(64));
  EXPECT_EQ(cache.total_blocks(), 4u);
  BlockTable a, b;
  ASSERT_TRUE(cache.reserve(a, 17));  // 2 blocks
  EXPECT_EQ(a.blocks.size(), 2u);
  EXPECT_EQ(cache.free_blocks(), 2u);
  ASSERT_TRUE(cache.reserve(a, 32));  // still 2 blocks
  EXPECT_EQ(cache.free_blocks(), 2u);
  ASSERT_TRUE(cache.reserve(b, 20));
  EXPECT_EQ(cache.free_blocks(), 0u);
  std::set<BlockId> all(a.blocks.begin(), a.blocks.end());
  all.insert(b.blocks.begin(), b.blocks.end());
  EXPECT_EQ(all.size(), 4u) << "a block was handed out twice";
  cache.release(a);
  EXPECT_TRUE(a.blocks.empty());
  EXPECT_EQ(cache.free_blocks(), 2u);
  cache.release(b);
  EXPECT_EQ(cache.free_blocks(), 4u);
}

TEST(KvCache, FullPoolRefusesWithoutPartialAllocation) {
  KvCache cache(small_shape(48));
  BlockTable a, b;
  ASSERT_TRUE(cache.reserve(a, 32));
  EXPECT_FALSE(cache.reserve(b, 33));  // needs 3, 1 free
  EXPECT_TRUE(b.blocks.empty());
  EXPECT_EQ(cache.free_blocks(), 1u);
  EXPECT_TRUE(cache.reserve(b, 16));
}

TEST(KvCache, SharedPrefixBlocksFreeOnlyWhenLastOwnerReleases) {
  KvCache cache(small_shape(64));
  BlockTable a, b;
  ASSERT_TRUE(cache.reserve(a, 32));
  cache.share_prefix(a, b, 2);
  EXPECT_EQ(cache.ref_count(a.blocks[0]), 2u);
  cache.release(a);
  EXPECT_EQ(cache.free_blocks(), 2u);
  cache.release(b);
  EXPECT_EQ(cache.free_blocks(), 4u);
}

TEST(KvCache, RowsOfDifferentBlocksAndLayersDoNotOverlap) {
  KvCache cache(small_shape(32));
  BlockTable t;
  ASSERT_TRUE(cache.reserve(t, 32));
  std::set<const uint16_t*> rows;
  for (uint32_t layer = 0; layer < 2; ++layer)
    for (size_t pos = 0; pos < 32; ++pos) {
      rows.insert(cache.key_at(layer, t, pos));
      rows.insert(cache.value_at(layer, t, pos));
    }
  EXPECT_EQ(rows.size(), 2u * 32u * 2u);
}

std::vector<float> hand_logits() { return {1.0f, 3.0f, 2.5f, 0.5f, 2.9f, -1.0f}; }

TEST(Sampler, GreedyPicksArgmaxAndReportsItsLogprob) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_logprobs = 3;
  Sampler s(p);
  auto logits = hand_logits();
  auto r = s.sample(logits);
  EXPECT_EQ(r.token, 1);
  double norm = log_sum_exp(logits);
  EXPECT_NEAR(r.logprob, 3.0 - norm, 1e-6);
  ASSERT_EQ(r.top.size(), 3u);
  EXPECT_EQ(r.top[0].id, 1);
  EXPECT_EQ(r.top[1].id, 4);
  EXPECT_EQ(r.top[2].id, 2);
  EXPECT_NEAR(r.top[1].logprob, 2.9 - norm, 1e-6);
}

std::vector<TokenId> draw(SamplingParams p, int n) {
  Sampler s(p);
  auto logits = hand_logits();
  std::vector<TokenId> out;
  for (int i = 0; i < n; ++i) out.push_back(s.sample(logits).token);
  return out;
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferent) {
  SamplingParams p;
  p.temperature = 1.5f;
  p.seed = 42;
  auto a = draw(p, 64), b = draw(p, 64);
  EXPECT_EQ(a, b);
  p.seed = 43;
  EXPECT_NE(a, draw(p, 64));
}

TEST(Sampler, LogitBiasOfMinus100BansAndPlus100Forces) {
  SamplingParams p;
  p.temperature = 5.0f;  // flat, so anything allowed shows up
  p.seed = 3;
  p.logit_bias = {{1, -100.0f}, {4, -100.0f}};
  std::set<TokenId> seen;
  for (auto t : draw(p, 400)) seen.insert(t);
  EXPECT_EQ(seen, (std::set<TokenId>{0, 2, 3, 5}));  // never the banned ones, every other one

  p.logit_bias = {{5, 100.0f}};  // the least likely token, forced
  for (auto t : draw(p, 100)) EXPECT_EQ(t, 5);
  p.temperature = 0.0f;
  for (auto t : draw(p, 3)) EXPECT_EQ(t, 5);
}

TEST(Sampler, LogitBiasAddsToTheLogitAndKeepsRawLogprobs) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.logit_bias = {{2, 0.6f}, {99, 100.0f}, {-1, 100.0f}};  // 2.5 + 0.6 beats 3.0; bad ids skipped
  Sampler s(p);
  auto logits = hand_logits();
  auto r = s.sample(logits);
  EXPECT_EQ(r.token, 2);
  EXPECT_NEAR(r.logprob, 2.5 - log_sum_exp(logits), 1e-6);
}

TEST(Sampler, TopKLimitsToTheKBest) {
  SamplingParams p;
  p.temperature = 5.0f;  // flat, so anything allowed shows up
  p.top_k = 2;
  p.seed = 1;
  std::set<TokenId> seen;
  for (auto t : draw(p, 400)) seen.insert(t);
  EXPECT_EQ(seen, (std::set<TokenId>{1, 4}));
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  // softmax at T=1: p(1)=.34 p(4)=.31 p(2)=.21 ... ; top_p 0.6 keeps {1, 4}.
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_p = 0.6f;
  p.seed = 7;
  std::set<TokenId> seen;
  for (auto t : draw(p, 400)) seen.insert(t);
  EXPECT_EQ(seen, (std::set<TokenId>{1, 4}));
}

TEST(Sampler, MinPDropsTokensBelowFractionOfBest) {
  // p(x)/p(best) = exp(l - 3): token 2 -> 0.61, token 0 -> 0.14; min_p 0.5 keeps {1, 4, 2}.
  SamplingParams p;
  p.temperature = 5.0f;
  p.min_p = 0.5f;
  p.seed = 9;
  std::set<TokenId> seen;
  for (auto t : draw(p, 600)) seen.insert(t);
  EXPECT_EQ(seen, (std::set<TokenId>{1, 2, 4}));
}

// The distribution sample() should draw from, computed the plain way: penalties on the logits,
// then top-k, top-p and min-p on the untempered distribution (llama.cpp's order), then softmax at
// the temperature over what is left.
std::vector<double> expected_distribution(const SamplingParams& p, const std::vector<TokenId>& history) {
  const auto raw = hand_logits();
  std::vector<double> l(raw.begin(), raw.end());
  std::map<TokenId, int> counts;
  for (TokenId id : history) counts[id]++;
  for (auto [id, count] : counts) {
    double& x = l[static_cast<size_t>(id)];
    if (p.repetition_penalty != 1.0f) x = x > 0 ? x / p.repetition_penalty : x * p.repetition_penalty;
    x -= count * p.frequency_penalty + p.presence_penalty;
  }
  std::vector<size_t> order(l.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return l[a] > l[b]; });
  std::vector<bool> kept(l.size(), true);
  if (p.top_k > 0) {
    for (size_t rank = static_cast<size_t>(p.top_k); rank < order.size(); ++rank) kept[order[rank]] = false;
  }
  auto softmax = [&](double temperature) {
    std::vector<double> q(l.size(), 0.0);
    double sum = 0.0;
    for (size_t i = 0; i < l.size(); ++i) {
      if (kept[i]) sum += q[i] = std::exp(l[i] / temperature);
    }
    for (double& x : q) x /= sum;
    return q;
  };
  if (p.top_p < 1.0f) {
    std::vector<double> q = softmax(1.0);
    double mass = 0.0;
    for (size_t i : order) {
      if (!kept[i]) continue;
      if (mass >= p.top_p) kept[i] = false;
      mass += q[i];
    }
  }
  if (p.min_p > 0.0f) {
    double best = l[order[0]];
    for (size_t i = 0; i < l.size(); ++i) {
      if (std::exp(l[i] - best) < p.min_p) kept[i] = false;
    }
  }
  return softmax(p.temperature);
}

// Frequencies of n draws, each by a fresh sampler (seeds 0..n-1) that has seen `history`, so the
// penalties stay the same for every draw.
std::vector<double> observed_distribution(SamplingParams p, const std::vector<TokenId>& history, int n) {
  std::vector<double> freq(hand_logits().size(), 0.0);
  auto logits = hand_logits();
  for (int i = 0; i < n; ++i) {
    p.seed = static_cast<uint64_t>(i);
    Sampler s(p);
    s.add_history(history);
    freq[static_cast<size_t>(s.sample(logits).token)] += 1.0 / n;
  }
  return freq;
}

double max_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// 100000 draws put the sampling error of any frequency under 0.0016 (one sigma): 0.007 is over
// four sigma (and the draws are seeded, so the outcome is fixed anyway). Each case first checks
// that the nearest wrong distribution is farther than twice that, so the case cannot pass a
// sampler that has the parameter wrong: temperature off by 25% moves some probability by 0.02.
constexpr int kDraws = 100000;
constexpr double kTolerance = 0.007;

void expect_distribution(const SamplingParams& p, const std::vector<TokenId>& history,
                         const SamplingParams& neighbour, const std::string& what) {
  const auto expected = expected_distribution(p, history);
  ASSERT_GT(max_difference(expected, expected_distribution(neighbour, history)), 2 * kTolerance)
      << what << ": the neighbouring parameters are too close to be told apart";
  const auto observed = observed_distribution(p, history, kDraws);
  EXPECT_LT(max_difference(observed, expected), kTolerance) << what;
}

TEST(Sampler, TemperatureFollowsTheDistribution) {
  for (float temperature : {0.5f, 1.0f, 2.0f}) {
    SamplingParams p;
    p.temperature = temperature;
    for (float wrong : {temperature * 0.8f, temperature * 1.25f, 1.0f / temperature}) {
      if (wrong == temperature) continue;  // T=1 is its own inverse
      SamplingParams neighbour = p;
      neighbour.temperature = wrong;
      expect_distribution(p, {}, neighbour, "T=" + std::to_string(temperature) + " vs " + std::to_string(wrong));
    }
  }
}

TEST(Sampler, TopKTopPAndMinPShapeTheDistribution) {
  SamplingParams p;
  p.temperature = 2.0f;
  p.top_k = 3;
  SamplingParams neighbour = p;
  neighbour.top_k = 4;
  expect_distribution(p, {}, neighbour, "top_k 3 at T=2");

  p = SamplingParams{};
  p.top_p = 0.8f;  // T=1: p(1)=.34 p(4)=.31 p(2)=.21 reach .8 together
  neighbour = p;
  neighbour.top_p = 0.6f;
  expect_distribution(p, {}, neighbour, "top_p 0.8");
  neighbour.top_p = 1.0f;
  expect_distribution(p, {}, neighbour, "top_p 0.8 vs off");

  p = SamplingParams{};
  p.temperature = 1.5f;
  p.min_p = 0.2f;  // keeps 1, 4, 2 (p/p_max .61); drops 0 (.14) and below
  neighbour = p;
  neighbour.min_p = 0.1f;
  expect_distribution(p, {}, neighbour, "min_p 0.2");
}

TEST(Sampler, PenaltiesShapeTheDistribution) {
  const std::vector<TokenId> history = {1, 1, 4, 3};
  SamplingParams p;
  p.presence_penalty = 0.4f;
  SamplingParams neighbour = p;
  neighbour.presence_penalty = 0.0f;
  expect_distribution(p, history, neighbour, "presence 0.4");

  p = SamplingParams{};
  p.frequency_penalty = 0.3f;  // token 1 seen twice: -0.6
  neighbour = p;
  neighbour.frequency_penalty = 0.15f;
  expect_distribution(p, history, neighbour, "frequency 0.3");
  neighbour = p;
  neighbour.presence_penalty = 0.3f;  // a frequency penalty that ignored the count
  neighbour.frequency_penalty = 0.0f;
  expect_distribution(p, history, neighbour, "frequency 0.3 vs presence 0.3");

  p = SamplingParams{};
  p.repetition_penalty = 1.3f;
  neighbour = p;
  neighbour.repetition_penalty = 1.0f;
  expect_distribution(p, history, neighbour, "repetition 1.3");
}

TEST(Sampler, PenaltiesPushRepeatedTokensDown) {
  auto logits = hand_logits();
  SamplingParams p;
  p.temperature = 0.0f;
  p.presence_penalty = 0.5f;
  {
    Sampler s(p);
    s.add_history(std::vector<TokenId>{1});
    EXPECT_EQ(s.sample(logits).token, 4);  // 3.0 - 0.5 < 2.9
  }
  p.presence_penalty = 0.0f;
  p.frequency_penalty = 0.06f;
  {
    Sampler s(p);
    s.add_history(std::vector<TokenId>{1});
    EXPECT_EQ(s.sample(logits).token, 1);  // 3.0 - 0.06 > 2.9
    s.add_history(std::vector<TokenId>{1, 1});
    EXPECT_EQ(s.sample(logits).token, 4);  // four 1s now: 3.0 - 0.24 < 2.9
  }
  p.frequency_penalty = 0.0f;
  p.repetition_penalty = 1.1f;
  {
    Sampler s(p);
    s.add_history(std::vector<TokenId>{1});
    EXPECT_EQ(s.sample(logits).token, 4);  // 3.0 / 1.1 = 2.73 < 2.9
  }
}

TEST(Sampler, GreedyLogprobIsOfTheRawDistributionEvenWithPenalties) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.presence_penalty = 1.0f;
  Sampler s(p);
  s.add_history(std::vector<TokenId>{1});
  auto logits = hand_logits();
  auto r = s.sample(logits);
  EXPECT_EQ(r.token, 4);
  EXPECT_NEAR(r.logprob, 2.9 - log_sum_exp(logits), 1e-6);
}

// Feeds pieces, returns everything released and the stop that matched.
std::pair<std::string, std::optional<std::string>> run(StopStringMatcher& m, std::vector<std::string> pieces,
                                                       std::vector<std::string>* released_per_piece = nullptr) {
  std::string out;
  for (const auto& piece : pieces) {
    auto r = m.push(piece);
    if (released_per_piece) released_per_piece->push_back(r.released);
    out += r.released;
    if (r.stop) return {out, r.stop};
  }
  return {out + m.flush(), std::nullopt};
}

TEST(StopStrings, MatchAcrossTokenBoundariesAndDropTheStop) {
  StopStringMatcher m({"END"});
  std::vector<std::string> per_piece;
  auto [text, stop] = run(m, {"Hello E", "N", "D and more"}, &per_piece);
  EXPECT_EQ(text, "Hello ");
  EXPECT_EQ(stop, "END");
  EXPECT_EQ(per_piece[0], "Hello ") << "'E' may start the stop string: held back";
  EXPECT_EQ(per_piece[1], "");
}

TEST(StopStrings, HeldBackTextIsReleasedWhenItTurnsOutNotToBeAStop) {
  StopStringMatcher m({"END"});
  std::vector<std::string> per_piece;
  auto [text, stop] = run(m, {"ab E", "Nx", "y"}, &per_piece);
  EXPECT_FALSE(stop);
  EXPECT_EQ(text, "ab ENxy");
  EXPECT_EQ(per_piece[1], "ENx");
}

TEST(StopStrings, FlushReleasesAPartialStopAtTheEnd) {
  StopStringMatcher m({"</s>"});
  auto [text, stop] = run(m, {"done </"});
  EXPECT_FALSE(stop);
  EXPECT_EQ(text, "done </");
}

TEST(StopStrings, EarliestOfSeveralStopsWins) {
  StopStringMatcher m({"world", "lo w"});
  auto [text, stop] = run(m, {"hello world"});
  EXPECT_EQ(stop, "lo w");
  EXPECT_EQ(text, "hel");
}

TEST(StopStrings, StopInsideOnePieceAndNothingAfterwards) {
  StopStringMatcher m({"\n\n"});
  auto r = m.push("a\n\nb");
  EXPECT_EQ(r.released, "a");
  EXPECT_EQ(r.stop, "\n\n");
  EXPECT_EQ(m.push("more").released, "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopStrings, NoStopsReleasesEverythingAtOnce) {
  StopStringMatcher m({"", ""});
  EXPECT_EQ(m.push("abc").released, "abc");
}

}  // namespace
}  // namespace tandem::engine
