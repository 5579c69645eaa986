// The constraint through the engine's step API: real forward passes of the random-weight models
// at temperature 1, several sequences batched, each with its own constraint state; the outputs
// end with end-of-generation exactly when the value is complete and validate against the schema.
#include "engine/constraint.h"
#include "engine/engine.h"
#include "engine/loaded_model.h"
#include "tests/common/test_data.h"
#include "tests/engine/constrain/schema_validator.h"

#include <gtest/gtest.h>

#include <map>

namespace tandem::engine {
namespace {

struct Finished {
  std::string text;
  FinishReason reason = FinishReason::none;
};

std::map<SequenceId, Finished> run(LoadedModel& loaded, std::shared_ptr<const TokenConstraint> constraint, int sequences,
                                   uint32_t max_tokens) {
  Engine engine(loaded.model(), &loaded.tokenizer(), EngineConfig{4096, 16, 512});
  std::map<SequenceId, Finished> out;
  for (int i = 0; i < sequences; ++i) {
    SequenceRequest request;
    request.prompt = loaded.tokenize_text("Answer with JSON only:");
    request.max_tokens = max_tokens;
    request.sampling.temperature = 1.0f;
    request.sampling.seed = 1234 + static_cast<uint64_t>(i);
    request.sampling.constraint = constraint;
    auto added = engine.add(std::move(request));
    EXPECT_TRUE(added.ok()) << added.error;
    out[added.id];
  }
  while (engine.has_work()) {
    for (auto& event : engine.step(512)) {
      out[event.id].text += event.text;
      if (event.finished) out[event.id].reason = event.reason;
    }
  }
  return out;
}

TEST(ConstrainedEngine, SchemaOutputsOfBatchedSequencesValidateOnSpm) {
  auto path = test::shared_file("models/synth-llama-Q8_0.gguf");
  ASSERT_FALSE(path.empty());
  auto loaded = LoadedModel::load(path);
  const std::string schema = R"({"type":"object","properties":{
      "ok":{"type":"boolean"}, "n":{"type":"integer"}, "e":{"enum":["a","b",null]},
      "list":{"type":"array","items":{"type":"number"},"maxItems":2}},
      "required":["ok","n","e","list"],"additionalProperties":false})";
  ConstraintOptions options;
  options.max_whitespace = 2;
  ConstraintCache cache(ConstraintVocabulary::build(loaded->tokenizer()));
  auto outputs = run(*loaded, cache.json_schema(schema, options), 6, 128);
  ASSERT_EQ(outputs.size(), 6u);
  for (const auto& [id, out] : outputs) {
    EXPECT_EQ(out.reason, FinishReason::eos) << out.text;
    EXPECT_EQ(test::parse_and_validate(out.text, boost::json::parse(schema)), "");
  }
}

TEST(ConstrainedEngine, ForcedHermesToolCallOnByteLevelBpe) {
  auto path = test::shared_file("models/synth-qwen2-F16.gguf");
  ASSERT_FALSE(path.empty());
  auto loaded = LoadedModel::load(path);
  const std::string parameters = R"({"type":"object","properties":{"city":{"enum":["Oslo","Paris"]},
                                     "days":{"type":"integer"}},"required":["city","days"],"additionalProperties":false})";
  std::vector<Grammar::Tool> tools = {{"get_weather", parameters}};
  ConstraintOptions options;
  options.max_whitespace = 2;
  ConstraintCache cache(ConstraintVocabulary::build(loaded->tokenizer()));
  auto outputs = run(*loaded, cache.tool_call(Grammar::ToolSyntax::hermes, tools, options), 4, 128);
  for (const auto& [id, out] : outputs) {
    EXPECT_EQ(out.reason, FinishReason::eos) << out.text;
    const std::string open = "<tool_call>\n", close = "\n</tool_call>";
    const size_t start = out.text.find(open);
    ASSERT_NE(start, std::string::npos) << out.text;
    EXPECT_EQ(out.text.find_first_not_of(" \t\r\n"), start) << "text before the call: " << out.text;
    ASSERT_GE(out.text.size(), start + open.size() + close.size());
    EXPECT_EQ(out.text.substr(out.text.size() - close.size()), close);
    const std::string body = out.text.substr(start + open.size(), out.text.size() - close.size() - start - open.size());
    boost::system::error_code ec;
    auto call = boost::json::parse(body, ec);
    ASSERT_FALSE(ec) << body;
    EXPECT_EQ(call.at("name"), "get_weather");
    EXPECT_EQ(test::SchemaValidator(boost::json::parse(parameters)).validate(call.at("arguments")), "") << body;
  }
}

}  // namespace
}  // namespace tandem::engine
