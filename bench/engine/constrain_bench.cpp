// Constrained decoding costs: compiling a typical schema, building the per-model vocabulary
// tables, a cold mask (one trie walk), the per-step work of a batch of constrained sequences
// (mask alone; mask + sampling + advancing) against the same batch sampled without a
// constraint, and whole engine decode steps with and without a schema.
// Vocabularies: Llama-2 SPM (32000 tokens) and Llama 3 byte-level BPE (128256 tokens).
#include "engine/constraint.h"
#include "engine/engine.h"
#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "engine/loaded_model.h"
#include "engine/sampler.h"

#include <benchmark/benchmark.h>

#include <bit>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>

namespace {

using namespace tandem::engine;

const char* kVocabs[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf"};

// A typical structured-output schema: ~1 KB, nested objects and arrays, enum, anyOf, $ref.
const char* kTypicalSchema = R"({
  "type": "object",
  "properties": {
    "title": {"type": "string", "description": "the title"},
    "year": {"type": "integer"},
    "rating": {"type": "number"},
    "genre": {"enum": ["drama", "comedy", "horror", "documentary", "science fiction"]},
    "released": {"type": "string", "format": "date"},
    "director": {"$ref": "#/$defs/person"},
    "cast": {"type": "array", "items": {"$ref": "#/$defs/person"}, "minItems": 1, "maxItems": 8},
    "sequel": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}},
    "available": {"type": "boolean"}
  },
  "required": ["title", "year", "genre", "director", "cast", "available"],
  "additionalProperties": false,
  "$defs": {
    "person": {
      "type": "object",
      "properties": {"name": {"type": "string"}, "born": {"type": "integer"},
                     "roles": {"type": "array", "items": {"type": "string"}}},
      "required": ["name"],
      "additionalProperties": false
    }
  }
})";

const Tokenizer& tokenizer(int which) {
  static std::map<int, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[which];
  if (!slot) slot = Tokenizer::from_gguf(GgufFile::open(std::string(TANDEM_SHARED_DIR) + "/vocab/" + kVocabs[which]));
  return *slot;
}

std::shared_ptr<const ConstraintVocabulary> vocabulary(int which) {
  static std::map<int, std::shared_ptr<const ConstraintVocabulary>> cache;
  auto& slot = cache[which];
  if (!slot) slot = ConstraintVocabulary::build(tokenizer(which));
  return slot;
}

void BM_CompileTypicalSchema(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Grammar::json_schema(kTypicalSchema));
  state.counters["nodes"] = static_cast<double>(Grammar::json_schema(kTypicalSchema)->node_count());
}
BENCHMARK(BM_CompileTypicalSchema)->Unit(benchmark::kMicrosecond);

void BM_BuildVocabularyTables(benchmark::State& state) {
  const Tokenizer& t = tokenizer(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(ConstraintVocabulary::build(t));
  state.SetLabel(kVocabs[state.range(0)]);
}
BENCHMARK(BM_BuildVocabularyTables)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// One uncached mask: the trie walk, at the start of the value and inside a free string.
void BM_ColdMask(benchmark::State& state) {
  auto vocab = vocabulary(static_cast<int>(state.range(0)));
  auto grammar = Grammar::json_schema(kTypicalSchema);
  const bool in_string = state.range(1) == 1;
  for (auto _ : state) {
    auto constraint = std::make_shared<const TokenConstraint>(grammar, vocab);
    ConstraintState s(constraint);
    if (in_string) {
      state.PauseTiming();
      // advance by single-byte tokens so the mask below is the string state's
      for (char c : std::string("{\"title\": \"")) {
        TokenId single = -1;
        for (size_t id = 0; id < vocab->size() && single < 0; ++id)
          if (vocab->piece(static_cast<TokenId>(id)) == std::string(1, c)) single = static_cast<TokenId>(id);
        if (single < 0 || !s.accept(single)) state.SkipWithError("no single-byte token");
      }
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(&s.allowed());
  }
  state.SetLabel(std::string(kVocabs[state.range(0)]) + (in_string ? " in a string" : " value start"));
}
BENCHMARK(BM_ColdMask)->Args({0, 0})->Args({0, 1})->Args({1, 0})->Args({1, 1})->Unit(benchmark::kMillisecond);

// The mask work alone for `batch` sequences in one step: allowed() then accept() of a token drawn
// from the mask (uniformly, a cheap stand-in for sampling), states cycling through the schema.
void BM_MaskStep(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const size_t batch = static_cast<size_t>(state.range(1));
  ConstraintCache cache(vocabulary(which));
  auto constraint = cache.json_schema(kTypicalSchema);
  std::vector<std::unique_ptr<ConstraintState>> states;
  for (size_t i = 0; i < batch; ++i) states.push_back(std::make_unique<ConstraintState>(constraint));
  std::mt19937_64 rng(3);
  std::vector<TokenId> allowed_ids;
  auto run_step = [&] {
    for (auto& s : states) {
      const TokenMask& mask = s->allowed();
      // the k-th allowed token, k random: a scan of the mask's words
      const size_t n = mask.count();
      size_t k = rng() % n;
      TokenId id = -1;
      const auto& words = mask.words();
      for (size_t w = 0; w < words.size() && id < 0; ++w) {
        const auto bits_here = static_cast<size_t>(std::popcount(words[w]));
        if (k >= bits_here) {
          k -= bits_here;
          continue;
        }
        uint64_t bits = words[w];
        for (; k > 0; --k) bits &= bits - 1;
        id = static_cast<TokenId>(w * 64 + static_cast<size_t>(std::countr_zero(bits)));
      }
      s->accept(id);
      if (s->ended()) s = std::make_unique<ConstraintState>(constraint);
    }
  };
  for (int warm = 0; warm < 300; ++warm) run_step();
  for (auto _ : state) run_step();
  auto stats = constraint->stats();
  state.counters["per_seq_us"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["miss_rate"] = static_cast<double>(stats.misses) / static_cast<double>(stats.hits + stats.misses);
  state.SetLabel(kVocabs[which]);
}
BENCHMARK(BM_MaskStep)->ArgsProduct({{0, 1}, {1, 16, 64}})->Unit(benchmark::kMicrosecond);

// One decode step's sampling work for `batch` sequences: random logits per row (generated
// outside the timing), Sampler::sample with temperature 1, with or without the typical schema.
// Sequences that finish start over, so the states cycle through the whole schema; masks are
// warm after the first rounds, as they are for a schema a server sees repeatedly.
void BM_SampleStep(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const size_t batch = static_cast<size_t>(state.range(1));
  const bool constrained = state.range(2) == 1;
  const Tokenizer& t = tokenizer(which);
  const size_t n_vocab = t.vocab_size();
  ConstraintCache cache(vocabulary(which));
  auto constraint = cache.json_schema(kTypicalSchema);

  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<std::vector<float>> rows(16, std::vector<float>(n_vocab));
  for (auto& row : rows)
    for (float& x : row) x = normal(rng);

  auto make = [&](uint64_t seed) {
    SamplingParams p;
    p.temperature = 1.0f;
    p.seed = seed;
    if (constrained) p.constraint = constraint;
    return std::make_unique<Sampler>(p);
  };
  std::vector<std::unique_ptr<Sampler>> samplers;
  for (size_t i = 0; i < batch; ++i) samplers.push_back(make(i));
  uint64_t step = 0, restarts = 0;
  auto run_step = [&] {
    for (size_t i = 0; i < batch; ++i) {
      const TokenId id = samplers[i]->sample(rows[(step + i) % rows.size()]).token;
      if (t.is_end_of_generation(id) || (samplers[i]->constraint_state() && samplers[i]->constraint_state()->ended())) {
        samplers[i] = make(1000 + restarts++);
      }
    }
    ++step;
  };
  for (int warm = 0; warm < 200; ++warm) run_step();
  for (auto _ : state) run_step();
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
  if (constrained) {
    auto stats = constraint->stats();
    state.counters["cached_masks"] = static_cast<double>(stats.entries);
    state.counters["miss_rate"] = static_cast<double>(stats.misses) / static_cast<double>(stats.hits + stats.misses);
  }
  state.SetLabel(std::string(kVocabs[which]) + (constrained ? " schema" : " free"));
}
BENCHMARK(BM_SampleStep)
    ->ArgsProduct({{0, 1}, {1, 16, 64}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

// Whole decode steps of the engine with and without the typical schema, `batch` sequences, on
// three random-weight models (finished sequences are replaced by new ones with a 1-token prompt):
//   0  synth-llama-Q8_0 from ../shared: dim 256, 4 layers, the real Llama-2 vocabulary (32000).
//      A small model, so sampling is a large share of each step: the worst case for the overhead.
//   1  the bench-110M shape (dim 768, 12 layers, 12 heads, ff 2048, Q8_0) with the real Llama-2
//      vocabulary: what the issue's target is stated on.
//   2  a 151,936-token vocabulary (Qwen2's size): dim 256, 4 layers, Q8_0, the writer's generated
//      SPM vocabulary (byte tokens + letter pieces; ../shared has no real vocabulary this large).
// Models 1 and 2 are written into the build dir on first run.
std::string bench_model(int which) {
  if (which == 0) return std::string(TANDEM_SHARED_DIR) + "/models/synth-llama-Q8_0.gguf";
  std::filesystem::create_directories(TANDEM_BENCH_MODEL_DIR);
  const std::string path =
      std::string(TANDEM_BENCH_MODEL_DIR) + (which == 1 ? "/bench-110M-spm-Q8_0.gguf" : "/synth-vocab152k-Q8_0.gguf");
  if (std::filesystem::exists(path)) return path;
  SynthModelSpec spec;
  spec.type = GgmlType::Q8_0;
  spec.context = 2048;
  spec.seed = 110 + which;
  if (which == 1) {
    spec.name = "bench-110M";
    spec.dim = 768;
    spec.layers = 12;
    spec.heads = 12;
    spec.kv_heads = 12;
    spec.ff = 2048;
    spec.vocab_from = std::string(TANDEM_SHARED_DIR) + "/vocab/ggml-vocab-llama-spm.gguf";
  } else {
    spec.name = "synth-vocab152k";
    spec.dim = 256;
    spec.layers = 4;
    spec.heads = 8;
    spec.kv_heads = 4;
    spec.ff = 768;
    spec.vocab = 151936;
  }
  write_synthetic_model(spec, path + ".tmp");
  std::filesystem::rename(path + ".tmp", path);
  return path;
}

struct DecodeModel {
  std::unique_ptr<LoadedModel> loaded;
  std::unique_ptr<ConstraintCache> cache;
};

DecodeModel& decode_model(int which) {
  static std::map<int, DecodeModel> models;
  auto& slot = models[which];
  if (!slot.loaded) {
    slot.loaded = LoadedModel::load(bench_model(which));
    slot.cache = std::make_unique<ConstraintCache>(ConstraintVocabulary::build(slot.loaded->tokenizer()));
  }
  return slot;
}

void BM_EngineDecode(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const size_t batch = static_cast<size_t>(state.range(1));
  const bool constrained = state.range(2) == 1;
  auto& model = decode_model(which);
  auto constraint = model.cache->json_schema(kTypicalSchema);
  Engine engine(model.loaded->model(), &model.loaded->tokenizer(),
                EngineConfig{static_cast<uint32_t>(batch * 272), 16, 272});
  uint64_t seed = 0;
  auto add = [&] {
    SequenceRequest request;
    request.prompt = model.loaded->tokenize_text("{");
    request.max_tokens = 256;
    request.sampling.temperature = 1.0f;
    request.sampling.seed = ++seed;
    if (constrained) request.sampling.constraint = constraint;
    engine.add(std::move(request));
  };
  for (size_t i = 0; i < batch; ++i) add();
  size_t tokens = 0;
  auto step = [&] {
    for (const auto& event : engine.step(batch + 8)) {
      tokens += event.tokens.size();
      if (event.finished) add();
    }
  };
  for (int warm = 0; warm < 20; ++warm) step();
  tokens = 0;
  for (auto _ : state) step();
  state.counters["tokens/s_cpu"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  static const char* kNames[] = {"synth-llama-32k", "bench-110M-32k", "vocab-152k"};
  state.SetLabel(std::string(kNames[which]) + (constrained ? " schema" : " free"));
}
BENCHMARK(BM_EngineDecode)
    ->ArgsProduct({{0, 1, 2}, {1, 16, 64}, {0, 1}})
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

// Building the vocabulary tables of the 151,936-token model (once per model, at load).
void BM_BuildVocabularyTables152k(benchmark::State& state) {
  const auto& tokenizer = decode_model(2).loaded->tokenizer();
  for (auto _ : state) benchmark::DoNotOptimize(ConstraintVocabulary::build(tokenizer));
}
BENCHMARK(BM_BuildVocabularyTables152k)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
