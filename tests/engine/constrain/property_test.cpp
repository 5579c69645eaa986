// Property tests: random schemas, the real vocabularies of the random-weight models (Llama-2
// SPM, 32000 tokens with byte fallback; GPT-2 byte-level BPE, 50257 tokens), sampling at
// temperature 1 through the Sampler with random logits: every output must parse and validate
// against its schema with the independent validator of schema_validator.h.
#include "engine/constraint.h"
#include "engine/gguf.h"
#include "engine/sampler.h"
#include "tests/common/test_data.h"
#include "tests/engine/constrain/random_schema.h"
#include "tests/engine/constrain/schema_validator.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace tandem::engine {
namespace {

const Tokenizer& model_tokenizer(const std::string& relative) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[relative];
  if (!slot) {
    const std::string path = test::shared_file(relative);
    if (path.empty()) throw std::runtime_error("missing " + relative);
    slot = Tokenizer::from_gguf(GgufFile::open(path));
  }
  return *slot;
}

std::shared_ptr<const ConstraintVocabulary> vocabulary(const std::string& relative) {
  static std::map<std::string, std::shared_ptr<const ConstraintVocabulary>> cache;
  auto& slot = cache[relative];
  if (!slot) slot = ConstraintVocabulary::build(model_tokenizer(relative));
  return slot;
}

// Random logits that steer toward short outputs without knowing the grammar: a per-token bias
// for pieces holding closing punctuation (and, later in the output, a stronger one), noise on
// top. The constraint decides what is allowed; these only make finishing likely.
class LogitSource {
 public:
  LogitSource(const Tokenizer& tokenizer, uint64_t seed) : rng_(seed) {
    const size_t n = tokenizer.vocab_size();
    closing_.assign(n, 0.0f);
    for (size_t id = 0; id < n; ++id) {
      const auto token = static_cast<TokenId>(id);
      if (tokenizer.is_end_of_generation(token)) {
        closing_[id] = 6.0f;
        continue;
      }
      const std::string piece = tokenizer.token_to_piece(token);
      float bias = piece.size() <= 2 ? 1.0f : 0.0f;
      for (char c : piece)
        if (c == '"' || c == '}' || c == ']') bias = 3.0f;
      closing_[id] = bias;
    }
  }

  const std::vector<float>& next(size_t step) {
    logits_.resize(closing_.size());
    const float weight = step < 24 ? 1.0f : 3.0f;
    for (size_t i = 0; i < logits_.size(); ++i) {
      rng_ ^= rng_ << 13, rng_ ^= rng_ >> 7, rng_ ^= rng_ << 17;
      logits_[i] = static_cast<float>(rng_ >> 40) * (4.0f / 16777216.0f) + weight * closing_[i];
    }
    return logits_;
  }

 private:
  uint64_t rng_;
  std::vector<float> closing_;
  std::vector<float> logits_;
};

struct Output {
  std::string text;
  bool ended = false;
  bool special_before_end = false;
};

Output generate(const Tokenizer& tokenizer, std::shared_ptr<const TokenConstraint> constraint, LogitSource& logits,
                uint64_t seed, size_t max_tokens) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.seed = seed;
  params.constraint = std::move(constraint);
  Sampler sampler(params);
  Output out;
  for (size_t step = 0; step < max_tokens; ++step) {
    const TokenId id = sampler.sample(logits.next(step)).token;
    if (tokenizer.is_end_of_generation(id)) {
      out.ended = true;
      break;
    }
    const TokenType type = tokenizer.token_type(id);
    if (type == TokenType::control || type == TokenType::unknown || type == TokenType::unused)
      out.special_before_end = true;
    out.text += tokenizer.token_to_piece(id);
  }
  return out;
}

struct Tally {
  int cases = 0, ended = 0;
};

void run_random_schemas(const std::string& model, uint64_t seed, int schemas, int samples_per_schema, Tally& tally) {
  const Tokenizer& tokenizer = model_tokenizer(model);
  ConstraintCache cache(vocabulary(model));
  LogitSource logits(tokenizer, seed);
  test::RandomSchema generator(seed);
  for (int s = 0; s < schemas; ++s) {
    const boost::json::value schema = generator.document();
    const std::string schema_text = boost::json::serialize(schema);
    std::shared_ptr<const TokenConstraint> constraint;
    ASSERT_NO_THROW(constraint = cache.json_schema(schema_text)) << schema_text;
    for (int k = 0; k < samples_per_schema; ++k) {
      Output out = generate(tokenizer, constraint, logits, seed * 1000 + s * 10 + k, 160);
      ++tally.cases;
      EXPECT_FALSE(out.special_before_end) << schema_text;
      if (!out.ended) continue;  // ran out of tokens: counted below, not validated
      ++tally.ended;
      const std::string problem = test::parse_and_validate(out.text, schema);
      EXPECT_EQ(problem, "") << "schema: " << schema_text;
      EXPECT_TRUE(constraint->grammar().matches(out.text)) << out.text;
    }
  }
}

void expect_mostly_finished(const Tally& tally) {
  // Nearly every output must finish, or the validation above would prove little.
  EXPECT_GE(tally.ended * 100, tally.cases * 95) << tally.ended << " of " << tally.cases << " finished";
}

TEST(ConstrainedSampling, RandomSchemasOnSpmVocabularyValidate) {
  Tally tally;
  run_random_schemas("models/synth-llama-Q8_0.gguf", 11, 150, 4, tally);
  expect_mostly_finished(tally);
}

TEST(ConstrainedSampling, RandomSchemasOnByteLevelBpeVocabularyValidate) {
  Tally tally;
  run_random_schemas("models/synth-qwen2-F16.gguf", 23, 150, 4, tally);
  expect_mostly_finished(tally);
}

TEST(ConstrainedSampling, JsonModeGivesAnObjectOnBothVocabularies) {
  for (const std::string model : {"models/synth-llama-Q8_0.gguf", "models/synth-qwen2-F16.gguf"}) {
    const Tokenizer& tokenizer = model_tokenizer(model);
    ConstraintCache cache(vocabulary(model));
    auto constraint = cache.json_object();
    LogitSource logits(tokenizer, 5);
    int ended = 0;
    for (int k = 0; k < 200; ++k) {
      Output out = generate(tokenizer, constraint, logits, 100 + k, 160);
      if (!out.ended) continue;
      ++ended;
      boost::system::error_code ec;
      auto doc = boost::json::parse(out.text, ec);
      EXPECT_FALSE(ec) << model << ": " << out.text;
      EXPECT_TRUE(!ec && doc.is_object()) << out.text;
    }
    EXPECT_GE(ended, 190) << model;
  }
}

TEST(ConstrainedSampling, GreedyAndFiltersStayInsideTheMask) {
  const std::string model = "models/synth-qwen2-F16.gguf";
  const Tokenizer& tokenizer = model_tokenizer(model);
  ConstraintCache cache(vocabulary(model));
  const std::string schema = R"({"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer"}},
                                 "required":["ok","n"],"additionalProperties":false})";
  for (int variant = 0; variant < 4; ++variant) {
    SamplingParams params;
    params.temperature = variant == 0 ? 0.0f : 0.8f;
    params.top_k = variant == 1 ? 5 : 0;
    params.top_p = variant == 2 ? 0.5f : 1.0f;
    params.min_p = variant == 3 ? 0.2f : 0.0f;
    params.repetition_penalty = 1.3f;
    params.seed = 42;
    params.constraint = cache.json_schema(schema);
    Sampler sampler(params);
    LogitSource logits(tokenizer, 9 + variant);
    std::string text;
    bool ended = false;
    for (size_t step = 0; step < 200 && !ended; ++step) {
      const TokenId id = sampler.sample(logits.next(step)).token;
      ended = tokenizer.is_end_of_generation(id);
      if (!ended) text += tokenizer.token_to_piece(id);
    }
    ASSERT_TRUE(ended) << "variant " << variant << ": " << text;
    EXPECT_EQ(test::parse_and_validate(text, boost::json::parse(schema)), "") << "variant " << variant;
    ASSERT_NE(sampler.constraint_state(), nullptr);
    EXPECT_TRUE(sampler.constraint_state()->ended());
  }
}

}  // namespace
}  // namespace tandem::engine
