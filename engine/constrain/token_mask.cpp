// Grammar x vocabulary: token masks by walking the vocabulary's byte trie with the matcher,
// cached per matcher stack; the per-sequence state; the per-model cache of constraints.
#include "engine/constrain/grammar.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace tandem::engine {

void TokenMask::merge(const TokenMask& other) {
  for (size_t i = 0; i < words_.size() && i < other.words_.size(); ++i) words_[i] |= other.words_[i];
}

bool TokenMask::none() const {
  for (uint64_t w : words_)
    if (w != 0) return false;
  return true;
}

size_t TokenMask::count() const {
  size_t n = 0;
  for (uint64_t w : words_) n += static_cast<size_t>(std::popcount(w));
  return n;
}

namespace {

// Valid UTF-8 with no byte a JSON string must escape.
bool is_string_plain(std::string_view piece) {
  if (piece.empty()) return false;
  size_t i = 0;
  while (i < piece.size()) {
    const auto b = static_cast<unsigned char>(piece[i]);
    if (b < 0x80) {
      if (b < 0x20 || b == '"' || b == '\\') return false;
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b >= 0xE0 && b <= 0xEF) len = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    else if (b >= 0xF0 && b <= 0xF4) len = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    else return false;
    if (i + len > piece.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(piece[i + k]);
      if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

std::shared_ptr<const ConstraintVocabulary> ConstraintVocabulary::build(const Tokenizer& tokenizer) {
  auto vocab = std::make_shared<ConstraintVocabulary>();
  const size_t n = tokenizer.vocab_size();
  vocab->n_vocab_ = n;
  vocab->pieces_.resize(n);
  for (size_t id = 0; id < n; ++id) {
    const auto token = static_cast<TokenId>(id);
    const TokenType type = tokenizer.token_type(token);
    if (type == TokenType::control || type == TokenType::unknown || type == TokenType::unused) continue;
    vocab->pieces_[id] = tokenizer.token_to_piece(token, false);
  }
  for (TokenId id : tokenizer.end_of_generation_ids())
    if (id >= 0 && static_cast<size_t>(id) < n) vocab->eog_.push_back(id);
  std::sort(vocab->eog_.begin(), vocab->eog_.end());
  vocab->eog_.erase(std::unique(vocab->eog_.begin(), vocab->eog_.end()), vocab->eog_.end());
  for (TokenId id : vocab->eog_) vocab->pieces_[static_cast<size_t>(id)].clear();  // never text

  // Build the trie with child lists, then flatten to edges sorted by byte.
  struct Building {
    std::vector<std::pair<uint8_t, uint32_t>> children;
    std::vector<TokenId> tokens;
  };
  std::vector<Building> nodes(1);
  for (size_t id = 0; id < n; ++id) {
    const std::string& piece = vocab->pieces_[id];
    if (piece.empty()) continue;
    uint32_t at = 0;
    for (unsigned char b : piece) {
      auto& children = nodes[at].children;
      auto it = std::find_if(children.begin(), children.end(), [&](const auto& c) { return c.first == b; });
      if (it == children.end()) {
        children.emplace_back(b, static_cast<uint32_t>(nodes.size()));
        at = static_cast<uint32_t>(nodes.size());
        nodes.emplace_back();
      } else {
        at = it->second;
      }
    }
    nodes[at].tokens.push_back(static_cast<TokenId>(id));
  }
  // Flatten in depth-first order (children by byte): a walk then reads the arrays mostly
  // forward, and the tokens of a subtree are one contiguous range of trie_tokens_.
  std::vector<uint32_t> preorder;
  preorder.reserve(nodes.size());
  std::vector<uint32_t> pending{0};
  while (!pending.empty()) {
    const uint32_t old = pending.back();
    pending.pop_back();
    preorder.push_back(old);
    auto& children = nodes[old].children;
    std::sort(children.begin(), children.end());
    for (size_t c = children.size(); c-- > 0;) pending.push_back(children[c].second);
  }
  std::vector<uint32_t> new_id(nodes.size());
  for (uint32_t i = 0; i < preorder.size(); ++i) new_id[preorder[i]] = i;
  vocab->trie_.resize(nodes.size());
  for (uint32_t i = 0; i < preorder.size(); ++i) {
    const Building& from = nodes[preorder[i]];
    TrieNode& node = vocab->trie_[i];
    node.first_edge = static_cast<uint32_t>(vocab->edges_.size());
    node.n_edges = static_cast<uint32_t>(from.children.size());
    for (const auto& [byte, target] : from.children) vocab->edges_.push_back({byte, new_id[target]});
    node.first_token = static_cast<uint32_t>(vocab->trie_tokens_.size());
    node.n_tokens = static_cast<uint32_t>(from.tokens.size());
    vocab->trie_tokens_.insert(vocab->trie_tokens_.end(), from.tokens.begin(), from.tokens.end());
  }

  // Subtree ranges and plain-string flags, children first (a child comes after its parent).
  std::vector<uint8_t> plain_token(n, 0);
  for (size_t id = 0; id < n; ++id) plain_token[id] = is_string_plain(vocab->pieces_[id]);
  std::vector<uint32_t> subtree_nodes(vocab->trie_.size(), 1);
  for (size_t i = vocab->trie_.size(); i-- > 0;) {
    TrieNode& t = vocab->trie_[i];
    bool plain = i != 0;
    for (uint32_t k = t.first_token; k < t.first_token + t.n_tokens && plain; ++k)
      plain = plain_token[static_cast<size_t>(vocab->trie_tokens_[k])];
    for (uint32_t e = t.first_edge; e < t.first_edge + t.n_edges; ++e) {
      const uint32_t child = vocab->edges_[e].target;
      plain = plain && vocab->trie_[child].string_plain;
      subtree_nodes[i] += subtree_nodes[child];
    }
    t.string_plain = plain;
    const size_t after = i + subtree_nodes[i];
    t.subtree_begin = t.first_token;
    t.subtree_end = after < vocab->trie_.size() ? vocab->trie_[after].first_token
                                                : static_cast<uint32_t>(vocab->trie_tokens_.size());
  }
  return vocab;
}

std::string_view ConstraintVocabulary::piece(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= n_vocab_) return {};
  return pieces_[static_cast<size_t>(id)];
}

namespace {

std::string stack_key(std::span<const Frame> stack) {
  return std::string(reinterpret_cast<const char*>(stack.data()), stack.size_bytes());
}

// Depth-first over the trie: a token is allowed when the matcher survives all its bytes. One
// StackSet per depth, reused, so the walk allocates only while its buffers grow.
class TrieWalk {
 public:
  TrieWalk(const Matcher& matcher, const ConstraintVocabulary& vocab, TokenMask& mask)
      : matcher_(matcher), vocab_(vocab), mask_(mask) {}

  void run(std::span<const Frame> stack) {
    levels_.resize(1);
    levels_[0].clear();
    levels_[0].add(stack);
    visit(0, 0);
  }

 private:
  void visit(uint32_t node, size_t depth) {
    if (levels_.size() <= depth + 1) levels_.resize(depth + 2);
    const auto& trie = vocab_.trie();
    const auto& edges = vocab_.edges();
    const auto& tokens = vocab_.trie_tokens();
    const auto& here = trie[node];
    // Inside a free string every plain-content token is allowed: mark whole subtrees.
    const bool free_string = levels_[depth].size() == 1 && matcher_.in_free_string(levels_[depth].stack(0));
    const auto& subtree = vocab_.subtree_tokens();
    for (uint32_t e = here.first_edge; e < here.first_edge + here.n_edges; ++e) {
      if (free_string && trie[edges[e].target].string_plain) {
        const auto& child = trie[edges[e].target];
        for (uint32_t t = child.subtree_begin; t < child.subtree_end; ++t) mask_.set(subtree[t]);
        continue;
      }
      StackSet& next = levels_[depth + 1];
      matcher_.advance(levels_[depth], edges[e].byte, next);
      if (next.empty()) continue;
      const auto& child = trie[edges[e].target];
      for (uint32_t t = child.first_token; t < child.first_token + child.n_tokens; ++t) mask_.set(tokens[t]);
      if (child.n_edges > 0) visit(edges[e].target, depth + 1);
    }
  }

  const Matcher& matcher_;
  const ConstraintVocabulary& vocab_;
  TokenMask& mask_;
  std::vector<StackSet> levels_;
};

}  // namespace

TokenConstraint::TokenConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const ConstraintVocabulary> vocab,
                                 size_t cache_bytes)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)) {
  const size_t mask_bytes = std::max<size_t>((vocab_->size() + 63) / 64 * 8, 1);
  cache_entries_max_ = std::max<size_t>(cache_bytes / mask_bytes, 16);
}

std::shared_ptr<const TokenMask> TokenConstraint::stack_mask(std::string_view key) const {
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(std::string(key)); it != cache_.end()) {
      ++stats_.hits;
      return it->second;
    }
    ++stats_.misses;
  }
  // Computed outside the lock: sequences of other schemas/states never wait for this walk.
  std::vector<Frame> stack(key.size() / sizeof(Frame));
  std::memcpy(stack.data(), key.data(), key.size());
  auto mask = std::make_shared<TokenMask>(vocab_->size());
  Matcher matcher(*grammar_);
  TrieWalk(matcher, *vocab_, *mask).run(stack);
  if (matcher.accepting(std::span<const Frame>(stack)))
    for (TokenId id : vocab_->end_of_generation()) mask->set(id);
  std::lock_guard lock(mutex_);
  if (cache_.size() < cache_entries_max_) cache_.emplace(std::string(key), mask);
  return mask;
}

TokenConstraint::Stats TokenConstraint::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.entries = cache_.size();
  return s;
}

struct ConstraintState::Impl {
  std::shared_ptr<const TokenConstraint> constraint;
  Matcher matcher;
  StackSet stacks, scratch;
  std::shared_ptr<const TokenMask> mask;  // for `stacks`; null until asked
  bool ended = false;

  explicit Impl(std::shared_ptr<const TokenConstraint> c)
      : constraint(std::move(c)), matcher(constraint->grammar()) {
    matcher.initial(stacks);
  }
};

ConstraintState::ConstraintState(std::shared_ptr<const TokenConstraint> constraint)
    : impl_(std::make_unique<Impl>(std::move(constraint))) {}
ConstraintState::~ConstraintState() = default;
ConstraintState::ConstraintState(ConstraintState&&) noexcept = default;
ConstraintState& ConstraintState::operator=(ConstraintState&&) noexcept = default;

const TokenMask& ConstraintState::allowed() {
  Impl& s = *impl_;
  if (s.mask) return *s.mask;
  const auto& vocab = s.constraint->vocabulary();
  if (s.ended) {  // after the end (a request that ignores EOS): only the end again
    auto end = std::make_shared<TokenMask>(vocab.size());
    for (TokenId id : vocab.end_of_generation()) end->set(id);
    s.mask = std::move(end);
    return *s.mask;
  }
  if (s.stacks.size() == 1) {
    s.mask = s.constraint->stack_mask(stack_key(s.stacks.stack(0)));
  } else {
    auto merged = std::make_shared<TokenMask>(vocab.size());
    for (size_t i = 0; i < s.stacks.size(); ++i) merged->merge(*s.constraint->stack_mask(stack_key(s.stacks.stack(i))));
    s.mask = std::move(merged);
  }
  if (s.mask->none()) {
    auto fallback = std::make_shared<TokenMask>(vocab.size());
    for (TokenId id : vocab.end_of_generation()) fallback->set(id);
    s.mask = std::move(fallback);
  }
  return *s.mask;
}

bool ConstraintState::accept(TokenId id) {
  Impl& s = *impl_;
  if (!allowed().test(id)) return false;
  const auto& eog = s.constraint->vocabulary().end_of_generation();
  if (std::binary_search(eog.begin(), eog.end(), id)) {
    s.ended = true;
  } else {
    for (unsigned char b : s.constraint->vocabulary().piece(id)) {
      s.matcher.advance(s.stacks, b, s.scratch);
      std::swap(s.stacks, s.scratch);
    }
  }
  s.mask.reset();
  return true;
}

bool ConstraintState::complete() const { return impl_->matcher.accepting(impl_->stacks); }
bool ConstraintState::ended() const { return impl_->ended; }

ConstraintCache::ConstraintCache(std::shared_ptr<const ConstraintVocabulary> vocab, size_t capacity,
                                 size_t max_schema_bytes)
    : vocab_(std::move(vocab)), capacity_(std::max<size_t>(capacity, 1)), max_schema_bytes_(max_schema_bytes) {}

template <class Compile>
std::shared_ptr<const TokenConstraint> ConstraintCache::get(const std::string& key, Compile&& compile) {
  {
    std::lock_guard lock(mutex_);
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
      if (it->first == key) {
        lru_.splice(lru_.begin(), lru_, it);
        return lru_.front().second;
      }
    }
  }
  auto constraint = std::make_shared<const TokenConstraint>(compile(), vocab_);
  std::lock_guard lock(mutex_);
  lru_.emplace_front(key, constraint);
  if (lru_.size() > capacity_) lru_.pop_back();
  return constraint;
}

namespace {
std::string options_key(const ConstraintOptions& o) {
  return std::to_string(o.max_schema_bytes) + "," + std::to_string(o.max_nodes) + "," +
         std::to_string(o.max_whitespace) + "," + (o.strict ? "s" : "n") + "|";
}
}  // namespace

std::shared_ptr<const TokenConstraint> ConstraintCache::json_object(const ConstraintOptions& options) {
  return get("object|" + options_key(options), [&] { return Grammar::json_object(options); });
}

std::shared_ptr<const TokenConstraint> ConstraintCache::json_schema(std::string_view schema,
                                                                    const ConstraintOptions& options) {
  return get("schema|" + options_key(options) + std::string(schema), [&] { return Grammar::json_schema(schema, options); });
}

std::shared_ptr<const TokenConstraint> ConstraintCache::tool_call(Grammar::ToolSyntax syntax,
                                                                  std::span<const Grammar::Tool> tools,
                                                                  const ConstraintOptions& options) {
  std::string key = "tool|" + std::to_string(static_cast<int>(syntax)) + "|" + options_key(options);
  for (const auto& tool : tools)
    key += std::to_string(tool.name.size()) + ":" + tool.name + std::to_string(tool.parameters_schema.size()) + ":" +
           tool.parameters_schema;
  return get(key, [&] { return Grammar::tool_call(syntax, tools, options); });
}

}  // namespace tandem::engine
