// Shared by the engine/gguf tests: small files built with the writer, and byte patching for
// corrupting them at known places.
#pragma once

#include "engine/gguf.h"
#include "engine/gguf_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace tandem::engine::test {

inline GgufValue make_value(GgufValueType type, decltype(GgufValue::data) data) {
  GgufValue v;
  v.type = type;
  v.data = std::move(data);
  return v;
}

// Position of the first occurrence of `needle` in `bytes` (the test fails if absent).
inline size_t find_bytes(const std::vector<uint8_t>& bytes, const std::string& needle) {
  auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  EXPECT_NE(it, bytes.end()) << "'" << needle << "' not found";
  return static_cast<size_t>(it - bytes.begin());
}

template <typename T>
void patch(std::vector<uint8_t>& bytes, size_t offset, T value) {
  ASSERT_LE(offset + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

template <typename T>
T peek(const std::vector<uint8_t>& bytes, size_t offset) {
  T value{};
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// Offset just past a metadata key's text: where its u32 value type is.
inline size_t value_type_offset(const std::vector<uint8_t>& bytes, const std::string& key) {
  return find_bytes(bytes, key) + key.size();
}

// The message of the GgufError that parsing `bytes` throws ("" and a test failure if none).
inline std::string parse_error(const std::vector<uint8_t>& bytes) {
  try {
    GgufFile::from_bytes(bytes);
  } catch (const GgufError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a GgufError";
  return "";
}

// A tiny llama model (F32, generated 259-token vocabulary) for config and corruption tests.
inline SynthModelSpec tiny_spec() {
  SynthModelSpec spec;
  spec.arch = "llama";
  spec.dim = 32;
  spec.layers = 1;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.ff = 64;
  spec.vocab = 259;
  spec.context = 128;
  spec.type = GgmlType::F32;
  return spec;
}

}  // namespace tandem::engine::test
