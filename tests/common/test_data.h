// Locating the reference data in ../shared. A missing file fails the test with a clear message
// (never a silent pass).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tandem::test {

inline std::filesystem::path shared_dir() { return std::filesystem::path(TANDEM_SHARED_DIR); }

// Returns the full path of shared/<relative>; records a fatal failure when it does not exist,
// so call it as: auto p = shared_file("models/stories260K.gguf"); ASSERT_FALSE(p.empty());
inline std::string shared_file(const std::string& relative) {
  auto path = shared_dir() / relative;
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "reference file missing: " << path.string()
                  << " (tests expect ../shared next to the project root; see ../shared/README.md)";
    return {};
  }
  return path.string();
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace tandem::test
