// Fixture loading and JSON comparison for the schemas tests.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tandem::schemas::test {

inline std::string fixture_text(const std::string& relative) {
  auto path = std::filesystem::path(TANDEM_SOURCE_DIR) / "tests/schemas/fixtures" / relative;
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "fixture missing: " << path.string();
    return {};
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline boost::json::value fixture_json(const std::string& relative) {
  return boost::json::parse(fixture_text(relative));
}

// Pretty enough for a failure message.
inline std::string show(const boost::json::value& value) { return boost::json::serialize(value); }

#define EXPECT_JSON_EQ(actual, expected)                                                         \
  do {                                                                                           \
    boost::json::value actual_value_(actual), expected_value_(expected);                         \
    EXPECT_EQ(actual_value_, expected_value_) << "actual:   " << ::tandem::schemas::test::show(actual_value_) \
                                              << "\nexpected: " << ::tandem::schemas::test::show(expected_value_); \
  } while (0)

}  // namespace tandem::schemas::test
