// Language features, one case each, with the exact output real Jinja2 3.1 gives under Hugging
// Face's settings (language_cases.json, made by make_language_cases.py): whitespace control,
// literals and Python printing, operators, access and slicing, every statement, tests, filters,
// str/dict/list methods and globals. Error cases must fail; raise_exception ones with exactly
// the template's message.
#include "engine/chat_template.h"
#include "tests/engine/template/case_files.h"
#include "tests/engine/template/render_helper.h"

#include <gtest/gtest.h>

namespace tandem::engine {
namespace {

using test::TemplateCase;

class LanguageCase : public ::testing::TestWithParam<TemplateCase> {};

TEST_P(LanguageCase, MatchesJinja2) {
  const auto& spec = GetParam().spec;
  std::string source(spec.at("template").as_string());
  std::string variables = boost::json::serialize(spec.at("vars"));
  SCOPED_TRACE("template: " + source);
  if (spec.contains("expected")) {
    EXPECT_EQ(test::render_template(source, variables), std::string(spec.at("expected").as_string()));
    return;
  }
  try {
    std::string output = test::render_template(source, variables);
    ADD_FAILURE() << "Jinja2 fails on this template, we rendered: " << output;
  } catch (const TemplateError& error) {
    if (spec.contains("message")) {
      EXPECT_EQ(std::string(error.what()), std::string(spec.at("message").as_string()));
    } else {
      EXPECT_NE(std::string(error.what()).find("chat template error at line 1, column "), std::string::npos)
          << error.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Jinja2, LanguageCase,
                         ::testing::ValuesIn(test::load_template_cases("language_cases.json")),
                         [](const auto& info) { return info.param.name; });

TEST(LanguageCases, CaseFileIsPresent) {
  EXPECT_GE(test::load_template_cases("language_cases.json").size(), 100u)
      << "tests/engine/template/language_cases.json missing or truncated";
}

}  // namespace
}  // namespace tandem::engine
