// The golden files in ../shared/golden record how llama.cpp's server tokenized each prompt of
// the model files in ../shared/models and the text it streamed for the completion tokens.
#include "tests/engine/tokenizer/tokenizer_test_util.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace tandem::test {
namespace {

using engine::TokenId;

std::vector<TokenId> to_ids(const boost::json::value& array) {
  std::vector<TokenId> ids;
  for (const auto& v : array.as_array()) ids.push_back(static_cast<TokenId>(v.as_int64()));
  return ids;
}

class GoldenPrompts : public ::testing::TestWithParam<const char*> {
 protected:
  boost::json::object load() {
    const auto path = shared_file(std::string("golden/") + GetParam() + ".json");
    if (path.empty()) return {};
    return boost::json::parse(read_file(path)).as_object();
  }
};

TEST_P(GoldenPrompts, PromptTokensMatchLlamaCppWithTheModelsBosFlag) {
  const auto golden = load();
  ASSERT_TRUE(golden.contains("cases"));
  const auto& tokenizer = shared_tokenizer("models/" + std::string(golden.at("model").as_string()));
  const auto& cases = golden.at("cases").as_array();
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    const std::string prompt(c.at("prompt").as_string());
    const auto expected = to_ids(c.at("prompt_tokens"));
    EXPECT_EQ(ids_to_string(tokenizer.encode(prompt, tokenizer.add_bos_default(), false)),
              ids_to_string(expected))
        << GetParam() << ": '" << prompt << "'";
    EXPECT_EQ(tokenizer.decode(expected), prompt) << GetParam();
  }
}

TEST_P(GoldenPrompts, StreamedCompletionTextMatchesLlamaCppServer) {
  const auto golden = load();
  ASSERT_TRUE(golden.contains("cases"));
  const auto& tokenizer = shared_tokenizer("models/" + std::string(golden.at("model").as_string()));
  for (const auto& c : golden.at("cases").as_array()) {
    // A completion continues the prompt, so its first token keeps its leading space.
    engine::IncrementalDetokenizer stream(tokenizer, /*special=*/false, /*at_sequence_start=*/false);
    std::string text;
    for (TokenId id : to_ids(c.at("completion_tokens"))) text += stream.push(id);
    text += stream.flush();
    EXPECT_EQ(text, std::string(c.at("completion_text").as_string()))
        << GetParam() << ": '" << c.at("prompt").as_string() << "'";
  }
}

INSTANTIATE_TEST_SUITE_P(AllGoldenFiles, GoldenPrompts,
                         ::testing::Values("stories260K", "synth-llama-F32", "synth-llama-Q8_0",
                                           "synth-llama-Q4_0", "synth-llama-Q4_K_M",
                                           "synth-llama-Q6_K", "synth-qwen2-F16"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n) c = (c == '-') ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace tandem::test
