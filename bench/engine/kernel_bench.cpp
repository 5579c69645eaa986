// The matmul kernels alone on bench-110M shapes (ffn_up: 2048 x 768), single thread unless
// the name says otherwise: CPU time is the honest number on a shared machine.
#include "engine/quant.h"
#include "engine/runtime/kernels.h"
#include "engine/runtime/thread_pool.h"

#include <benchmark/benchmark.h>

#include <random>
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

void BM_MatmulF32(benchmark::State& state) {
  const size_t m = state.range(0);
  set_compute_threads(static_cast<unsigned>(state.range(1)));
  std::vector<float> x(m * kCols, 0.5f), y(m * kRows);
  for (auto _ : state) matmul_invariant(x.data(), m, weights().dense, y.data());
  set_counters(state, m);
}

void BM_MatmulQ8(benchmark::State& state) {
  const size_t m = state.range(0);
  set_compute_threads(static_cast<unsigned>(state.range(1)));
  std::vector<float> x(m * kCols), y(m * kRows);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) * 0.01f - 0.4f;
  for (auto _ : state) matmul(MatmulBackend::invariant, x.data(), m, weights().quant, y.data(), 0, true);
  set_counters(state, m);
}

BENCHMARK(BM_MatmulF32)->ArgsProduct({{1, 4, 16, 64}, {1, 2}})->ArgNames({"m", "threads"});
BENCHMARK(BM_MatmulQ8)->ArgsProduct({{1, 4, 16, 64}, {1, 2}})->ArgNames({"m", "threads"});

}  // namespace

BENCHMARK_MAIN();
