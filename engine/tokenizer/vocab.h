// The vocabulary as the tokenizers use it: token texts, scores, llama.cpp-style attribute bits,
// special ids and flags, BPE merge ranks. Built once from GGUF metadata (vocab_load.cpp).
#pragma once

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "engine/tokenizer/pretokenizer.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tandem::engine::tok {

// Bit values as in llama.h's llama_token_attr; a token can carry several (e.g. a user-defined
// end-of-turn token forced to control).
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 7,  // drop whitespace before the token when splitting special tokens
  kAttrRstrip = 1u << 8,  // drop whitespace after it
};

enum class VocabKind { spm, bpe };

struct Vocab {
  Vocab() = default;
  // Lookup maps hold views into `text`; a copy would leave them pointing at the original.
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;
  Vocab(Vocab&&) = default;

  VocabKind kind = VocabKind::spm;
  std::string model;  // tokenizer.ggml.model
  std::string pre;    // tokenizer.ggml.pre (BPE)

  std::vector<std::string> text;
  std::vector<float> score;
  std::vector<uint32_t> attr;
  std::vector<int16_t> byte_value;  // SPM byte tokens <0xNN>: the byte; -1 for other tokens
  std::unordered_map<std::string_view, TokenId> id_of;  // views into `text`

  TokenId bos = -1, eos = -1, eot = -1, eom = -1, unk = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SPM: the encoder puts a space before the text

  // Control, user-defined and unknown tokens, longest text first (the special-token splitter
  // tries them in this order).
  std::vector<TokenId> special_tokens;
  std::vector<TokenId> end_of_generation;  // ascending
  std::unordered_set<TokenId> end_of_generation_set;

  // BPE: rank of merge "left right" (lower merges first).
  std::unordered_map<std::string, int32_t> merge_rank;
  PreTokenizerRules pre_rules;

  size_t size() const { return text.size(); }
  TokenId find(std::string_view token_text) const {
    auto it = id_of.find(token_text);
    return it == id_of.end() ? -1 : it->second;
  }
  bool has(TokenId id, uint32_t bits) const { return (attr[static_cast<size_t>(id)] & bits) != 0; }
};

// Reads tokenizer.ggml.* from the file. Throws GgufError naming the offending key.
Vocab load_vocab(const GgufFile& file);

}  // namespace tandem::engine::tok
