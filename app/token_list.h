// Parsing `--tokens 1,2,3` for the tools that take a prompt as token ids (generate, score).
#pragma once

#include "engine/tokenizer.h"

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace tandem::app {

// Throws std::invalid_argument naming the bad item; an empty list is an error too.
inline std::vector<engine::TokenId> parse_token_list(const std::string& text) {
  std::vector<engine::TokenId> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    long value = -1;
    try {
      value = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 0)
      throw std::invalid_argument("--tokens: '" + item + "' is not a token id (expected e.g. 1,2,3)");
    ids.push_back(static_cast<engine::TokenId>(value));
  }
  if (ids.empty()) throw std::invalid_argument("--tokens: no token ids given");
  return ids;
}

}  // namespace tandem::app
