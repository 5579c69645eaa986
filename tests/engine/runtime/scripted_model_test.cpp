// `tandem synth-model --script` (SynthModelSpec::script): whatever the prompt, greedy or sampled
// hot, the model writes its script and ends — what output-parsing tests rely on.
#include "engine/engine.h"
#include "engine/gguf_writer.h"

#include <gtest/gtest.h>

#include <map>

namespace tandem::engine {
namespace {

std::vector<TokenId> generate(Model& model, std::vector<TokenId> prompt, float temperature, uint64_t seed) {
  Engine engine(model, nullptr, {256, 16, 0});
  SequenceRequest request;
  request.prompt = std::move(prompt);
  request.max_tokens = 16;
  request.sampling.temperature = temperature;
  request.sampling.seed = seed;
  request.stop_tokens = {2};
  auto added = engine.add(std::move(request));
  std::vector<TokenId> out;
  while (engine.has_work()) {
    for (auto& event : engine.step(64)) {
      for (auto& token : event.tokens) out.push_back(token.id);
    }
  }
  return out;
}

TEST(ScriptedModel, WritesTheScriptAfterAnyPromptGreedyOrHot) {
  SynthModelSpec spec;
  spec.dim = 32;
  spec.layers = 2;
  spec.heads = 2;
  spec.kv_heads = 2;
  spec.ff = 32;
  spec.vocab = 400;
  spec.script = {300, 301, 42, 77, 2};
  auto file = std::make_shared<const GgufFile>(GgufFile::from_bytes(synthetic_model_bytes(spec)));
  auto model = Model::load(file, read_model_config(*file));
  const std::vector<TokenId> script(spec.script.begin(), spec.script.end());
  EXPECT_EQ(generate(*model, {1, 5, 6, 7}, 0.0f, 1), script);
  EXPECT_EQ(generate(*model, {1, 399, 260}, 1.5f, 7), script);
  // A prompt ending inside the script continues it from there.
  EXPECT_EQ(generate(*model, {1, 9, 301}, 1.0f, 3), std::vector<TokenId>({42, 77, 2}));
}

TEST(ScriptedModel, RepeatedOrOversizedScriptsAreRefused) {
  SynthModelSpec spec;
  spec.dim = 32;
  spec.heads = 2;
  spec.kv_heads = 2;
  spec.vocab = 400;
  spec.script = {300, 301, 300};
  EXPECT_THROW(synthetic_model_bytes(spec), GgufError);
  spec.script.assign(40, 0);
  for (int i = 0; i < 40; ++i) spec.script[i] = 300 + i;
  EXPECT_THROW(synthetic_model_bytes(spec), GgufError);
  spec.script = {400};
  EXPECT_THROW(synthetic_model_bytes(spec), GgufError);
}

}  // namespace
}  // namespace tandem::engine
