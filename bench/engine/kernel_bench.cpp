// The matmul kernels alone on bench-110M shapes (ffn_up: 2048 x 768), single thread unless
// the name says otherwise: CPU time is the honest number on a shared machine.
#include "engine/kv_cache.h"
#include "engine/quant.h"
#include "engine/runtime/kernels.h"
#include "engine/runtime/kernels_gemm.h"
#include "engine/runtime/kernels_quant.h"
#include "engine/runtime/thread_pool.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace tandem::engine;
using namespace tandem::engine::detail;

constexpr uint32_t kRows = 2048, kCols = 768;

struct Weights {
  std::vector<float> f32;
  std::vector<uint8_t> q8;
  Matrix dense, quant;
  Weights() : f32(size_t(kRows) * kCols) {
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    for (auto& v : f32) v = dist(rng);
    const size_t row_bytes = ggml_row_bytes(GgmlType::Q8_0, kCols);
    q8.resize(kRows * row_bytes);
    for (uint32_t r = 0; r < kRows; ++r) quantize_row(GgmlType::Q8_0, f32.data() + size_t(r) * kCols, q8.data() + r * row_bytes, kCols);
    dense.rows = quant.rows = kRows;
    dense.cols = quant.cols = kCols;
    dense.data = f32.data();
    quant.q8_0 = q8.data();
    quant.source_type = GgmlType::Q8_0;
  }
};

const Weights& weights() {
  static Weights w;
  return w;
}

void set_counters(benchmark::State& state, size_t m) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * kRows * kCols * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// order 0: one sequence's m prompt rows (llama.cpp's decode order for m = 1); order 1: m decoding
// sequences, one row each.
void BM_MatmulF32(benchmark::State& state) {
  const size_t m = state.range(0);
  set_compute_threads(static_cast<unsigned>(state.range(1)));
  state.SetLabel(f32_kernel_isa());
  std::vector<float> x(m * kCols, 0.5f), y(m * kRows);
  const bool prompt = state.range(2) == 0 && m >= 2;
  const std::vector<F32Order> orders(m, prompt ? F32Order::prompt : F32Order::decode);
  for (auto _ : state) matmul_f32_ggml(x.data(), m, orders.data(), weights().dense, y.data());
  set_counters(state, m);
}

void BM_MatmulQ8(benchmark::State& state) {
  const size_t m = state.range(0);
  set_compute_threads(static_cast<unsigned>(state.range(1)));
  std::vector<float> x(m * kCols), y(m * kRows);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) * 0.01f - 0.4f;
  const std::vector<F32Order> orders(m, F32Order::decode);
  for (auto _ : state) matmul(MatmulBackend::invariant, x.data(), m, weights().quant, y.data(), 0, true, orders.data());
  set_counters(state, m);
}

// The same matmuls over enough distinct weight copies to overflow the caches (~128 MB of weights,
// like a whole decode step of bench-110M): what decode at small batch actually pays.
struct StreamedWeights {
  static constexpr size_t kBytes = size_t(128) << 20;
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint8_t>> q8;
  std::vector<Matrix> dense, quant;
  StreamedWeights() {
    const Weights& w = weights();
    const size_t f32_copies = kBytes / (w.f32.size() * sizeof(float)) + 1, q8_copies = kBytes / w.q8.size() + 1;
    for (size_t i = 0; i < f32_copies; ++i) f32.push_back(w.f32);
    for (size_t i = 0; i < q8_copies; ++i) q8.push_back(w.q8);
    for (auto& copy : f32) {
      dense.push_back({});
      dense.back().rows = kRows;
      dense.back().cols = kCols;
      dense.back().data = copy.data();
    }
    for (auto& copy : q8) {
      quant.push_back({});
      quant.back().rows = kRows;
      quant.back().cols = kCols;
      quant.back().q8_0 = copy.data();
      quant.back().source_type = GgmlType::Q8_0;
    }
  }
};

const StreamedWeights& streamed() {
  static StreamedWeights w;
  return w;
}

void BM_StreamF32(benchmark::State& state) {
  const size_t m = state.range(0);
  set_compute_threads(static_cast<unsigned>(state.range(1)));
  set_f32_kernel_isa_limit(static_cast<int>(state.range(2)));
  state.SetLabel(f32_kernel_isa());
  const auto& mats = streamed().dense;
  std::vector<float> x(m * kCols, 0.5f), y(m * kRows);
  const std::vector<F32Order> orders(m, F32Order::decode);  // m decoding sequences
  size_t i = 0;
  for (auto _ : state) matmul_f32_ggml(x.data(), m, orders.data(), mats[i++ % mats.size()], y.data());
  set_f32_kernel_isa_limit(2);
  set_counters(state, m);
  state.counters["GB/s"] = benchmark::Counter(4.0 * kRows * kCols * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_StreamQ8(benchmark::State& state) {
  const size_t m = state.range(0);
  set_compute_threads(static_cast<unsigned>(state.range(1)));
  set_q8_kernel_isa_limit(static_cast<int>(state.range(2)));
  state.SetLabel(q8_kernel_isa());
  const auto& mats = streamed().quant;
  std::vector<float> x(m * kCols), y(m * kRows);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) * 0.01f - 0.4f;
  size_t i = 0;
  const std::vector<F32Order> orders(m, F32Order::decode);
  for (auto _ : state) matmul(MatmulBackend::invariant, x.data(), m, mats[i++ % mats.size()], y.data(), 0, true, orders.data());
  set_q8_kernel_isa_limit(3);
  set_counters(state, m);
  state.counters["GB/s"] = benchmark::Counter(34.0 / 32 * kRows * kCols * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// Q4_0 and the K-quants kept in their file format (kernels_quant.h): isa 0 is the scalar
// reference, 1 the AVX2 tiles, 3 the AVX-512 ones; the same weights as above, quantized with `tandem quantize`'s
// quantizers. GB/s counts the weight bytes read.
struct QuantWeights {
  std::vector<uint8_t> blocks;
  Matrix m;
  explicit QuantWeights(GgmlType type) {
    const Weights& w = weights();
    const size_t row_bytes = ggml_row_bytes(type, kCols);
    blocks.resize(kRows * row_bytes);
    for (uint32_t r = 0; r < kRows; ++r)
      quantize_row(type, w.f32.data() + size_t(r) * kCols, blocks.data() + r * row_bytes, kCols);
    m.rows = kRows;
    m.cols = kCols;
    m.source_type = type;
    m.quant = blocks.data();
  }
};

void BM_MatmulQuant(benchmark::State& state) {
  static const GgmlType kTypes[] = {GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
  static std::map<int, QuantWeights> cache;
  const GgmlType type = kTypes[state.range(0)];
  const QuantWeights& w = cache.try_emplace(static_cast<int>(type), type).first->second;
  const size_t m = state.range(1);
  set_compute_threads(static_cast<unsigned>(state.range(2)));
  set_quant_kernel_isa_limit(static_cast<int>(state.range(3)));
  state.SetLabel(std::string(ggml_type_name(type)) + "/" + quant_kernel_isa());
  std::vector<float> x(m * kCols), y(m * kRows);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) * 0.01f - 0.4f;
  for (auto _ : state) matmul_quant(x.data(), m, w.m, y.data());
  set_quant_kernel_isa_limit(3);
  set_counters(state, m);
  state.counters["GB/s"] =
      benchmark::Counter(double(w.blocks.size()) * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// Prefill-sized matmuls on the bench-110M shapes (weight rows x cols: wq/wk/wv/wo 768 x 768,
// ffn gate/up 2048 x 768, ffn down 768 x 2048, output 32000 x 768) at 512 rows: the GEMM panels
// (gemm 1) against the per-row tiles at the same ISA level (gemm 0), at isa 1 (AVX2), 2
// (AVX-VNNI) or 3 (AVX-512 VNNI; a level the CPU lacks falls back, the label says which ran).
// Wall time, since the threads split the work.
struct Shape {
  uint32_t rows, cols;
};
constexpr Shape kShapes[] = {{768, 768}, {2048, 768}, {768, 2048}, {32000, 768}};
constexpr GgmlType kPrefillTypes[] = {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q5_K, GgmlType::Q4_0};

struct ShapedWeights {
  std::vector<uint8_t> blocks;
  Matrix m;
  ShapedWeights(GgmlType type, Shape shape) {
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    std::vector<float> row(shape.cols);
    const size_t row_bytes = ggml_row_bytes(type, shape.cols);
    blocks.resize(shape.rows * row_bytes);
    for (uint32_t r = 0; r < shape.rows; ++r) {
      for (auto& v : row) v = dist(rng);
      quantize_row(type, row.data(), blocks.data() + r * row_bytes, shape.cols);
    }
    m.rows = shape.rows;
    m.cols = shape.cols;
    m.source_type = type;
    if (type == GgmlType::Q8_0) m.q8_0 = blocks.data();
    else m.quant = blocks.data();
  }
};

void run_matmul(const std::vector<float>& x, size_t m, const Matrix& w, float* y) {
  const std::vector<F32Order> orders(m, F32Order::prompt);
  matmul(MatmulBackend::invariant, x.data(), m, w, y, 0, true, orders.data());
}

void BM_Prefill(benchmark::State& state) {
  static std::map<std::pair<int, int>, ShapedWeights> cache;
  const GgmlType type = kPrefillTypes[state.range(0)];
  const Shape shape = kShapes[state.range(1)];
  const ShapedWeights& w =
      cache.try_emplace({static_cast<int>(type), static_cast<int>(state.range(1))}, type, shape).first->second;
  const size_t m = state.range(2);
  set_compute_threads(static_cast<unsigned>(state.range(3)));
  const bool gemm = state.range(4) != 0;
  set_gemm_min_rows(gemm ? 1 : SIZE_MAX);
  const int isa = static_cast<int>(state.range(5));  // 1 avx2, 2 avxvnni, 3 avx512vnni
  set_q8_kernel_isa_limit(isa);
  set_quant_kernel_isa_limit(isa);
  state.SetLabel(std::string(ggml_type_name(type)) + " " + std::to_string(shape.rows) + "x" +
                 std::to_string(shape.cols) + (gemm ? " gemm " : " per-row tiles ") +
                 (type == GgmlType::Q8_0 ? q8_kernel_isa() : quant_kernel_isa()));
  std::vector<float> x(m * shape.cols), y(m * shape.rows);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) * 0.01f - 0.4f;
  for (auto _ : state) run_matmul(x, m, w.m, y.data());
  set_gemm_min_rows(0);
  reset_kernel_isa_limits();
  state.counters["GOP/s"] = benchmark::Counter(2.0 * m * shape.rows * shape.cols * state.iterations() / 1e9,
                                               benchmark::Counter::kIsRate);
}

// Where the GEMM panels start to pay (gemm_min_rows): ffn_up (2048 x 768) by batch rows, one thread.
void BM_GemmRows(benchmark::State& state) { BM_Prefill(state); }

// Attention of one head (head_dim 64, bench-110M's) over a whole 512-token prompt's queries,
// one thread: path 0 the per-key kernel (llama.cpp's flash-attention numerics), 1 the blocked one
// query at a time, 2 the blocked kernel on groups of kMaxGroupQueries consecutive queries.
void BM_PromptAttention(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0)), hd = 64;
  const int path = static_cast<int>(state.range(1));
  KvCacheShape shape;
  shape.n_layer = 1;
  shape.n_head_kv = 1;
  shape.head_dim = hd;
  shape.block_tokens = 16;
  shape.total_tokens = n;
  KvCache cache(shape);
  BlockTable table;
  cache.reserve(table, n);
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (uint32_t pos = 0; pos < n; ++pos)
    for (uint32_t i = 0; i < hd; ++i) {
      cache.key_at(0, table, pos)[i] = fp32_to_fp16(dist(rng));
      cache.value_at(0, table, pos)[i] = fp32_to_fp16(dist(rng));
    }
  std::vector<float> q(size_t(n) * hd), out(size_t(n) * hd);
  for (auto& v : q) v = dist(rng);
  const float scale = 0.125f;
  for (auto _ : state) {
    if (path == 2) {
      for (uint32_t i = 0; i < n; i += kMaxGroupQueries)
        attend_heads_blocked(cache, 0, table.blocks.data(), i + 1, std::min(kMaxGroupQueries, n - i), 0,
                             q.data() + size_t(i) * hd, hd, hd, scale, out.data() + size_t(i) * hd, hd);
    } else {
      for (uint32_t i = 0; i < n; ++i)
        (path == 0 ? attend_head_f16 : attend_head_blocked)(cache, 0, table.blocks.data(), i + 1, 0,
                                                            q.data() + size_t(i) * hd, hd, scale,
                                                            out.data() + size_t(i) * hd);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["keys/s"] =
      benchmark::Counter(double(n) * (n + 1) / 2 * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PromptAttention)->ArgsProduct({{512, 2048}, {0, 1, 2}})->ArgNames({"tokens", "path"});

BENCHMARK(BM_Prefill)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1, 2, 3}, {512}, {2}, {0, 1}, {1, 2, 3}})
    ->ArgNames({"type", "shape", "m", "threads", "gemm", "isa"})
    ->UseRealTime()
    ->MinTime(0.3);
BENCHMARK(BM_GemmRows)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {1}, {4, 8, 16, 24, 32, 64, 128, 512}, {1}, {0, 1}, {1, 2, 3}})
    ->ArgNames({"type", "shape", "m", "threads", "gemm", "isa"});
BENCHMARK(BM_MatmulQuant)
    ->ArgsProduct({{0, 1, 2, 3}, {1, 4, 16, 64}, {1, 2}, {0, 1, 3}})
    ->ArgNames({"type", "m", "threads", "isa"});
BENCHMARK(BM_StreamF32)->ArgsProduct({{1, 4, 16}, {1, 2}, {1, 2}})->ArgNames({"m", "threads", "isa"})->UseRealTime();
BENCHMARK(BM_StreamQ8)->ArgsProduct({{1, 4}, {1, 2}, {2, 3}})->ArgNames({"m", "threads", "isa"})->UseRealTime();
BENCHMARK(BM_MatmulF32)->ArgsProduct({{1, 4, 16, 64}, {1, 2}, {0, 1}})->ArgNames({"m", "threads", "order"});
BENCHMARK(BM_MatmulQ8)->ArgsProduct({{1, 4, 16, 64}, {1, 2}})->ArgNames({"m", "threads"});

}  // namespace

BENCHMARK_MAIN();
