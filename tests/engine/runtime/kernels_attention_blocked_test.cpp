// The key-blocked attention for long contexts (engine/runtime/kernels_attention_blocked.cpp): the
// AVX2 path gives the scalar reference's bits, and both compute softmax attention (against a plain
// double-precision softmax over the same fp16 keys and values, and against the per-key path).
#include "engine/kv_cache.h"
#include "engine/quant.h"
#include "engine/runtime/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace tandem::engine::detail {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

constexpr uint32_t kPositions = 300;

// A cache whose layer 1, kv head 1 holds kPositions keys and values; scores rise with the
// position (the running max moves from block to block) on top of noise.
struct Filled {
  KvCache cache;
  BlockTable table;
  std::vector<float> q;
  uint32_t head_dim;
  explicit Filled(uint32_t hd) : cache(shape(hd)), head_dim(hd) {
    EXPECT_TRUE(cache.reserve(table, kPositions));
    std::reverse(table.blocks.begin(), table.blocks.end());  // blocks out of pool order
    auto keys = random_floats(size_t(kPositions) * 2 * hd, 11, 0.7f), values = random_floats(size_t(kPositions) * 2 * hd, 12);
    for (size_t pos = 0; pos < kPositions; ++pos)
      for (size_t i = 0; i < 2 * hd; ++i) {
        const float rise = (i % 3 == 0) ? 0.01f * float(pos) : 0.0f;
        cache.key_at(1, table, pos)[i] = fp32_to_fp16(keys[pos * 2 * hd + i] + rise);
        cache.value_at(1, table, pos)[i] = fp32_to_fp16(values[pos * 2 * hd + i]);
      }
    q = random_floats(hd, 13);
    for (size_t i = 0; i < hd; i += 3) q[i] = std::fabs(q[i]) + 0.5f;
  }
  static KvCacheShape shape(uint32_t hd) {
    KvCacheShape s;
    s.n_layer = 2;
    s.n_head_kv = 2;
    s.head_dim = hd;
    s.block_tokens = 16;
    s.total_tokens = 320;
    return s;
  }
  float scale() const { return 1.0f / std::sqrt(float(head_dim)); }
};

TEST(BlockedAttention, FastPathGivesTheReferenceBits) {
  for (uint32_t head_dim : {64u, 128u}) {
    Filled f(head_dim);
    for (uint32_t n_keys : {1u, 7u, 63u, 64u, 65u, 129u, 200u, kPositions}) {
      std::vector<float> ref(head_dim), fast(head_dim, -1.0f);
      attend_head_blocked_reference(f.cache, 1, f.table.blocks.data(), n_keys, head_dim, f.q.data(), head_dim,
                                    f.scale(), ref.data());
      if (!attend_head_blocked(f.cache, 1, f.table.blocks.data(), n_keys, head_dim, f.q.data(), head_dim, f.scale(),
                               fast.data()))
        GTEST_SKIP() << "no AVX2/F16C on this CPU: only the reference runs here";
      ASSERT_EQ(std::memcmp(ref.data(), fast.data(), head_dim * sizeof(float)), 0)
          << "head_dim " << head_dim << ", " << n_keys << " keys";
    }
  }
}

// A group of queries at consecutive positions (the prefill's shape): each gets the one-query
// reference's bits, whatever the group size and where the group starts in a key block.
TEST(BlockedAttention, AGroupOfQueriesGivesEachQuerysReferenceBits) {
  for (uint32_t head_dim : {64u, 128u}) {
    Filled f(head_dim);
    const size_t stride = 3 * head_dim;  // rows of a wider q matrix, as in the forward pass
    const auto queries = random_floats(kMaxGroupQueries * stride, 17);
    for (uint32_t first_keys : {1u, 60u, 128u, 250u})
      for (uint32_t n_queries : {1u, 5u, kMaxGroupQueries}) {
        if (first_keys + n_queries - 1 > kPositions) continue;
        std::vector<float> out(kMaxGroupQueries * stride, -1.0f), ref(head_dim);
        if (!attend_heads_blocked(f.cache, 1, f.table.blocks.data(), first_keys, n_queries, head_dim, queries.data(),
                                  stride, head_dim, f.scale(), out.data(), stride))
          GTEST_SKIP() << "no AVX2/F16C on this CPU: only the reference runs here";
        for (uint32_t i = 0; i < n_queries; ++i) {
          attend_head_blocked_reference(f.cache, 1, f.table.blocks.data(), first_keys + i, head_dim,
                                        queries.data() + i * stride, head_dim, f.scale(), ref.data());
          ASSERT_EQ(std::memcmp(ref.data(), out.data() + i * stride, head_dim * sizeof(float)), 0)
              << "head_dim " << head_dim << ", group of " << n_queries << " from " << first_keys << " keys, query " << i;
        }
      }
  }
}

// softmax(q16 . k / sqrt(d)) . v in double over the cache's fp16 values: the blocked kernel is
// attention (fp32 accumulation: close), and so is the per-key path (fp16 accumulation: looser).
TEST(BlockedAttention, ComputesSoftmaxAttention) {
  for (uint32_t head_dim : {64u, 128u}) {
    Filled f(head_dim);
    for (uint32_t n_keys : {5u, 64u, 150u, kPositions}) {
      std::vector<double> scores(n_keys), expected(head_dim, 0.0);
      double max_score = -INFINITY, sum = 0.0;
      for (uint32_t t = 0; t < n_keys; ++t) {
        double dot = 0.0;
        for (uint32_t d = 0; d < head_dim; ++d)
          dot += double(fp16_to_fp32(fp32_to_fp16(f.q[d]))) * fp16_to_fp32(f.cache.key_at(1, f.table, t)[head_dim + d]);
        scores[t] = dot * f.scale();
        max_score = std::max(max_score, scores[t]);
      }
      for (uint32_t t = 0; t < n_keys; ++t) {
        const double w = std::exp(scores[t] - max_score);
        sum += w;
        for (uint32_t d = 0; d < head_dim; ++d)
          expected[d] += w * fp16_to_fp32(f.cache.value_at(1, f.table, t)[head_dim + d]);
      }
      std::vector<float> blocked(head_dim), per_key(head_dim);
      attend_head_blocked_reference(f.cache, 1, f.table.blocks.data(), n_keys, head_dim, f.q.data(), head_dim,
                                    f.scale(), blocked.data());
      attend_head_f16_reference(f.cache, 1, f.table.blocks.data(), n_keys, head_dim, f.q.data(), head_dim, f.scale(),
                                per_key.data());
      for (uint32_t d = 0; d < head_dim; ++d) {
        SCOPED_TRACE("head_dim " + std::to_string(head_dim) + ", " + std::to_string(n_keys) + " keys, d " +
                     std::to_string(d));
        EXPECT_NEAR(blocked[d], expected[d] / sum, 2e-5);
        EXPECT_NEAR(per_key[d], expected[d] / sum, 2e-3);
      }
    }
  }
}

}  // namespace
}  // namespace tandem::engine::detail
