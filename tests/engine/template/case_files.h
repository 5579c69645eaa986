// Loads the Jinja2-generated case files next to these tests (see make_language_cases.py).
#pragma once

#include <boost/json.hpp>

#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace tandem::test {

struct TemplateCase {
  std::string name;        // gtest-safe name
  boost::json::object spec;
};

// gtest prints the case name instead of the object's bytes.
inline void PrintTo(const TemplateCase& c, std::ostream* os) { *os << c.name; }

inline std::vector<TemplateCase> load_template_cases(const std::string& file) {
  std::ifstream in(std::string(TANDEM_SOURCE_DIR) + "/tests/engine/template/" + file);
  if (!in) return {};
  std::stringstream text;
  text << in.rdbuf();
  std::vector<TemplateCase> cases;
  boost::json::value parsed = boost::json::parse(text.str());
  for (const auto& value : parsed.as_array()) {
    TemplateCase c;
    c.spec = value.as_object();
    for (char ch : std::string(c.spec.at("name").as_string())) {
      c.name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace tandem::test
