// llama.cpp's tokenizer test vectors (../shared/vocab): every text must encode to exactly the
// ids llama.cpp produced (no BOS, parse_special off, as in tests/test-tokenizer-0.cpp), and
// decode back to the text.
#include "tests/engine/tokenizer/tokenizer_test_util.h"

#include <gtest/gtest.h>

namespace tandem::test {
namespace {

using engine::TokenId;

class VocabVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(VocabVectors, EncodesEveryTestStringExactlyLikeLlamaCpp) {
  const std::string name = GetParam();
  const auto& tokenizer = shared_tokenizer("vocab/ggml-vocab-" + name + ".gguf");
  const auto inp = shared_file("vocab/ggml-vocab-" + name + ".gguf.inp");
  const auto out = shared_file("vocab/ggml-vocab-" + name + ".gguf.out");
  ASSERT_FALSE(inp.empty() || out.empty());
  const auto cases = read_tokenizer_cases(inp, out);
  ASSERT_GE(cases.size(), 40u) << "unexpectedly few test strings in " << inp;

  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto ids = tokenizer.encode(cases[i].text, /*add_bos=*/false, /*parse_special=*/false);
    EXPECT_EQ(ids_to_string(ids), ids_to_string(cases[i].expected))
        << name << " case " << i << ": '" << cases[i].text << "'";
    passed += ids == cases[i].expected;
  }
  EXPECT_EQ(passed, cases.size()) << name;
}

TEST_P(VocabVectors, DecodeRoundTripsEveryTestString) {
  // Every test string is valid UTF-8 and every vocabulary here can represent any byte (SPM
  // through <0xNN> fallback, BPE through the byte mapping), so all of them must round-trip.
  // What cannot round-trip is covered in tokenizer_behaviour_test.cpp (invalid UTF-8 in BPE).
  const std::string name = GetParam();
  const auto& tokenizer = shared_tokenizer("vocab/ggml-vocab-" + name + ".gguf");
  const auto cases = read_tokenizer_cases(shared_file("vocab/ggml-vocab-" + name + ".gguf.inp"),
                                          shared_file("vocab/ggml-vocab-" + name + ".gguf.out"));
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& text = cases[i].text;
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, false, false)), text) << name << " case " << i;
    // With the model's BOS in front the text must come back unchanged as well.
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, true, false)), text) << name << " case " << i;
  }
}

TEST_P(VocabVectors, IncrementalDetokenizerMatchesDecodeAndNeverSplitsCharacters) {
  const std::string name = GetParam();
  const auto& tokenizer = shared_tokenizer("vocab/ggml-vocab-" + name + ".gguf");
  const auto cases = read_tokenizer_cases(shared_file("vocab/ggml-vocab-" + name + ".gguf.inp"),
                                          shared_file("vocab/ggml-vocab-" + name + ".gguf.out"));
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto ids = tokenizer.encode(cases[i].text, tokenizer.add_bos_default(), false);
    engine::IncrementalDetokenizer stream(tokenizer);
    std::string streamed;
    for (TokenId id : ids) {
      const std::string delta = stream.push(id);
      EXPECT_TRUE(is_valid_utf8(delta)) << name << " case " << i << " token " << id;
      streamed += delta;
    }
    streamed += stream.flush();
    EXPECT_EQ(streamed, tokenizer.decode(ids)) << name << " case " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllSharedVocabularies, VocabVectors,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "llama-bpe",
                                           "deepseek-llm", "falcon"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n) c = (c == '-') ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace tandem::test
