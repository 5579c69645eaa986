// The Tokenizer implementations. VocabTokenizer holds what both kinds share (special-token
// splitting, pieces, decode, end-of-generation); SpmTokenizer and BpeTokenizer encode raw text.
#pragma once

#include "engine/tokenizer.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/vocab.h"

#include <string>
#include <string_view>
#include <vector>

namespace tandem::engine::tok {

class VocabTokenizer : public Tokenizer {
 public:
  explicit VocabTokenizer(Vocab vocab);

  std::vector<TokenId> encode(std::string_view text, bool add_bos, bool parse_special) const override;
  std::string token_to_piece(TokenId id, bool special = false) const override;
  std::string decode(std::span<const TokenId> ids, bool special = false) const override;

  size_t vocab_size() const override { return vocab_.size(); }
  const std::string& token_text(TokenId id) const override;
  TokenType token_type(TokenId id) const override;
  std::string_view model_name() const override { return vocab_.model; }
  TokenId bos_id() const override { return vocab_.bos; }
  TokenId eos_id() const override { return vocab_.eos; }
  bool add_bos_default() const override { return vocab_.add_bos; }
  bool add_eos_default() const override { return vocab_.add_eos; }
  bool is_end_of_generation(TokenId id) const override;
  std::vector<TokenId> end_of_generation_ids() const override { return vocab_.end_of_generation; }
  bool strips_leading_space() const override { return vocab_.add_space_prefix; }

  // A piece of raw text between special tokens, or one special token.
  struct Fragment {
    TokenId token = -1;  // >= 0: a special token; -1: text[offset, offset + length)
    size_t offset = 0;
    size_t length = 0;
  };
  // llama.cpp's tokenizer_st_partition: longest special tokens first, every occurrence.
  std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;

 protected:
  // Appends the ids for raw text. `after_special` is true at the start and after a special token.
  virtual void encode_text(std::string_view text, bool after_special,
                           std::vector<TokenId>& out) const = 0;
  // The bytes a normal (non-special, non-byte) token stands for.
  virtual std::string normal_piece(TokenId id) const = 0;
  // Called by derived constructors once normal_piece works.
  void build_piece_cache();
  void check_id(TokenId id) const;

  Vocab vocab_;
  std::vector<std::string> pieces_;  // token_to_piece(id, special = true) for every id
};

class SpmTokenizer final : public VocabTokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab);

 protected:
  void encode_text(std::string_view text, bool after_special, std::vector<TokenId>& out) const override;
  std::string normal_piece(TokenId id) const override;

 private:
  TokenId byte_token(uint8_t byte) const;
  std::vector<TokenId> byte_tokens_;  // per byte, -1 when the vocabulary has none
  friend class SpmSession;
};

class BpeTokenizer final : public VocabTokenizer {
 public:
  explicit BpeTokenizer(Vocab vocab);

 protected:
  void encode_text(std::string_view text, bool after_special, std::vector<TokenId>& out) const override;
  std::string normal_piece(TokenId id) const override;

 private:
  void encode_word(const std::string& word, std::vector<TokenId>& out) const;
  PreTokenizer pre_tokenizer_;
};

}  // namespace tandem::engine::tok
