// SentencePiece-style tokenization as llama.cpp's llm_tokenizer_spm does it: start from UTF-8
// characters, repeatedly merge the adjacent pair whose concatenation is the highest-scoring
// vocabulary token, and fall back to <0xNN> byte tokens for what never forms a token.
#include "engine/tokenizer/tokenizer_impl.h"
#include "engine/tokenizer/unicode_text.h"

#include <queue>
#include <unordered_map>

namespace tandem::engine::tok {

namespace {

constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";  // U+2581 '▁'

struct Symbol {
  int prev;
  int next;
  const char* text;
  size_t n;  // bytes; 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;
};

// Highest score first; on ties the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  }
};

}  // namespace

class SpmSession {
 public:
  explicit SpmSession(const SpmTokenizer& tokenizer)
      : tokenizer_(tokenizer), vocab_(tokenizer.vocab_) {}

  void tokenize(const std::string& text, std::vector<TokenId>& out) {
    size_t offset = 0;
    int index = 0;
    while (offset < text.size()) {
      const size_t length = std::min(utf8_sequence_length(static_cast<unsigned char>(text[offset])),
                                     text.size() - offset);
      symbols_.push_back({index - 1, offset + length == text.size() ? -1 : index + 1,
                          text.data() + offset, length});
      offset += length;
      ++index;
    }
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add_bigram(i - 1, i);

    while (!queue_.empty()) {
      const Bigram bigram = queue_.top();
      queue_.pop();
      Symbol& left = symbols_[static_cast<size_t>(bigram.left)];
      Symbol& right = symbols_[static_cast<size_t>(bigram.right)];
      // Stale entry: one side was merged away or grew since the pair was queued.
      if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) continue;
      left.n += right.n;
      right.n = 0;
      left.next = right.next;
      if (right.next >= 0) symbols_[static_cast<size_t>(right.next)].prev = bigram.left;
      try_add_bigram(left.prev, bigram.left);
      try_add_bigram(bigram.left, left.next);
    }

    if (symbols_.empty()) return;
    for (int i = 0; i != -1; i = symbols_[static_cast<size_t>(i)].next) {
      resegment(symbols_[static_cast<size_t>(i)], out, 0);
    }
  }

 private:
  void try_add_bigram(int left, int right) {
    if (left == -1 || right == -1) return;
    const Symbol& l = symbols_[static_cast<size_t>(left)];
    const std::string_view text(l.text, l.n + symbols_[static_cast<size_t>(right)].n);
    const TokenId id = vocab_.find(text);
    if (id < 0) return;
    queue_.push({left, right, vocab_.score[static_cast<size_t>(id)], text.size()});
    added_.push_back({left, right, text});
  }

  // llama.cpp records every queued pair in a text -> (left, right) map (the last pair with a
  // given text wins). It is only read for symbols that are not tokens, which is rare, so build
  // it from the log on first use.
  const std::unordered_map<std::string_view, std::pair<int, int>>& rev_merge() {
    if (rev_merge_.empty()) {
      for (const auto& a : added_) rev_merge_[a.text] = {a.left, a.right};
    }
    return rev_merge_;
  }

  // Emits a final symbol: its token, or the pieces it was merged from, or its bytes.
  void resegment(const Symbol& symbol, std::vector<TokenId>& out, size_t depth) {
    const std::string_view text(symbol.text, symbol.n);
    if (const TokenId id = vocab_.find(text); id >= 0) {
      out.push_back(id);
      return;
    }
    const auto& merges = rev_merge();
    const auto merged = merges.find(text);
    // The depth bound only protects against pathological input; llama.cpp has none.
    if (merged == merges.end() || depth > symbols_.size()) {
      for (char c : text) {
        TokenId id = tokenizer_.byte_token(static_cast<uint8_t>(c));
        if (id < 0) id = vocab_.unk;  // a vocabulary without byte tokens
        if (id >= 0) out.push_back(id);
      }
      return;
    }
    resegment(symbols_[static_cast<size_t>(merged->second.first)], out, depth + 1);
    resegment(symbols_[static_cast<size_t>(merged->second.second)], out, depth + 1);
  }

  const SpmTokenizer& tokenizer_;
  const Vocab& vocab_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue_;
  struct AddedBigram {
    int left;
    int right;
    std::string_view text;  // points into the session's text, which outlives the session
  };
  std::vector<AddedBigram> added_;
  std::unordered_map<std::string_view, std::pair<int, int>> rev_merge_;
};

SpmTokenizer::SpmTokenizer(Vocab vocab) : VocabTokenizer(std::move(vocab)) {
  byte_tokens_.assign(256, -1);
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char name[] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    TokenId id = vocab_.find(std::string_view(name, sizeof(name)));
    if (id < 0) id = vocab_.find(std::string(1, static_cast<char>(b)));
    byte_tokens_[static_cast<size_t>(b)] = id;
  }
  build_piece_cache();
}

TokenId SpmTokenizer::byte_token(uint8_t byte) const { return byte_tokens_[byte]; }

void SpmTokenizer::encode_text(std::string_view text, bool after_special,
                               std::vector<TokenId>& out) const {
  std::string escaped;
  escaped.reserve(text.size() + text.size() / 2 + kEscapedSpace.size());
  if (vocab_.add_space_prefix && after_special) escaped += kEscapedSpace;
  for (char c : text) {
    if (c == ' ') escaped += kEscapedSpace;
    else escaped += c;
  }
  SpmSession(*this).tokenize(escaped, out);
}

std::string SpmTokenizer::normal_piece(TokenId id) const {
  const std::string& text = vocab_.text[static_cast<size_t>(id)];
  std::string piece;
  piece.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kEscapedSpace.size(), kEscapedSpace) == 0) {
      piece += ' ';
      i += kEscapedSpace.size();
    } else {
      piece += text[i++];
    }
  }
  return piece;
}

}  // namespace tandem::engine::tok
