// Loading shared vocabularies and llama.cpp's tokenizer test files for the tokenizer tests.
#pragma once

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "tests/common/test_data.h"

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace tandem::test {

// Loads a tokenizer once per file path for the whole test binary (the Llama 3 vocabulary takes
// a noticeable moment to read).
inline const engine::Tokenizer& shared_tokenizer(const std::string& relative_path) {
  static std::map<std::string, std::unique_ptr<engine::Tokenizer>> cache;
  auto& slot = cache[relative_path];
  if (!slot) {
    const std::string path = shared_file(relative_path);
    if (path.empty()) throw std::runtime_error("missing reference file " + relative_path);
    slot = engine::Tokenizer::from_gguf(engine::GgufFile::open(path));
  }
  return *slot;
}

struct TokenizerCase {
  std::string text;
  std::vector<engine::TokenId> expected;
};

// NAME.gguf.inp holds texts each followed by "\n__ggml_vocab_test__\n"; line k of NAME.gguf.out
// holds the ids for text k. Split exactly as llama.cpp's tests/test-tokenizer-0.cpp does.
inline std::vector<TokenizerCase> read_tokenizer_cases(const std::string& inp_path,
                                                       const std::string& out_path) {
  const std::string raw = read_file(inp_path);
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(separator, pos);
    if (next == std::string::npos) {
      texts.push_back(raw.substr(pos));
      break;
    }
    texts.push_back(raw.substr(pos, next - pos));
    pos = next + separator.size();
  }
  std::istringstream out(read_file(out_path));
  std::vector<TokenizerCase> cases;
  std::string line;
  for (size_t i = 0; std::getline(out, line); ++i) {
    TokenizerCase c;
    c.text = i < texts.size() ? texts[i] : std::string();
    std::istringstream ids(line);
    for (engine::TokenId id; ids >> id;) c.expected.push_back(id);
    cases.push_back(std::move(c));
  }
  if (cases.size() != texts.size()) {
    ADD_FAILURE() << inp_path << " has " << texts.size() << " texts but " << out_path << " has "
                  << cases.size() << " lines";
  }
  return cases;
}

inline std::string ids_to_string(const std::vector<engine::TokenId>& ids) {
  std::string s;
  for (auto id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

// True when `s` is well-formed UTF-8 (used to check streamed deltas).
inline bool is_valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace tandem::test

namespace tandem::test {

// Builds a GGUF v3 image with metadata only, for vocabularies made up inside a test.
class GgufMetadataBuilder {
 public:
  GgufMetadataBuilder& string(const std::string& key, const std::string& value) {
    begin(key, 8);
    put_string(value);
    ++count_;
    return *this;
  }
  GgufMetadataBuilder& strings(const std::string& key, const std::vector<std::string>& values) {
    begin(key, 9);
    put<uint32_t>(8);
    put<uint64_t>(values.size());
    for (const auto& v : values) put_string(v);
    ++count_;
    return *this;
  }
  GgufMetadataBuilder& floats(const std::string& key, const std::vector<float>& values) {
    begin(key, 9);
    put<uint32_t>(6);
    put<uint64_t>(values.size());
    for (float v : values) put(v);
    ++count_;
    return *this;
  }
  GgufMetadataBuilder& ints(const std::string& key, const std::vector<int32_t>& values) {
    begin(key, 9);
    put<uint32_t>(5);
    put<uint64_t>(values.size());
    for (int32_t v : values) put(v);
    ++count_;
    return *this;
  }
  GgufMetadataBuilder& u32(const std::string& key, uint32_t value) {
    begin(key, 4);
    put(value);
    ++count_;
    return *this;
  }
  engine::GgufFile build() const {
    std::string image = "GGUF";
    auto append = [&image](const auto& v) {
      image.append(reinterpret_cast<const char*>(&v), sizeof(v));
    };
    append(uint32_t{3});
    append(uint64_t{0});  // tensors
    append(count_);
    image += body_;
    return engine::GgufFile::from_bytes(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(image.data()), image.size()));
  }

 private:
  template <typename T>
  void put(T v) { body_.append(reinterpret_cast<const char*>(&v), sizeof(v)); }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    body_ += s;
  }
  void begin(const std::string& key, uint32_t type) {
    put_string(key);
    put(type);
  }
  std::string body_;
  uint64_t count_ = 0;
};

}  // namespace tandem::test
