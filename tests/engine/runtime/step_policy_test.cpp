// StepPolicy on stories260K: which waiting prompt a step computes first (arrival or shortest,
// with the anti-starvation bound), the prompt-row and prompt-count caps, prefill-only steps, and
// that no policy changes a single bit of any sequence's output.
#include "engine/engine.h"
#include "tests/engine/runtime/golden.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace tandem::engine {
namespace {

SequenceRequest greedy(std::vector<TokenId> prompt, uint32_t max_tokens) {
  SequenceRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.0f;
  return r;
}

std::vector<TokenId> prompt_of(size_t length, TokenId salt) {
  std::vector<TokenId> prompt(length);
  prompt[0] = 1;
  for (size_t i = 1; i < length; ++i) prompt[i] = static_cast<TokenId>(300 + (i * 7 + static_cast<size_t>(salt)) % 150);
  return prompt;
}

bool produced(const std::vector<SequenceEvent>& events, SequenceId id) {
  return std::any_of(events.begin(), events.end(), [&](const SequenceEvent& e) { return e.id == id && !e.tokens.empty(); });
}

StepPolicy shortest_first() {
  StepPolicy policy;
  policy.prefill_order = StepPolicy::PrefillOrder::shortest_first;
  return policy;
}

class StepPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_ = test::load_test_model("stories260K.gguf");
    ASSERT_TRUE(m_.model);
  }
  test::LoadedTestModel m_;
};

// A short prompt that arrives after a long one: in arrival order it waits while the long one
// takes the whole budget; shortest-first computes it in the first step, the long one gets the rest.
TEST_F(StepPolicyTest, ShortestFirstComputesAShortPromptBeforeALongOnesChunks) {
  for (bool shortest : {false, true}) {
    Engine engine(*m_.model, nullptr, {2048, 16, 0});
    auto long_id = engine.add(greedy(prompt_of(200, 1), 4)).id;
    auto short_id = engine.add(greedy(prompt_of(6, 2), 4)).id;
    const StepPolicy policy = shortest ? shortest_first() : StepPolicy{};
    auto events = engine.step(16, policy);
    EXPECT_EQ(produced(events, short_id), shortest) << (shortest ? "shortest" : "arrival");
    EXPECT_FALSE(produced(events, long_id));
    EXPECT_EQ(engine.stats().last_step_prefill_tokens, 16u);
    EXPECT_EQ(engine.stats().last_step_sequences, shortest ? 2u : 1u);
  }
}

// One prompt per step and a new short prompt every step: the long prompt is passed over until it
// has waited max_prefill_skips steps, then it goes first.
TEST_F(StepPolicyTest, ShortestFirstNeverStarvesALongPrompt) {
  Engine engine(*m_.model, nullptr, {4096, 16, 0});
  StepPolicy policy = shortest_first();
  policy.max_prefill_sequences = 1;
  policy.max_prefill_skips = 3;
  auto long_id = engine.add(greedy(prompt_of(100, 1), 2)).id;
  std::vector<size_t> long_rows;  // prompt rows of the long prompt per step
  for (int step = 0; step < 6; ++step) {
    engine.add(greedy(prompt_of(5, static_cast<TokenId>(10 + step)), 1));
    auto events = engine.step(64, policy);
    EXPECT_FALSE(produced(events, long_id));
    long_rows.push_back(engine.stats().last_step_prefill_tokens == 64 ? 64 : 0);
  }
  // Steps 0-2 take the new short prompt; step 3 the long prompt (passed over 3 times): 64 rows.
  EXPECT_EQ(long_rows, (std::vector<size_t>{0, 0, 0, 64, 0, 0}));
}

// While sequences decode, prompt rows per step and prompts per step are capped; the decodes
// still all run.
TEST_F(StepPolicyTest, CapsPromptRowsAndPromptsPerStepWhileDecoding) {
  Engine engine(*m_.model, nullptr, {4096, 16, 0});
  auto decoding = engine.add(greedy(prompt_of(8, 1), 20)).id;
  engine.step(64);  // its prompt is computed; it decodes from now on
  engine.add(greedy(prompt_of(40, 2), 4));
  engine.add(greedy(prompt_of(40, 3), 4));
  StepPolicy policy;
  policy.max_prefill_tokens = 10;
  auto events = engine.step(64, policy);
  EXPECT_TRUE(produced(events, decoding));
  EXPECT_EQ(engine.stats().last_step_decode_tokens, 1u);
  EXPECT_EQ(engine.stats().last_step_prefill_tokens, 10u);
  policy = {};
  policy.max_prefill_sequences = 1;
  engine.step(64, policy);
  EXPECT_EQ(engine.stats().last_step_sequences, 2u);  // the decode and one prompt
  EXPECT_EQ(engine.stats().last_step_prefill_tokens, 30u);  // the rest of the first prompt
}

// prefill_first: a step with a prompt waiting computes only prompts; decodes resume after.
TEST_F(StepPolicyTest, PrefillFirstPausesDecodesWhilePromptsWait) {
  Engine engine(*m_.model, nullptr, {4096, 16, 0});
  auto decoding = engine.add(greedy(prompt_of(8, 1), 20)).id;
  engine.step(64);
  auto fresh = engine.add(greedy(prompt_of(12, 2), 4)).id;
  StepPolicy policy;
  policy.prefill_first = true;
  auto events = engine.step(64, policy);
  EXPECT_TRUE(produced(events, fresh));
  EXPECT_FALSE(produced(events, decoding));
  EXPECT_EQ(engine.stats().last_step_decode_tokens, 0u);
  events = engine.step(64, policy);
  EXPECT_TRUE(produced(events, decoding));
  EXPECT_TRUE(produced(events, fresh));
}

// The same requests under every policy, arriving while others decode, give bit-identical tokens
// and logprobs: a policy only changes which rows share a step.
TEST_F(StepPolicyTest, EveryPolicyGivesBitIdenticalOutputs) {
  auto run = [&](const StepPolicy& policy, size_t budget) {
    Engine engine(*m_.model, nullptr, {4096, 16, 0});
    std::vector<SequenceId> ids;
    std::map<SequenceId, std::pair<std::vector<TokenId>, std::vector<float>>> out;
    auto collect = [&](const std::vector<SequenceEvent>& events) {
      for (const auto& e : events)
        for (const auto& t : e.tokens) {
          out[e.id].first.push_back(t.id);
          out[e.id].second.push_back(t.logprob);
        }
    };
    for (int k = 0; k < 10; ++k) {
      ids.push_back(engine.add(greedy(prompt_of(k % 3 == 0 ? 90 : 5 + static_cast<size_t>(k), static_cast<TokenId>(k)), 12)).id);
      collect(engine.step(budget, policy));
    }
    while (engine.has_work()) collect(engine.step(budget, policy));
    std::vector<std::pair<std::vector<TokenId>, std::vector<float>>> ordered;
    for (SequenceId id : ids) ordered.push_back(out[id]);
    return ordered;
  };
  const auto reference = run(StepPolicy{}, 512);
  StepPolicy capped;
  capped.max_prefill_tokens = 7;
  capped.max_prefill_sequences = 2;
  StepPolicy first;
  first.prefill_first = true;
  for (const auto& [policy, budget] : {std::pair{shortest_first(), size_t{24}}, std::pair{capped, size_t{32}},
                                       std::pair{first, size_t{20}}, std::pair{StepPolicy{}, size_t{9}}}) {
    const auto other = run(policy, budget);
    ASSERT_EQ(other.size(), reference.size());
    for (size_t i = 0; i < reference.size(); ++i) {
      ASSERT_EQ(other[i].first, reference[i].first) << "sequence " << i << ", budget " << budget;
      ASSERT_EQ(other[i].second.size(), reference[i].second.size());
      EXPECT_EQ(std::memcmp(other[i].second.data(), reference[i].second.data(), reference[i].second.size() * sizeof(float)), 0)
          << "sequence " << i << ", budget " << budget;
    }
  }
}

}  // namespace
}  // namespace tandem::engine
