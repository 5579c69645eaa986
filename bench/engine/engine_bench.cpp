// Engine step throughput on the bench-110M shape (llama, dim 768, 12 layers, 12 heads, ff 2048,
// vocab 32000), F32, Q8_0, Q4_K_M and Q4_0 (the last two made from the F32 file with
// quantize_model, i.e. `tandem quantize`): decode steps at batch 1/4/16/64 and a 512-token prefill.
// Each variant names its weight storage, matmul backend and threads (the matmul pool and OpenBLAS,
// process-wide, set before every benchmark). Q8_0 "kept" is the default storage (int8 kernel);
// "dequant" is the old F32 copy, kept for comparison.
#include "engine/engine.h"
#include "engine/gguf_writer.h"
#include "engine/model_config.h"
#include "engine/quantize_model.h"
#include "engine/runtime/model_internal.h"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace {

using namespace tandem::engine;

std::string model_path(const std::string& type_name) {
  std::filesystem::create_directories(TANDEM_BENCH_MODEL_DIR);
  std::string path = std::string(TANDEM_BENCH_MODEL_DIR) + "/bench-110M-" + type_name + ".gguf";
  if (std::filesystem::exists(path)) return path;
  if (auto target = parse_quantize_target(type_name); target && type_name != "Q8_0") {
    quantize_model(model_path("F32"), path + ".tmp", *target);
    std::filesystem::rename(path + ".tmp", path);
    return path;
  }
  const GgmlType type = type_name == "Q8_0" ? GgmlType::Q8_0 : GgmlType::F32;
  {
    SynthModelSpec spec;
    spec.name = "bench-110M";
    spec.dim = 768;
    spec.layers = 12;
    spec.heads = 12;
    spec.kv_heads = 12;
    spec.ff = 2048;
    spec.vocab = 32000;
    spec.context = 2048;
    spec.type = type;
    spec.seed = 110;
    write_synthetic_model(spec, path + ".tmp");
    std::filesystem::rename(path + ".tmp", path);
  }
  return path;
}

enum Variant { kInvariant = 0, kBlas = 1, kDequantized = 2 };

struct Loaded {
  std::shared_ptr<const GgufFile> file;
  std::unique_ptr<Model> model;
};

Model& model_for(const std::string& type, Variant variant, int threads) {
  set_compute_threads(threads);
  static std::map<std::pair<std::string, int>, Loaded> cache;
  auto key = std::make_pair(type, static_cast<int>(variant));
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second.model;
  Loaded loaded;
  loaded.file = std::make_shared<const GgufFile>(GgufFile::open(model_path(type)));
  ModelLoadOptions options;
  options.threads = threads;
  options.backend = variant == kBlas ? MatmulBackend::blas : MatmulBackend::invariant;
  options.keep_quantized = variant != kDequantized;
  loaded.model = Model::load(loaded.file, read_model_config(*loaded.file), options);
  Model& model = *loaded.model;
  cache.emplace(key, std::move(loaded));
  return model;
}

SequenceRequest request(size_t prompt_tokens, uint32_t max_tokens, int salt) {
  SequenceRequest r;
  for (size_t i = 0; i < prompt_tokens; ++i) r.prompt.push_back(static_cast<TokenId>(1 + (i * 131 + salt * 17) % 31000));
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.0f;
  r.ignore_eos = true;
  return r;
}

void set_counters(benchmark::State& state, double tokens, double flops) {
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
}

// One decode step for `batch` running sequences (32-token prompts, contexts ~32..300).
void BM_Decode(benchmark::State& state, std::string type, Variant variant, int threads) {
  const size_t batch = static_cast<size_t>(state.range(0));
  Model& model = model_for(type, variant, threads);
  Engine engine(model, nullptr, {static_cast<uint32_t>(batch * 320 + 64), 16, 2048});
  int salt = 0;
  auto refill = [&] {
    while (engine.stats().running + engine.stats().waiting_prefill < batch)
      engine.add(request(32, 256, salt++));
    while (engine.stats().waiting_prefill > 0) engine.step(4096);
  };
  refill();
  double tokens = 0, flops = 0;
  for (auto _ : state) {
    if (engine.stats().running < batch) {
      state.PauseTiming();
      refill();
      state.ResumeTiming();
    }
    auto events = engine.step(batch);
    tokens += static_cast<double>(events.size());
    flops += static_cast<double>(events.size()) * model.flops_per_token(160);
  }
  set_counters(state, tokens, flops);
}

// A 512-token prompt processed in one step.
void BM_Prefill512(benchmark::State& state, std::string type, Variant variant, int threads) {
  Model& model = model_for(type, variant, threads);
  Engine engine(model, nullptr, {1024, 16, 2048});
  double tokens = 0, flops = 0;
  int salt = 0;
  for (auto _ : state) {
    engine.add(request(512, 1, salt++));
    engine.step(512);
    tokens += 512;
    flops += 512 * model.flops_per_token(256);
  }
  set_counters(state, tokens, flops);
}

void register_all() {
  struct Named {
    const char* name;
    std::string type;
    Variant variant;
  };
  const Named variants[] = {
      {"F32/invariant", "F32", kInvariant},
      {"Q8_0/kept", "Q8_0", kInvariant},
      {"Q4_K_M/kept", "Q4_K_M", kInvariant},
      {"Q4_0/kept", "Q4_0", kInvariant},
      {"F32/blas", "F32", kBlas},
      {"Q8_0/dequant", "Q8_0", kDequantized},
      {"Q4_K_M/dequant", "Q4_K_M", kDequantized},
  };
  for (int threads : {1, 2}) {
    for (const auto& v : variants) {
      const std::string suffix = std::string(v.name) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(("Decode/" + suffix).c_str(), BM_Decode, v.type, v.variant, threads)
          ->Arg(1)->Arg(4)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark(("Prefill512/" + suffix).c_str(), BM_Prefill512, v.type, v.variant, threads)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // --f32_isa=0|1|2: cap the F32 GEMM at scalar / AVX2 / AVX-512 (to compare the paths).
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--f32_isa=", 0) != 0) continue;
    tandem::engine::detail::set_f32_kernel_isa_limit(std::stoi(arg.substr(10)));
    for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
    --argc;
    --i;
  }
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
