// What SPM and BPE tokenizers share: special-token splitting, token pieces, decode,
// end-of-generation; plus Tokenizer::from_gguf and the incremental detokenizer.
#include "engine/tokenizer/tokenizer_impl.h"
#include "engine/tokenizer/unicode_text.h"

#include <cctype>
#include <stdexcept>

namespace tandem::engine {

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& file) {
  tok::Vocab vocab = tok::load_vocab(file);
  if (vocab.kind == tok::VocabKind::spm) return std::make_unique<tok::SpmTokenizer>(std::move(vocab));
  return std::make_unique<tok::BpeTokenizer>(std::move(vocab));
}

namespace tok {

VocabTokenizer::VocabTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}

void VocabTokenizer::build_piece_cache() {
  pieces_.resize(vocab_.size());
  for (size_t i = 0; i < vocab_.size(); ++i) {
    const uint32_t a = vocab_.attr[i];
    const auto id = static_cast<TokenId>(i);
    if (a & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
      pieces_[i] = vocab_.text[i];
    } else if (a & kAttrNormal) {
      pieces_[i] = normal_piece(id);
    } else if ((a & kAttrByte) && vocab_.byte_value[i] >= 0) {
      pieces_[i] = std::string(1, static_cast<char>(vocab_.byte_value[i]));
    }  // unused and undefined tokens stand for nothing
  }
}

void VocabTokenizer::check_id(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) {
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                            std::to_string(vocab_.size()) + ")");
  }
}

const std::string& VocabTokenizer::token_text(TokenId id) const {
  check_id(id);
  return vocab_.text[static_cast<size_t>(id)];
}

TokenType VocabTokenizer::token_type(TokenId id) const {
  check_id(id);
  const uint32_t a = vocab_.attr[static_cast<size_t>(id)];
  if (a & kAttrControl) return TokenType::control;
  if (a & kAttrUserDefined) return TokenType::user_defined;
  if (a & kAttrUnknown) return TokenType::unknown;
  if (a & kAttrByte) return TokenType::byte;
  if (a & kAttrUnused) return TokenType::unused;
  if (a & kAttrNormal) return TokenType::normal;
  return TokenType::undefined;
}

bool VocabTokenizer::is_end_of_generation(TokenId id) const {
  return vocab_.end_of_generation_set.count(id) > 0;
}

std::string VocabTokenizer::token_to_piece(TokenId id, bool special) const {
  check_id(id);
  if (!special && vocab_.has(id, kAttrUnknown | kAttrControl)) return {};
  return pieces_[static_cast<size_t>(id)];
}

std::string VocabTokenizer::decode(std::span<const TokenId> ids, bool special) const {
  std::string out;
  bool strip_space = vocab_.add_space_prefix;
  for (size_t i = 0; i < ids.size(); ++i) {
    const TokenId id = ids[i];
    check_id(id);
    if (!special && vocab_.has(id, kAttrUnknown | kAttrControl)) {
      if (!(i == 0 && id == vocab_.bos)) strip_space = false;
      continue;
    }
    std::string_view piece = pieces_[static_cast<size_t>(id)];
    if (strip_space && !(i == 0 && id == vocab_.bos)) {
      if (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
      strip_space = false;
    }
    out += piece;
  }
  return out;
}

std::vector<VocabTokenizer::Fragment> VocabTokenizer::split_special(std::string_view text,
                                                                     bool parse_special) const {
  std::vector<Fragment> fragments{{-1, 0, text.size()}};
  std::vector<Fragment> next;
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  for (const TokenId special : vocab_.special_tokens) {
    const uint32_t attr = vocab_.attr[static_cast<size_t>(special)];
    // User-defined tokens are split out even from untrusted text (as Hugging Face does for
    // added tokens); control and unknown tokens only when the caller trusts the text.
    if (!parse_special && (attr & (kAttrControl | kAttrUnknown))) continue;
    const std::string& needle = vocab_.text[static_cast<size_t>(special)];
    if (text.find(needle) == std::string_view::npos) continue;

    next.clear();
    for (const Fragment& fragment : fragments) {
      if (fragment.token >= 0) {
        next.push_back(fragment);
        continue;
      }
      size_t offset = fragment.offset;
      size_t length = fragment.length;
      while (length > 0) {
        const size_t match = text.substr(0, offset + length).find(needle, offset);
        if (match == std::string_view::npos) {
          next.push_back({-1, offset, length});
          break;
        }
        size_t left_length = match - offset;
        if (attr & kAttrLstrip) {
          while (left_length > 0 && is_space(text[offset + left_length - 1])) --left_length;
        }
        if (left_length > 0) next.push_back({-1, offset, left_length});
        next.push_back({special, 0, 0});
        size_t right_offset = match + needle.size();
        size_t right_length = offset + length - right_offset;
        if (attr & kAttrRstrip) {
          while (right_length > 0 && is_space(text[right_offset])) {
            ++right_offset;
            --right_length;
          }
        }
        offset = right_offset;
        length = right_length;
      }
    }
    fragments.swap(next);
  }
  return fragments;
}

std::vector<TokenId> VocabTokenizer::encode(std::string_view text, bool add_bos,
                                            bool parse_special) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
  if (text.empty()) return out;
  bool after_special = true;
  for (const Fragment& fragment : split_special(text, parse_special)) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
      after_special = true;
    } else {
      encode_text(text.substr(fragment.offset, fragment.length), after_special, out);
      after_special = false;
    }
  }
  return out;
}

}  // namespace tok

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool special,
                                               bool at_sequence_start)
    : tokenizer_(tokenizer), special_(special), first_(at_sequence_start) {}

std::string IncrementalDetokenizer::push(TokenId id) {
  std::string piece = tokenizer_.token_to_piece(id, special_);
  if (first_ && tokenizer_.strips_leading_space()) {
    // Same rule as decode: a leading BOS does not count as the first token.
    const bool leading_bos = pushed_ == 0 && id == tokenizer_.bos_id();
    if (!leading_bos) {
      if (!piece.empty() && piece.front() == ' ') piece.erase(0, 1);
      first_ = false;
    }
  }
  ++pushed_;
  pending_ += piece;
  const size_t complete = tok::complete_utf8_prefix(pending_);
  std::string ready = pending_.substr(0, complete);
  pending_.erase(0, complete);
  return ready;
}

std::string IncrementalDetokenizer::flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

}  // namespace tandem::engine
