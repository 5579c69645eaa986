// Reading ../shared/golden/*.json and loading the matching model, for the runtime tests.
#pragma once

#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/model_config.h"
#include "tests/common/test_data.h"

#include <boost/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tandem::test {

struct GoldenCase {
  std::string prompt;
  std::vector<engine::TokenId> prompt_tokens;
  std::vector<engine::TokenId> completion_tokens;
  std::string completion_text;
  // top_logprobs[i]: llama.cpp's 10 best (id, logprob) at generated position i.
  std::vector<std::vector<std::pair<engine::TokenId, float>>> top_logprobs;
};

inline std::vector<GoldenCase> load_golden(const std::string& model_file) {
  std::string stem = model_file.substr(0, model_file.rfind('.'));
  std::string path = shared_file("golden/" + stem + ".json");
  if (path.empty()) return {};
  auto root = boost::json::parse(read_file(path)).as_object();
  std::vector<GoldenCase> cases;
  for (const auto& c : root.at("cases").as_array()) {
    const auto& o = c.as_object();
    GoldenCase g;
    g.prompt = std::string(o.at("prompt").as_string());
    for (const auto& t : o.at("prompt_tokens").as_array()) g.prompt_tokens.push_back(static_cast<int>(t.as_int64()));
    for (const auto& t : o.at("completion_tokens").as_array())
      g.completion_tokens.push_back(static_cast<int>(t.as_int64()));
    g.completion_text = std::string(o.at("completion_text").as_string());
    for (const auto& pos : o.at("top_logprobs").as_array()) {
      std::vector<std::pair<engine::TokenId, float>> row;
      for (const auto& e : pos.as_array())
        row.emplace_back(static_cast<int>(e.at("id").as_int64()), static_cast<float>(e.at("logprob").to_number<double>()));
      g.top_logprobs.push_back(std::move(row));
    }
    cases.push_back(std::move(g));
  }
  return cases;
}

struct LoadedTestModel {
  std::shared_ptr<const engine::GgufFile> file;
  engine::ModelConfig config;
  std::unique_ptr<engine::Model> model;
};

inline LoadedTestModel load_test_model(const std::string& model_file, engine::ModelLoadOptions options = {}) {
  LoadedTestModel m;
  std::string path = shared_file("models/" + model_file);
  if (path.empty()) return m;
  m.file = std::make_shared<const engine::GgufFile>(engine::GgufFile::open(path));
  m.config = engine::read_model_config(*m.file);
  m.model = engine::Model::load(m.file, m.config, options);
  return m;
}

}  // namespace tandem::test
