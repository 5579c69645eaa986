// The fast matmul paths against their scalar references, and the properties the engine relies
// on: a row's result does not depend on the rest of the batch nor on the number of threads.
#include "engine/quant.h"
#include "engine/runtime/kernels.h"
#include "engine/runtime/thread_pool.h"
#include "tests/engine/runtime/golden.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <thread>

namespace tandem::engine::detail {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A Q8_0 matrix built with the GGUF writer's quantizer, kept quantized (no F32 copy).
struct Q8Matrix {
  std::vector<uint8_t> blocks;
  Matrix m;
  Q8Matrix(uint32_t rows, uint32_t cols, uint32_t seed) {
    auto w = random_floats(size_t(rows) * cols, seed, 0.05f);
    const size_t row_bytes = ggml_row_bytes(GgmlType::Q8_0, cols);
    blocks.resize(rows * row_bytes);
    for (uint32_t r = 0; r < rows; ++r) quantize_row(GgmlType::Q8_0, w.data() + size_t(r) * cols, blocks.data() + r * row_bytes, cols);
    m.rows = rows;
    m.cols = cols;
    m.source_type = GgmlType::Q8_0;
    m.q8_0 = blocks.data();
  }
};

struct ScopedThreads {
  explicit ScopedThreads(unsigned n) { set_compute_threads(n); }
  ~ScopedThreads() { set_compute_threads(1); }
};

struct ScopedIsa {
  explicit ScopedIsa(int level) { set_q8_kernel_isa_limit(level); }
  ~ScopedIsa() { reset_kernel_isa_limits(); }
};

std::vector<float> q8_matmul(const std::vector<float>& x, size_t m, const Matrix& w) {
  Q8Rows q;
  quantize_rows_q8_0(x.data(), m, w.cols, q);
  std::vector<float> y(m * w.rows);
  matmul_q8_0_q8(q, m, w, y.data());
  return y;
}

TEST(ThreadPool, RunsEveryTaskOnceAndToleratesConcurrentCallers) {
  ThreadPool pool(2);
  EXPECT_EQ(pool.threads(), 2u);
  auto check = [&pool] {
    for (int round = 0; round < 200; ++round) {
      std::vector<std::atomic<int>> hits(37 + round % 50);
      pool.parallel_for(hits.size(), [&](size_t t) { hits[t].fetch_add(1); });
      for (size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i].load(), 1) << "task " << i;
    }
  };
  std::thread other(check);  // a second caller runs inline when the pool is taken
  check();
  other.join();
}

TEST(Q8Kernel, QuantizedActivationsEqualLlamaCppRounding) {
  auto x = random_floats(4 * 256, 1);
  x[5] = 0.0f;
  std::fill_n(x.begin() + 64, 32, 0.0f);  // an all-zero block: scale 0
  Q8Rows q;
  quantize_rows_q8_0(x.data(), 4, 256, q);
  std::vector<float> rounded(256);
  for (size_t r = 0; r < 4; ++r) {
    round_activations_like_llamacpp(GgmlType::Q8_0, x.data() + r * 256, 256, rounded.data());
    for (size_t i = 0; i < 256; ++i)
      ASSERT_EQ(float(q.q[r * 256 + i]) * q.d[r * 8 + i / 32], rounded[i]) << "row " << r << " element " << i;
  }
}

// The vector quantization (AVX-512) against the plain loops: blocks at many magnitudes, an
// all-zero block, exact halfway products (ties round to even) and tiny values.
TEST(Q8Kernel, QuantizationGivesTheReferenceBits) {
  auto x = random_floats(8 * 256, 3);
  for (size_t i = 0; i < x.size(); ++i) x[i] *= std::pow(10.0f, float(int(i / 32) % 13 - 6));
  std::fill_n(x.begin() + 64, 32, 0.0f);
  x[96] = 127.0f;  // amax 127: the scale is 1 and each x + 0.5 below is a tie
  for (int i = 1; i < 32; ++i) x[96 + i] = float(i - 16) + 0.5f;
  for (int i = 0; i < 32; ++i) x[128 + i] = 1e-41f * float(i + 1);  // denormals
  Q8Rows reference;
  quantize_rows_q8_0_reference(x.data(), 8, 256, reference);
  for (int level : {1, 3}) {  // the AVX2 and the AVX-512 quantizer
    ScopedIsa isa(level);
    SCOPED_TRACE(q8_kernel_isa());
    Q8Rows fast;
    quantize_rows_q8_0(x.data(), 8, 256, fast);
    EXPECT_EQ(fast.q, reference.q);
    ASSERT_EQ(fast.d.size(), reference.d.size());
    EXPECT_EQ(std::memcmp(fast.d.data(), reference.d.data(), fast.d.size() * sizeof(float)), 0);
  }
  RecordProperty("q8_isa", q8_kernel_isa());
}

TEST(Q8Kernel, FastPathsMatchScalarReferenceAndEachOther) {
  Q8Matrix w(37, 256, 2);  // odd row count: every tile shape and leftover path
  const size_t m = 7;
  auto x = random_floats(m * 256, 3);
  Q8Rows q;
  quantize_rows_q8_0(x.data(), m, 256, q);
  std::vector<float> ref(m * w.m.rows);
  matmul_q8_0_q8_reference(q, m, w.m, ref.data());
  std::vector<std::vector<float>> results;
  for (int level = 1; level <= 3; ++level) {
    ScopedIsa isa(level);
    results.push_back(q8_matmul(x, m, w.m));
    // Same integer lanes, same fused multiply-adds, same final adds: the same bits.
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(results.back()[i], ref[i]) << q8_kernel_isa() << " " << i;
  }
}

TEST(Q8Kernel, RowResultIndependentOfBatchAndThreads) {
  Q8Matrix w(300, 512, 4);
  const size_t m = 9;
  auto x = random_floats(m * 512, 5);
  auto batched = q8_matmul(x, m, w.m);
  std::vector<float> two_threads;
  {
    ScopedThreads threads(2);
    two_threads = q8_matmul(x, m, w.m);
  }
  EXPECT_EQ(std::memcmp(batched.data(), two_threads.data(), batched.size() * sizeof(float)), 0);
  for (size_t r = 0; r < m; ++r) {
    std::vector<float> one(x.begin() + r * 512, x.begin() + (r + 1) * 512);
    auto alone = q8_matmul(one, 1, w.m);
    ASSERT_EQ(std::memcmp(alone.data(), batched.data() + r * w.m.rows, w.m.rows * sizeof(float)), 0) << "row " << r;
  }
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void check_f32_gemm_against_reference(const std::vector<F32Order>& orders, std::initializer_list<uint32_t> col_counts) {
  SCOPED_TRACE(f32_kernel_isa());
  const size_t m = orders.size();
  for (uint32_t cols : col_counts) {
    const uint32_t rows = 203;
    auto wdata = random_floats(size_t(rows) * cols, 6, 0.05f);
    Matrix w;
    w.rows = rows;
    w.cols = cols;
    w.data = wdata.data();
    auto x = random_floats(m * cols, 7);
    std::vector<float> ref(m * rows), one_thread(m * rows), two_threads(m * rows);
    matmul_f32_ggml_reference(x.data(), m, orders.data(), w, ref.data());
    matmul_f32_ggml(x.data(), m, orders.data(), w, one_thread.data());
    {
      ScopedThreads threads(2);
      matmul_f32_ggml(x.data(), m, orders.data(), w, two_threads.data());
    }
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_EQ(std::memcmp(&one_thread[i], &ref[i], 4), 0) << "cols " << cols << " element " << i;
      const size_t r = i / rows, o = i % rows;
      double exact = 0;
      for (size_t j = 0; j < cols; ++j) exact += double(x[r * cols + j]) * wdata[o * cols + j];
      ASSERT_NEAR(ref[i], exact, 1e-5 * (1.0 + std::fabs(exact))) << "cols " << cols << " element " << i;
    }
    EXPECT_TRUE(same_bits(one_thread, two_threads)) << "cols " << cols;
    for (size_t r = 0; r < m; ++r) {
      std::vector<float> alone(rows);
      matmul_f32_ggml(x.data() + r * cols, 1, &orders[r], w, alone.data());
      ASSERT_EQ(std::memcmp(alone.data(), one_thread.data() + r * rows, rows * sizeof(float)), 0)
          << "cols " << cols << " row " << r;
    }
  }
}

struct ScopedF32Isa {
  explicit ScopedF32Isa(int level) { set_f32_kernel_isa_limit(level); }
  ~ScopedF32Isa() { reset_kernel_isa_limits(); }
};

// The AVX2 and AVX-512 GEMMs give the plain-loop reference's bits in both of llama.cpp's orders,
// with rows of both orders mixed in one call (as a step mixing prompt and decode sequences does),
// for k with and without the tails (k % 16, k % 64, k < 64) and weight-row counts that leave
// partial tiles; and a row's bits depend only on its own order, not on the other rows (alone it
// takes the narrow-batch path) nor the thread count.
TEST(F32Kernel, GgmlOrderGemmGivesReferenceBitsAcrossBatchesAndThreads) {
  const F32Order P = F32Order::prompt, D = F32Order::decode;
  // 8 decode rows (zmm decode tiles on AVX-512) and 2 (ymm ones, the weight-stream-bound case).
  const std::vector<F32Order> many = {P, P, P, P, P, D, P, D, D, P, P, D, D, D, D, D};
  const std::vector<F32Order> few = {P, P, D, P, P, P, P, D, P};
  for (int isa : {1, 2}) {
    ScopedF32Isa limit(isa);
    check_f32_gemm_against_reference(many, {200u, 304u, 48u, 1024u});
    check_f32_gemm_against_reference(few, {304u, 1024u});
  }
}

// The two orders really are different summations where llama.cpp's are (k % 16 == 0), and the
// same one (decode) where tinyBLAS does not apply.
TEST(F32Kernel, PromptOrderDiffersFromDecodeOrderOnlyWhenTinyBlasApplies) {
  auto a = random_floats(8192, 31), b = random_floats(8192, 32);
  size_t differ = 0;
  for (size_t t = 0; t < 64; ++t) {
    const float* at = a.data() + t * 64;
    const float* bt = b.data() + t * 48;
    differ += dot_f32_ggml_reference(at, bt, 1024, F32Order::prompt) != dot_f32_ggml_reference(at, bt, 1024, F32Order::decode);
    EXPECT_EQ(dot_f32_ggml_reference(at, bt, 1000, F32Order::prompt), dot_f32_ggml_reference(at, bt, 1000, F32Order::decode));
  }
  EXPECT_GT(differ, 0u);
}

// The register-resident attention loop against the scalar one: same scores, same softmax
// rescales (scores rise along the sequence, so the running max moves often), same fp16
// accumulator roundings, across several cache blocks and both supported head sizes.
TEST(AttentionKernel, FastPathGivesTheReferenceBits) {
  for (uint32_t head_dim : {64u, 128u}) {
    KvCacheShape shape;
    shape.n_layer = 2;
    shape.n_head_kv = 2;
    shape.head_dim = head_dim;
    shape.block_tokens = 16;
    shape.total_tokens = 256;
    KvCache cache(shape);
    BlockTable table;
    ASSERT_TRUE(cache.reserve(table, 100));
    std::reverse(table.blocks.begin(), table.blocks.end());  // blocks out of pool order
    auto keys = random_floats(100 * 2 * head_dim, 11, 0.7f), values = random_floats(100 * 2 * head_dim, 12);
    for (size_t pos = 0; pos < 100; ++pos)
      for (size_t i = 0; i < 2 * head_dim; ++i) {
        keys[pos * 2 * head_dim + i] += 0.02f * float(pos) * (i % 3 == 0 ? 1.0f : 0.0f);  // rising scores
        cache.key_at(1, table, pos)[i] = fp32_to_fp16(keys[pos * 2 * head_dim + i]);
        cache.value_at(1, table, pos)[i] = fp32_to_fp16(values[pos * 2 * head_dim + i]);
      }
    auto q = random_floats(head_dim, 13);
    for (size_t i = 0; i < head_dim; i += 3) q[i] = std::fabs(q[i]) + 0.5f;
    const float scale = 1.0f / std::sqrt(float(head_dim));
    for (uint32_t n_keys : {1u, 17u, 100u}) {
      std::vector<float> ref(head_dim), fast(head_dim, -1.0f);
      attend_head_f16_reference(cache, 1, table.blocks.data(), n_keys, head_dim, q.data(), head_dim, scale, ref.data());
      if (!attend_head_f16(cache, 1, table.blocks.data(), n_keys, head_dim, q.data(), head_dim, scale, fast.data()))
        GTEST_SKIP() << "no AVX2/F16C on this CPU";
      ASSERT_EQ(std::memcmp(ref.data(), fast.data(), head_dim * sizeof(float)), 0)
          << "head_dim " << head_dim << ", " << n_keys << " keys";
    }
  }
}

// The vectorized ggml expf against its one-lane emulation, over the ordinary range, the scaled
// branches (|n| > 126 and > 192, where exp under/overflows), and non-finite inputs.
TEST(SwigluKernel, VectorPathGivesTheReferenceBits) {
  std::vector<float> gate = random_floats(4096 + 5, 21, 4.0f), up = random_floats(gate.size(), 22);
  const float specials[] = {0.0f, -0.0f, 88.0f, -88.0f, 90.0f, -90.0f, 100.0f, -100.0f, 135.0f, -135.0f,
                            200.0f, -200.0f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN, 1e-40f};
  for (size_t i = 0; i < std::size(specials); ++i) gate[3 * i + 1] = specials[i];
  for (size_t i = 0; i < 256; ++i) gate[1024 + i] = -150.0f + 1.2f * float(i);  // sweeps both thresholds
  std::vector<float> ref = gate, fast = gate;
  swiglu_ggml_reference(ref.data(), up.data(), ref.size());
  swiglu_ggml(fast.data(), up.data(), fast.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &ref[i], 4);
    std::memcpy(&b, &fast[i], 4);
    ASSERT_EQ(a, b) << "element " << i << " gate " << gate[i] << ": " << ref[i] << " vs " << fast[i];
  }
}

// The fast-path tests above fall back silently to a lower ISA when this CPU lacks one. This
// records (in the log and the test XML) which levels actually ran, so a CI log shows what the
// bit-for-bit comparisons covered on its machine.
TEST(KernelCoverage, RecordsWhichIsaLevelsRanOnThisCpu) {
  std::set<std::string> q8_ran, f32_ran;
  for (int level = 0; level <= 3; ++level) {
    ScopedIsa isa(level);
    q8_ran.insert(q8_kernel_isa());
  }
  for (int level = 0; level <= 2; ++level) {
    ScopedF32Isa isa(level);
    f32_ran.insert(f32_kernel_isa());
  }
  std::vector<float> probe(64, 0.5f);
  std::vector<float> scratch(64);
  KvCacheShape shape;
  shape.n_layer = 1;
  shape.n_head_kv = 1;
  shape.head_dim = 64;
  shape.block_tokens = 16;
  shape.total_tokens = 16;
  KvCache cache(shape);
  BlockTable table;
  ASSERT_TRUE(cache.reserve(table, 1));
  const bool attention_fast =
      attend_head_f16(cache, 0, table.blocks.data(), 1, 0, probe.data(), 64, 1.0f, scratch.data());
  std::string dequant_fast;
  for (GgmlType type : {GgmlType::F16, GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
                        GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    if (dequantize_has_fast_path(type)) dequant_fast += std::string(dequant_fast.empty() ? "" : ",") + std::string(ggml_type_name(type));
  }
  auto join = [](const std::set<std::string>& names) {
    std::string out;
    for (const auto& name : names) out += (out.empty() ? "" : ",") + name;
    return out;
  };
  const std::string summary = "q8 matmul ISAs tested: " + join(q8_ran) + "; f32 GEMM ISAs tested: " +
                              join(f32_ran) + "; attention fast path: " + (attention_fast ? "yes" : "no (skipped)") +
                              "; dequantize fast paths: " + (dequant_fast.empty() ? "none" : dequant_fast);
  std::cout << "[ coverage ] " << summary << std::endl;
  RecordProperty("kernel_isas", summary);
  // The scalar references always run; everything else depends on the CPU, and is now on record.
  EXPECT_TRUE(q8_ran.count("scalar"));
  EXPECT_TRUE(f32_ran.count("scalar"));
}

TEST(Q8Kernel, KeptQuantizedMatchesDequantizedWeightsWithRoundedActivations) {
  // Integer block dots of the quantized values == fp32 dots of their dequantized values.
  Q8Matrix w(50, 128, 8);
  std::vector<float> wf(50 * 128);
  for (uint32_t r = 0; r < 50; ++r) weight_row(w.m, r, wf.data() + r * 128);
  Matrix dense;
  dense.rows = 50;
  dense.cols = 128;
  dense.data = wf.data();
  dense.source_type = GgmlType::Q8_0;
  auto x = random_floats(3 * 128, 9);
  std::vector<float> ref(3 * 50), fast(3 * 50);
  const F32Order orders[3] = {F32Order::prompt, F32Order::prompt, F32Order::prompt};
  matmul(MatmulBackend::reference, x.data(), 3, dense, ref.data(), 0, true, orders);
  matmul(MatmulBackend::invariant, x.data(), 3, w.m, fast.data(), 0, true, orders);
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(fast[i], ref[i], 1e-5f * (1.0f + std::fabs(ref[i]))) << i;
}

// Logits of a whole model: 1 and 2 threads give the same bits, for F32 and kept-quantized Q8_0.
std::vector<float> model_logits(engine::Model& model, const std::vector<TokenId>& tokens) {
  KvCache cache(model.kv_shape(static_cast<uint32_t>(tokens.size())));
  BlockTable table;
  EXPECT_TRUE(cache.reserve(table, tokens.size()));
  ForwardBatch batch;
  batch.tokens = tokens;
  batch.sequences.push_back({&table, 0, static_cast<uint32_t>(tokens.size()), ForwardSequence::Logits::all});
  std::vector<float> logits;
  model.forward(batch, cache, logits);
  return logits;
}

TEST(ModelThreads, OneAndTwoThreadsGiveBitIdenticalLogits) {
  for (const char* file : {"synth-llama-F32.gguf", "synth-llama-Q8_0.gguf"}) {
    ModelLoadOptions options;
    options.threads = 1;
    auto m = test::load_test_model(file, options);
    ASSERT_TRUE(m.model) << file;
    std::vector<TokenId> tokens = {1, 403, 407, 261, 378, 432, 383, 286, 300};
    auto one = model_logits(*m.model, tokens);
    engine::set_compute_threads(2);
    auto two = model_logits(*m.model, tokens);
    engine::set_compute_threads(1);
    ASSERT_EQ(one.size(), two.size());
    EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0) << file;
  }
}

TEST(ModelThreads, KeptQuantizedQ8MatchesDequantizedF32Path) {
  auto kept = test::load_test_model("synth-llama-Q8_0.gguf");
  ModelLoadOptions options;
  options.keep_quantized = false;
  auto f32 = test::load_test_model("synth-llama-Q8_0.gguf", options);
  ASSERT_TRUE(kept.model && f32.model);
  EXPECT_EQ(kept.model->load_report().dequantized_bytes, 0u);
  EXPECT_GT(kept.model->load_report().quantized_kept_bytes, 0u);
  std::vector<TokenId> tokens = {1, 450, 4996, 300};
  auto a = model_logits(*kept.model, tokens);
  auto b = model_logits(*f32.model, tokens);
  ASSERT_EQ(a.size(), b.size());
  // Same rounded activations and weights; only fp32 summation orders differ.
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 2e-2f) << "logit " << i;
}

}  // namespace
}  // namespace tandem::engine::detail
