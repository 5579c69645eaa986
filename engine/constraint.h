// Constrained decoding: JSON mode, JSON Schema and forced tool calls compiled into a byte-level
// pushdown matcher (Grammar), then applied to a model's real vocabulary as per-step token masks.
//
//   auto vocab = ConstraintVocabulary::build(tokenizer);           // once per model
//   ConstraintCache cache(vocab);                                   // per model, shared
//   params.constraint = cache.json_schema(schema_text);             // per request (cached)
//   // the Sampler then masks the logits and advances the constraint with each chosen token
//
// Supported schema subset: engine/constrain/README.md. Unsupported keywords, invalid schemas
// and schemas over the configured limits throw SchemaError naming the keyword and where.
#pragma once

#include "engine/tokenizer.h"

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tandem::engine {

// A schema the compiler refuses. `path` is a JSON pointer into the schema ("" = the root);
// what() reads "<path>: <reason>" so a caller can prefix its own field name.
class SchemaError : public std::runtime_error {
 public:
  SchemaError(std::string path, const std::string& reason);
  const std::string& path() const { return path_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

struct ConstraintOptions {
  size_t max_schema_bytes = 64 * 1024;  // schema text (JSON) size limit
  size_t max_nodes = 2048;              // compiled grammar nodes (after $ref resolution)
  int max_whitespace = 20;              // longest whitespace run between JSON tokens
  // OpenAI strict mode: an object without "additionalProperties" admits no extra keys
  // (JSON Schema's own default admits any).
  bool strict = false;
};

struct GrammarNode;

// A compiled matcher over bytes. Immutable and shareable between threads.
class Grammar {
 public:
  // JSON mode: any JSON object (values nest freely up to the matcher's depth limit).
  static std::shared_ptr<const Grammar> json_object(const ConstraintOptions& options = {});
  // JSON Schema text. Throws SchemaError.
  static std::shared_ptr<const Grammar> json_schema(std::string_view schema,
                                                    const ConstraintOptions& options = {});

  struct Tool {
    std::string name;
    std::string parameters_schema;  // JSON Schema text; "" = any object
  };
  // The tool-call syntaxes the local tool-call parser reads (app/api/tool_calls.h).
  enum class ToolSyntax {
    hermes,  // <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>  (Qwen, Hermes)
    llama3,  // {"name": ..., "parameters": {...}}                          (Llama 3.1/3.2)
  };
  // Exactly one call to one of `tools` (one tool = a named tool_choice) in `syntax`, its
  // arguments matching that tool's schema. Throws SchemaError (path starts with /tools/N).
  static std::shared_ptr<const Grammar> tool_call(ToolSyntax syntax, std::span<const Tool> tools,
                                                  const ConstraintOptions& options = {});

  // Whole-text checks, for tests and for callers that validate without a vocabulary.
  bool matches(std::string_view text) const;     // a complete value
  bool is_prefix(std::string_view text) const;   // can still become one

  size_t node_count() const;
  const ConstraintOptions& options() const { return options_; }

  // Internal: the compiled nodes (engine/constrain/grammar.h).
  const std::vector<GrammarNode>& nodes() const { return *nodes_; }
  uint32_t root() const { return root_; }

  Grammar(std::shared_ptr<const std::vector<GrammarNode>> nodes, uint32_t root, ConstraintOptions options);

 private:
  std::shared_ptr<const std::vector<GrammarNode>> nodes_;
  uint32_t root_;
  ConstraintOptions options_;
};

// What depends only on the vocabulary, computed once per model: every token's bytes, a byte
// trie over them, and the end-of-generation ids. Control/unknown/unused tokens are never in a
// mask (they have no text a constraint could check).
class ConstraintVocabulary {
 public:
  static std::shared_ptr<const ConstraintVocabulary> build(const Tokenizer& tokenizer);

  size_t size() const { return n_vocab_; }
  const std::vector<TokenId>& end_of_generation() const { return eog_; }
  std::string_view piece(TokenId id) const;  // "" for tokens never allowed

  // Trie: node 0 is the root; edges sorted by byte.
  struct TrieNode {
    uint32_t first_edge = 0, n_edges = 0;
    uint32_t first_token = 0, n_tokens = 0;  // tokens whose bytes end here
    // subtree_tokens()[subtree_begin, subtree_end): every token at or below this node.
    uint32_t subtree_begin = 0, subtree_end = 0;
    // Every token at or below is plain string content (valid UTF-8, no '"', '\' or control
    // bytes): all of them are allowed inside a free string without walking the subtree.
    bool string_plain = false;
  };
  struct TrieEdge {
    uint8_t byte;
    uint32_t target;
  };
  const std::vector<TrieNode>& trie() const { return trie_; }
  const std::vector<TrieEdge>& edges() const { return edges_; }
  const std::vector<TokenId>& trie_tokens() const { return trie_tokens_; }
  const std::vector<TokenId>& subtree_tokens() const { return trie_tokens_; }  // depth-first order

 private:
  size_t n_vocab_ = 0;
  std::vector<std::string> pieces_;
  std::vector<TokenId> eog_;
  std::vector<TrieNode> trie_;
  std::vector<TrieEdge> edges_;
  std::vector<TokenId> trie_tokens_;
};

// One bit per vocabulary entry.
class TokenMask {
 public:
  explicit TokenMask(size_t n_vocab = 0) : n_(n_vocab), words_((n_vocab + 63) / 64, 0) {}
  void set(TokenId id) { words_[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63); }
  bool test(TokenId id) const {
    return id >= 0 && static_cast<size_t>(id) < n_ && (words_[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1;
  }
  void merge(const TokenMask& other);
  size_t count() const;
  bool none() const;
  size_t size() const { return n_; }
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  size_t n_;
  std::vector<uint64_t> words_;
};

// A grammar bound to a vocabulary, with the masks of the matcher states seen so far cached
// (JSON generation revisits few states: every character of a free string is the same state).
// Shared by all sequences using the same schema on the same model; thread-safe.
class TokenConstraint {
 public:
  TokenConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const ConstraintVocabulary> vocab,
                  size_t cache_bytes = 64u << 20);

  const Grammar& grammar() const { return *grammar_; }
  const ConstraintVocabulary& vocabulary() const { return *vocab_; }

  // The mask of one matcher stack (its frames' bytes are the cache key); ConstraintState's.
  std::shared_ptr<const TokenMask> stack_mask(std::string_view stack_key) const;

  struct Stats {
    uint64_t hits = 0, misses = 0;
    size_t entries = 0;
  };
  Stats stats() const;


 private:
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const ConstraintVocabulary> vocab_;
  size_t cache_entries_max_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, std::shared_ptr<const TokenMask>> cache_;
  mutable Stats stats_;
};

// The per-sequence matcher state of a TokenConstraint (what SamplingParams::constraint starts).
class ConstraintState {
 public:
  explicit ConstraintState(std::shared_ptr<const TokenConstraint> constraint);
  ~ConstraintState();
  ConstraintState(ConstraintState&&) noexcept;
  ConstraintState& operator=(ConstraintState&&) noexcept;

  // Tokens that keep the output a valid prefix; end-of-generation tokens only when the value
  // is complete. When nothing can continue (a vocabulary without the needed bytes, a recursion
  // past the depth limit) the end-of-generation tokens are allowed so generation can stop.
  const TokenMask& allowed();
  // Advances by the token's bytes; false (state unchanged) if it was not allowed.
  bool accept(TokenId id);
  bool complete() const;  // the output so far is a whole value
  bool ended() const;     // an end-of-generation token was accepted

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Compiled constraints per model, keyed by schema text and options, least recently used
// evicted. Thread-safe. Compilation errors are not cached (they are cheap and rare).
class ConstraintCache {
 public:
  // `max_schema_bytes`: the server's configured limit on a request's schema text; callers put it
  // in the ConstraintOptions they pass (see max_schema_bytes()).
  explicit ConstraintCache(std::shared_ptr<const ConstraintVocabulary> vocab, size_t capacity = 64,
                           size_t max_schema_bytes = ConstraintOptions{}.max_schema_bytes);
  size_t max_schema_bytes() const { return max_schema_bytes_; }

  std::shared_ptr<const TokenConstraint> json_object(const ConstraintOptions& options = {});
  std::shared_ptr<const TokenConstraint> json_schema(std::string_view schema, const ConstraintOptions& options = {});
  std::shared_ptr<const TokenConstraint> tool_call(Grammar::ToolSyntax syntax, std::span<const Grammar::Tool> tools,
                                                   const ConstraintOptions& options = {});

 private:
  template <class Compile>
  std::shared_ptr<const TokenConstraint> get(const std::string& key, Compile&& compile);

  std::shared_ptr<const ConstraintVocabulary> vocab_;
  size_t capacity_;
  size_t max_schema_bytes_;
  std::mutex mutex_;
  std::list<std::pair<std::string, std::shared_ptr<const TokenConstraint>>> lru_;  // most recent first
};

}  // namespace tandem::engine
