// Tokenizers read from GGUF vocabularies: SentencePiece-style (`llama`) and byte-level BPE
// (`gpt2`, with the pre-tokenizer named by `tokenizer.ggml.pre`), plus the incremental
// detokenizer used for streaming.
#pragma once

#include "engine/gguf.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::engine {

using TokenId = int32_t;

// Token types as stored in tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

class Tokenizer {
 public:
  // Builds the tokenizer from a GGUF's tokenizer.ggml.* metadata (works on vocabulary-only files).
  // Throws GgufError for a missing/inconsistent vocabulary or an unsupported model/pre name.
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file);
  virtual ~Tokenizer() = default;

  // parse_special: text such as "<|im_end|>" becomes its control token. Only trusted text
  // (rendered chat templates) may set it; user content is encoded with it off. (User-defined
  // tokens are matched either way, as llama.cpp and Hugging Face do; they are plain text.)
  // add_bos: whether to put BOS first; the model's own flag is add_bos_default(). EOS is never
  // appended (a generation prompt must not end with it): append eos_id() when
  // add_eos_default() asks for it. Matches llama.cpp's llama_tokenize id for id.
  // Invalid UTF-8 is accepted (SPM keeps the bytes; byte-level BPE reads them as U+FFFD).
  virtual std::vector<TokenId> encode(std::string_view text, bool add_bos, bool parse_special) const = 0;

  // The raw bytes a token stands for (byte tokens give their byte, SPM's ▁ becomes a space).
  // Control tokens give their text only when `special` is true, else "".
  // Ids outside the vocabulary throw std::out_of_range (here and in decode/token_text/type).
  virtual std::string token_to_piece(TokenId id, bool special = false) const = 0;
  // Whole-sequence decode; SPM drops the single leading space the encoder added (from the
  // first token, or the second when the first is BOS). No clean-up of spaces before
  // punctuation (llama.cpp's clean_spaces): decode(encode(s)) == s for valid UTF-8.
  virtual std::string decode(std::span<const TokenId> ids, bool special = false) const = 0;

  virtual size_t vocab_size() const = 0;
  virtual const std::string& token_text(TokenId id) const = 0;  // as stored in the vocabulary
  virtual TokenType token_type(TokenId id) const = 0;
  virtual std::string_view model_name() const = 0;  // "llama" or "gpt2"

  virtual TokenId bos_id() const = 0;   // -1 when absent
  virtual TokenId eos_id() const = 0;   // -1 when absent
  virtual bool add_bos_default() const = 0;
  virtual bool add_eos_default() const = 0;
  // End-of-generation tokens: eos, eot, <|im_end|>, <|eot_id|>, <|end|> and friends.
  virtual bool is_end_of_generation(TokenId id) const = 0;
  virtual std::vector<TokenId> end_of_generation_ids() const = 0;
  // True for SPM vocabularies that put a space before the text: decode drops the space that
  // starts the first token (after a leading BOS), so decode(encode(s)) == s.
  virtual bool strips_leading_space() const { return false; }
};

// Turns a stream of token ids into text deltas that never split a UTF-8 character and apply
// SPM's leading-space rule exactly as Tokenizer::decode does on the whole sequence.
class IncrementalDetokenizer {
 public:
  // at_sequence_start: the first pushed token starts the text (SPM drops its leading space, as
  // decode does). Pass false when continuing after a prompt: a completion's first token keeps
  // its space, which is what llama.cpp's server streams.
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool special = false,
                                  bool at_sequence_start = true);
  // Returns the text that became complete with this token (possibly empty).
  std::string push(TokenId id);
  // Whatever is still buffered (an incomplete UTF-8 tail is returned as-is, as decode would).
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  bool special_;
  bool first_ = true;
  size_t pushed_ = 0;
  std::string pending_;
};

}  // namespace tandem::engine
