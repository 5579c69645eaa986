// Prompts of the local backend on real chat templates of ../shared written into small synth
// models: reasoning templates (the request's thinking settings reach the template, constrained
// output turns thinking off) and later system turns on a template that refuses them.
#include "actors/serving/local_prompt.h"

#include "engine/gguf_writer.h"
#include "tests/common/test_data.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace tandem::local {
namespace {

std::shared_ptr<engine::LoadedModel> model_with_template(const std::string& name) {
  std::ifstream in(test::shared_file("templates/" + name + ".jinja"), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  engine::SynthModelSpec spec;
  spec.dim = 32;
  spec.layers = 1;
  spec.heads = 2;
  spec.kv_heads = 2;
  spec.ff = 32;
  spec.vocab = 600;
  spec.chat_template = text.str();
  const auto path = std::filesystem::temp_directory_path() /
                    ("tandem-prompt-" + name + "-" + std::to_string(::getpid()) + ".gguf");
  engine::write_synthetic_model(spec, path.string());
  auto model = engine::LoadedModel::load(path.string());
  std::filesystem::remove(path);
  return model;
}

schemas::InternalRequest chat(std::vector<std::pair<schemas::Role, std::string>> turns) {
  schemas::InternalRequest request;
  request.model = "m";
  for (auto& [role, text] : turns) {
    schemas::Message message;
    message.role = role;
    message.content.push_back(schemas::TextPart{std::move(text)});
    request.messages.push_back(std::move(message));
  }
  request.max_tokens = 8;
  return request;
}

std::string prompt_text(const engine::LoadedModel& model, const std::vector<engine::TokenId>& tokens) {
  return model.tokenizer().decode(tokens);
}

TEST(LocalPromptTemplates, ThinkingSettingsReachADeepSeekR1Template) {
  auto model = model_with_template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B");
  auto request = chat({{schemas::Role::user, "Hi"}});
  request.thinking.mode = schemas::ThinkingConfig::Mode::enabled;
  auto on = prepare_generation(*model, "m", 512, request, "r");
  ASSERT_TRUE(on) << on.error().message;
  EXPECT_TRUE(on->plan.reasoning);
  EXPECT_TRUE(on->plan.opens_reasoning);  // "<think>\n" prefilled
  EXPECT_TRUE(prompt_text(*model, on->request.prompt).ends_with("<think>\n"));

  request.thinking.mode = schemas::ThinkingConfig::Mode::disabled;
  auto off = prepare_generation(*model, "m", 512, request, "r");
  ASSERT_TRUE(off);
  EXPECT_TRUE(off->plan.reasoning);
  EXPECT_FALSE(off->plan.opens_reasoning);
  EXPECT_TRUE(prompt_text(*model, off->request.prompt).ends_with("<think>\n</think>"));
}

TEST(LocalPromptTemplates, ConstrainedOutputTurnsThinkingOff) {
  auto model = model_with_template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B");
  auto request = chat({{schemas::Role::user, "Hi"}});
  request.thinking.mode = schemas::ThinkingConfig::Mode::adaptive;
  request.response_format.type = schemas::ResponseFormat::Type::json_object;
  engine::ConstraintCache constraints(engine::ConstraintVocabulary::build(model->tokenizer()));
  auto prepared = prepare_generation(*model, "m", 512, request, "r", &constraints);
  ASSERT_TRUE(prepared) << prepared.error().message;
  EXPECT_FALSE(prepared->plan.opens_reasoning);  // the JSON value is the answer, not reasoning
}

TEST(LocalPromptTemplates, TemplatesWithoutReasoningAreNotSplit) {
  auto model = model_with_template("Qwen-Qwen2.5-7B-Instruct");
  auto request = chat({{schemas::Role::user, "Hi"}});
  request.thinking.mode = schemas::ThinkingConfig::Mode::enabled;
  auto prepared = prepare_generation(*model, "m", 512, request, "r");
  ASSERT_TRUE(prepared);
  EXPECT_FALSE(prepared->plan.reasoning);
}

TEST(LocalPromptTemplates, LaterSystemTurnsOnMistralNemoAreFoldedNotRefused) {
  auto model = model_with_template("mistralai-Mistral-Nemo-Instruct-2407");
  auto request = chat({{schemas::Role::user, "Once upon a time"},
                       {schemas::Role::assistant, "there was a dog."},
                       {schemas::Role::system, "Keep it short."},
                       {schemas::Role::user, "Go on."}});
  request.system = "You tell stories.";
  auto tokens = chat_prompt_tokens(*model, request);
  ASSERT_TRUE(tokens) << tokens.error().message;
  EXPECT_NE(prompt_text(*model, *tokens).find("[INST]You tell stories.\n\n[System]\nKeep it short.\n\nGo on.[/INST]"),
            std::string::npos)
      << prompt_text(*model, *tokens);

  // A conversation the template refuses for another reason still gets its 400.
  auto broken = chat({{schemas::Role::assistant, "a"}, {schemas::Role::user, "b"}});
  auto refused = chat_prompt_tokens(*model, broken);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().param, "messages");
}

TEST(LocalPromptTemplates, TemplatesThatTakeLaterSystemTurnsKeepThemInPlace) {
  auto model = model_with_template("Qwen-Qwen2.5-7B-Instruct");
  auto request = chat({{schemas::Role::user, "a"}, {schemas::Role::assistant, "b"},
                       {schemas::Role::system, "Keep it short."}, {schemas::Role::user, "c"}});
  auto tokens = chat_prompt_tokens(*model, request);
  ASSERT_TRUE(tokens);
  const auto text = prompt_text(*model, *tokens);
  EXPECT_NE(text.find("<|im_start|>system\nKeep it short.<|im_end|>"), std::string::npos) << text;
  EXPECT_EQ(text.find("[System]"), std::string::npos);
}

}  // namespace
}  // namespace tandem::local
