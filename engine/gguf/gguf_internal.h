// Internal to engine/gguf: the parsed form of a GGUF image, shared by the parser and GgufFile.
#pragma once

#include "engine/gguf.h"

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::engine::detail {

struct ParsedGguf {
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // start of the tensor data section, from the start of the file
  std::vector<std::pair<std::string, GgufValue>> metadata;
  std::map<std::string, size_t, std::less<>> key_index;
  std::vector<TensorInfo> tensors;  // data pointers point into the parsed image
  std::map<std::string, size_t, std::less<>> tensor_index;
};

// Parses and validates the image; tensor data pointers point into `data`. Throws GgufError.
ParsedGguf parse_gguf(const uint8_t* data, size_t size);

std::string_view value_type_name(GgufValueType type);

}  // namespace tandem::engine::detail
