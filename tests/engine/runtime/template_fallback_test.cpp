// A GGUF whose chat template our Jinja subset cannot parse still loads and serves, with ChatML
// and a logged warning (engine::LoadedModel::load, as the server's model loading calls it).
#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "engine/loaded_model.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace tandem::engine {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + "-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".gguf"))
      .string();
}

// A tiny random model whose tokenizer metadata carries `chat_template`.
std::string model_with_template(const std::string& chat_template) {
  SynthModelSpec spec;
  spec.dim = 32;
  spec.layers = 1;
  spec.heads = 2;
  spec.kv_heads = 1;
  spec.ff = 64;
  spec.vocab = 300;
  const std::string plain = temp_path("tandem-template-plain");
  write_synthetic_model(spec, plain);
  // The vocabulary (tokenizer.*) of that model plus the template, as a donor for vocab_from.
  GgufWriter donor;
  const GgufFile plain_file = GgufFile::open(plain);
  for (const auto& [key, value] : plain_file.metadata()) {
    if (key.rfind("tokenizer.", 0) == 0) donor.add_value(key, value);
  }
  donor.add_string("tokenizer.chat_template", chat_template);
  const std::string donor_path = temp_path("tandem-template-donor");
  donor.write_file(donor_path);
  spec.vocab_from = donor_path;
  const std::string path = temp_path("tandem-template-model");
  write_synthetic_model(spec, path);
  std::filesystem::remove(plain);
  std::filesystem::remove(donor_path);
  return path;
}

std::string render_user_turn(const LoadedModel& model) {
  auto messages = boost::json::parse(R"([{"role": "user", "content": "Hi"}])");
  return model.render_chat(messages, nullptr, true);
}

TEST(ChatTemplateFallbackTest, UnparsableTemplateFallsBackToChatmlWithAWarning) {
  const std::string path = model_with_template("{% for message in messages %}{{ message.content ");
  std::vector<std::string> notes;
  auto model = LoadedModel::load(path, {}, [&](const std::string& line) { notes.push_back(line); });
  std::filesystem::remove(path);
  ASSERT_NE(model, nullptr);
  EXPECT_TRUE(model->chat_template_is_fallback());
  EXPECT_EQ(render_user_turn(*model), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  bool warned = false;
  for (const auto& note : notes) warned |= note.find("does not parse") != std::string::npos;
  EXPECT_TRUE(warned) << "no warning among " << notes.size() << " log lines";
}

TEST(ChatTemplateFallbackTest, ValidTemplateIsUsed) {
  const std::string path = model_with_template("{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}");
  auto model = LoadedModel::load(path);
  std::filesystem::remove(path);
  EXPECT_FALSE(model->chat_template_is_fallback());
  EXPECT_EQ(render_user_turn(*model), "[user] Hi\n");
}

}  // namespace
}  // namespace tandem::engine
