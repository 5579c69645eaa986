// Byte-level BPE as llama.cpp's llm_tokenizer_bpe does it: regex pre-tokenization, GPT-2's
// byte -> unicode mapping, then repeatedly merging the adjacent pair with the lowest merge rank.
#include "engine/tokenizer/tokenizer_impl.h"
#include "engine/tokenizer/unicode_text.h"

#include <queue>

namespace tandem::engine::tok {

namespace {

struct Symbol {
  int prev;
  int next;
  size_t start;  // byte offset in the word; fixed for a symbol's lifetime
  size_t n;      // bytes; 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  int32_t rank;
  size_t size;
};

// Lowest rank first; on ties the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
  }
};

}  // namespace

BpeTokenizer::BpeTokenizer(Vocab vocab)
    : VocabTokenizer(std::move(vocab)), pre_tokenizer_(vocab_.pre_rules.regexes) {
  build_piece_cache();
}

void BpeTokenizer::encode_text(std::string_view text, bool /*after_special*/,
                               std::vector<TokenId>& out) const {
  const std::string clean = sanitize_utf8(text);
  std::string word;
  for (std::string_view piece : pre_tokenizer_.split(clean)) {
    word.clear();
    for (char c : piece) word += byte_to_unicode(static_cast<uint8_t>(c));
    encode_word(word, out);
  }
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (vocab_.pre_rules.ignore_merges) {
    if (const TokenId id = vocab_.find(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }

  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t offset = 0; offset < word.size();) {
    const size_t length = std::min(utf8_sequence_length(static_cast<unsigned char>(word[offset])),
                                   word.size() - offset);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, offset + length == word.size() ? -1 : index + 1, offset, length});
    offset += length;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  std::string key;
  auto add_bigram = [&](int left, int right) {
    if (left == -1 || right == -1) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const std::string_view left_text(word.data() + l.start, l.n);
    // llama.cpp splits each merge at its first space after position 0, so a left side with a
    // later space can never have a rank.
    if (left_text.find(' ', 1) != std::string_view::npos) return;
    key.assign(left_text);
    key += ' ';
    key.append(word, r.start, r.n);
    const auto it = vocab_.merge_rank.find(key);
    if (it == vocab_.merge_rank.end()) return;
    queue.push({left, right, it->second, l.n + r.n});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) add_bigram(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<size_t>(bigram.right)];
    // Stale: right stays left's neighbour while both live, so equal size means equal text.
    if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) continue;
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;
    add_bigram(left.prev, bigram.left);
    add_bigram(bigram.left, left.next);
  }

  for (int i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& symbol = symbols[static_cast<size_t>(i)];
    const std::string_view text(word.data() + symbol.start, symbol.n);
    if (const TokenId id = vocab_.find(text); id >= 0) {
      out.push_back(id);
      continue;
    }
    // A merge produced text outside the vocabulary (a malformed vocabulary): llama.cpp then
    // looks up single bytes, which only exist for the printable ASCII part of the mapping.
    for (char c : text) {
      if (const TokenId id = vocab_.find(std::string_view(&c, 1)); id >= 0) out.push_back(id);
    }
  }
}

std::string BpeTokenizer::normal_piece(TokenId id) const {
  const std::string& text = vocab_.text[static_cast<size_t>(id)];
  std::string piece;
  piece.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const uint32_t cp = next_codepoint(text, pos);
    const int byte = unicode_to_byte(cp);
    if (byte >= 0) piece += static_cast<char>(byte);
    else piece.append(text, start, pos - start);  // outside the byte mapping: keep as is
  }
  return piece;
}

}  // namespace tandem::engine::tok
