// Property tests: random schemas, the real vocabularies of the random-weight models (Llama-2
// SPM, 32000 tokens with byte fallback; GPT-2 byte-level BPE, 50257 tokens), drawing at random
// from the masks (thousands of cases) and sampling at temperature 1 through the Sampler with
// random logits: every output must parse and validate against its schema with the independent
// validator of schema_validator.h. (engine_test.cpp does the same with real forward passes.)
#include "engine/constraint.h"
#include "engine/gguf.h"
#include "engine/sampler.h"
#include "tests/common/test_data.h"
#include "tests/engine/constrain/random_schema.h"
#include "tests/engine/constrain/schema_validator.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <thread>

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
  bool ended = false;     // an end-of-generation token was drawn
  bool complete = false;  // ...and the constraint said the value was complete then
  bool special_before_end = false;
};

// Through the Sampler (the hook the engine uses): random logits, temperature 1.
Output generate(const Tokenizer& tokenizer, std::shared_ptr<const TokenConstraint> constraint, LogitSource& logits,
                uint64_t seed, size_t max_tokens) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.seed = seed;
  params.constraint = std::move(constraint);
  Sampler sampler(params);
  Output out;
  for (size_t step = 0; step < max_tokens; ++step) {
    const bool complete = sampler.constraint_state()->complete();
    const TokenId id = sampler.sample(logits.next(step)).token;
    if (tokenizer.is_end_of_generation(id)) {
      out.ended = true;
      out.complete = complete;
      break;
    }
    const TokenType type = tokenizer.token_type(id);
    if (type == TokenType::control || type == TokenType::unknown || type == TokenType::unused)
      out.special_before_end = true;
    out.text += tokenizer.token_to_piece(id);
  }
  return out;
}

// Straight on the mask, for the many cases: each step draws uniformly among the allowed tokens,
// or (more often as the output grows) among the allowed ones that close something, or the end
// when allowed.
// Any distribution will do: the property is that whatever is drawn from the mask validates.
class MaskDriver {
 public:
  MaskDriver(const Tokenizer& tokenizer, uint64_t seed)
      : tokenizer_(tokenizer),
        rng_(seed),
        enders_(tokenizer.vocab_size()),
        quotes_(tokenizer.vocab_size()),
        hints_(tokenizer.vocab_size()) {
    pieces_.resize(tokenizer.vocab_size());
    for (size_t id = 0; id < tokenizer.vocab_size(); ++id) {
      const auto token = static_cast<TokenId>(id);
      if (tokenizer.token_type(token) == TokenType::control) continue;
      const std::string& piece = pieces_[id] = tokenizer.token_to_piece(token);
      if (piece.find_first_of("}]") != std::string::npos) enders_.set(token);
      if (piece.find('"') != std::string::npos) quotes_.set(token);
    }
  }

  // Property names the schema requires could take a uniform draw forever to spell next to
  // free additional keys: tokens inside a quoted name of `schema` get drawn more often.
  void hint_names(const boost::json::value& schema) {
    std::vector<std::string> names;
    collect_names(schema, names);
    hints_ = TokenMask(tokenizer_.vocab_size());
    if (names.empty()) return;
    for (size_t id = 0; id < pieces_.size(); ++id) {
      const std::string& piece = pieces_[id];
      if (piece.empty() || piece.size() > 8 || piece.find_first_not_of(" \t\r\n") == std::string::npos) continue;
      for (const auto& name : names)
        if (name.find(piece) != std::string::npos) {
          hints_.set(static_cast<TokenId>(id));
          break;
        }
    }
  }

  Output run(std::shared_ptr<const TokenConstraint> constraint, size_t max_tokens) {
    ConstraintState state(std::move(constraint));
    Output out;
    for (size_t step = 0; step < max_tokens; ++step) {
      const TokenMask& allowed = state.allowed();
      const bool complete = state.complete();
      TokenId id = -1;
      for (TokenId eog : tokenizer_.end_of_generation_ids())
        if (allowed.test(eog) && chance(0.9)) id = eog;
      const double draw = std::uniform_real_distribution<double>(0, 1)(rng_);
      const double end_weight = step < 16 ? 0.15 : 0.4, quote_weight = step < 16 ? 0.15 : 0.2;
      const double hint_weight = 0.3;
      if (id < 0 && draw < end_weight) id = pick(allowed, &enders_);
      if (id < 0 && draw < end_weight + quote_weight) id = pick(allowed, &quotes_);
      if (id < 0 && draw < end_weight + quote_weight + hint_weight) id = pick(allowed, &hints_);
      if (id < 0) id = pick(allowed, nullptr);
      EXPECT_TRUE(state.accept(id)) << "a token from the mask was refused";
      if (tokenizer_.is_end_of_generation(id)) {
        out.ended = true;
        out.complete = complete;
        break;
      }
      const TokenType type = tokenizer_.token_type(id);
      if (type == TokenType::control || type == TokenType::unknown || type == TokenType::unused)
        out.special_before_end = true;
      out.text += pieces_[static_cast<size_t>(id)];
    }
    return out;
  }

 private:
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  static void collect_names(const boost::json::value& v, std::vector<std::string>& names) {
    if (v.is_array())
      for (const auto& item : v.get_array()) collect_names(item, names);
    if (!v.is_object()) return;
    if (const auto* props = v.get_object().if_contains("properties"); props && props->is_object())
      for (const auto& [key, value] : props->get_object()) names.push_back(boost::json::serialize(boost::json::string(key)));
    for (const auto& [key, value] : v.get_object()) collect_names(value, names);
  }

  // A uniformly drawn token of `allowed` (and `also`, when given); -1 if there is none.
  TokenId pick(const TokenMask& allowed, const TokenMask* also) {
    const auto& a = allowed.words();
    auto word = [&](size_t w) { return also ? a[w] & also->words()[w] : a[w]; };
    size_t total = 0;
    for (size_t w = 0; w < a.size(); ++w) total += static_cast<size_t>(std::popcount(word(w)));
    if (total == 0) return -1;
    size_t r = std::uniform_int_distribution<size_t>(0, total - 1)(rng_);
    for (size_t w = 0; w < a.size(); ++w) {
      uint64_t bits = word(w);
      const auto n = static_cast<size_t>(std::popcount(bits));
      if (r >= n) {
        r -= n;
        continue;
      }
      for (; r > 0; --r) bits &= bits - 1;
      return static_cast<TokenId>(w * 64 + static_cast<size_t>(std::countr_zero(bits)));
    }
    return -1;
  }

  const Tokenizer& tokenizer_;
  std::mt19937_64 rng_;
  std::vector<std::string> pieces_;  // "" for control tokens
  TokenMask enders_;  // tokens holding '}' or ']'
  TokenMask quotes_;  // tokens holding '"'
  TokenMask hints_;   // tokens inside the schema's quoted property names
};

struct Tally {
  int cases = 0, ended = 0;
};

void run_random_schemas(const std::string& model, uint64_t seed, int schemas, int samples_per_schema, Tally& tally) {
  const Tokenizer& tokenizer = model_tokenizer(model);
  ConstraintCache cache(vocabulary(model));
  MaskDriver driver(tokenizer, seed);
  test::RandomSchema generator(seed);
  for (int s = 0; s < schemas; ++s) {
    const boost::json::value schema = generator.document();
    const std::string schema_text = boost::json::serialize(schema);
    std::shared_ptr<const TokenConstraint> constraint;
    ASSERT_NO_THROW(constraint = cache.json_schema(schema_text)) << schema_text;
    driver.hint_names(schema);
    for (int k = 0; k < samples_per_schema; ++k) {
      Output out = driver.run(constraint, 200);
      ++tally.cases;
      EXPECT_FALSE(out.special_before_end) << schema_text;
      if (!out.ended) {  // ran out of tokens: counted below, not validated
        if (std::getenv("TANDEM_SHOW_UNFINISHED")) std::cerr << "SCHEMA " << schema_text << "\n  TAIL " << out.text.substr(out.text.size() > 150 ? out.text.size() - 150 : 0) << "\n";
        continue;
      }
      ++tally.ended;
      EXPECT_TRUE(out.complete) << "ended before the value was complete (a dead end): " << schema_text;
      const std::string problem = test::parse_and_validate(out.text, schema);
      EXPECT_EQ(problem, "") << "schema: " << schema_text;
      EXPECT_TRUE(constraint->grammar().matches(out.text)) << out.text;
    }
  }
}

void expect_mostly_finished(const Tally& tally) {
  // Nearly every output must finish, or the validation above would prove little.
  EXPECT_GE(tally.ended * 100, tally.cases * 90) << tally.ended << " of " << tally.cases << " finished";
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
    for (int k = 0; k < 20; ++k) {
      Output out = generate(tokenizer, constraint, logits, 100 + k, 160);
      if (!out.ended) continue;
      ++ended;
      EXPECT_TRUE(out.complete);
      boost::system::error_code ec;
      auto doc = boost::json::parse(out.text, ec);
      EXPECT_FALSE(ec) << model << ": " << out.text;
      EXPECT_TRUE(!ec && doc.is_object()) << out.text;
    }
    EXPECT_GE(ended, 18) << model;
  }
}

// The first token whose piece is exactly `text` (byte tokens included), or -1.
TokenId single_token(const ConstraintVocabulary& vocab, std::string_view text) {
  for (size_t id = 0; id < vocab.size(); ++id)
    if (vocab.piece(static_cast<TokenId>(id)) == text) return static_cast<TokenId>(id);
  return -1;
}

TEST(ConstrainedSampling, EndOnlyWhenCompleteAndNoSpecialTokens) {
  for (const std::string model : {"models/synth-llama-Q8_0.gguf", "models/synth-qwen2-F16.gguf"}) {
    const Tokenizer& tokenizer = model_tokenizer(model);
    auto vocab = vocabulary(model);
    ConstraintCache cache(vocab);
    ConstraintState state(cache.json_schema(R"({"type":"array","items":{"type":"integer"},"maxItems":2})"));
    auto eog = tokenizer.end_of_generation_ids();
    ASSERT_FALSE(eog.empty());
    auto any_special = [&](const TokenMask& mask) {
      for (size_t id = 0; id < tokenizer.vocab_size(); ++id) {
        const auto token = static_cast<TokenId>(id);
        const TokenType type = tokenizer.token_type(token);
        if (mask.test(token) && !tokenizer.is_end_of_generation(token) &&
            (type == TokenType::control || type == TokenType::unknown || type == TokenType::unused))
          return true;
      }
      return false;
    };
    for (const char* piece : {"[", "7", ",", "1", "2"}) {
      const TokenMask& allowed = state.allowed();
      EXPECT_FALSE(allowed.test(eog[0])) << model << " before " << piece;
      EXPECT_FALSE(any_special(allowed)) << model;
      const TokenId id = single_token(*vocab, piece);
      ASSERT_GE(id, 0) << piece;
      ASSERT_TRUE(state.accept(id)) << model << " refused " << piece;
    }
    // "[7,12" may still grow ("[7,123") or close; after "]" only the end remains.
    EXPECT_FALSE(state.accept(single_token(*vocab, ",")));  // maxItems 2
    EXPECT_FALSE(state.complete());
    ASSERT_TRUE(state.accept(single_token(*vocab, "]")));
    EXPECT_TRUE(state.complete());
    const TokenMask& end = state.allowed();
    EXPECT_TRUE(end.test(eog[0]));
    EXPECT_EQ(end.count(), eog.size()) << model << ": something besides the end is allowed after the value";
    EXPECT_TRUE(state.accept(eog[0]));
    EXPECT_TRUE(state.ended());
  }
}

// One TokenConstraint (and its mask cache) shared by sequences on several threads, as the
// sequences of one schema on one model share it: every output still validates.
TEST(ConstrainedSampling, ThreadsShareOneConstraint) {
  const std::string model = "models/synth-llama-Q8_0.gguf";
  const Tokenizer& tokenizer = model_tokenizer(model);
  const std::string schema_text = R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},
      "tags":{"type":"array","items":{"enum":["x","y",3]},"maxItems":3},"n":{"type":"number"}},
      "required":["name","tags","n"],"additionalProperties":false})";
  const auto schema = boost::json::parse(schema_text);
  ConstraintCache cache(vocabulary(model));
  auto constraint = cache.json_schema(schema_text);
  std::vector<std::unique_ptr<MaskDriver>> drivers;
  for (int t = 0; t < 4; ++t) drivers.push_back(std::make_unique<MaskDriver>(tokenizer, 77 + t));
  std::vector<std::vector<Output>> outputs(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < 25; ++k) outputs[t].push_back(drivers[t]->run(constraint, 200));
    });
  for (auto& thread : threads) thread.join();
  int ended = 0;
  for (const auto& list : outputs)
    for (const auto& out : list) {
      if (!out.ended) continue;
      ++ended;
      EXPECT_TRUE(out.complete);
      EXPECT_EQ(test::parse_and_validate(out.text, schema), "");
    }
  EXPECT_GE(ended, 90);
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
