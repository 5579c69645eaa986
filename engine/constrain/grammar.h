// Internal to engine/constrain: the compiled grammar nodes and the byte-level matcher over them.
//
// A matcher state is a set of stacks of Frames (a set because anyOf forks; it is almost always
// one stack). Each frame is one JSON value being written; its `phase` says where inside it we
// are. A child value is pushed when its first byte arrives and that byte is handed to it; a
// value that may end without a closing byte (a number, a literal that is a prefix of another)
// pops itself on the first byte it cannot take and hands that byte to its parent.
#pragma once

#include "engine/constraint.h"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tandem::engine {

enum class NodeKind : uint8_t {
  any_of,    // alternatives (anyOf, oneOf, type unions, JSON mode's "any value")
  object,
  array,
  string,
  number,    // integer when GrammarNode::integer
  literals,  // a fixed set of byte strings: true/false/null, enum, const
  sequence,  // literal text and values in order (tool-call syntax)
  root,      // leading whitespace, then the value, then nothing
};

enum class StringFormat : uint8_t { none, date, uuid };

// A byte trie over a set of strings (object keys, literal values).
struct ByteTrie {
  struct Node {
    std::vector<std::pair<uint8_t, uint32_t>> children;  // sorted by byte
    int32_t terminal = -1;                                // index of the string ending here
    uint64_t subtree = 0;                                 // bit i: string i (< 64) is below
  };
  std::vector<Node> nodes{Node{}};
  void insert(std::string_view bytes, int32_t index);
  int64_t child(uint32_t node, uint8_t byte) const;  // -1 if none
};

struct GrammarNode {
  NodeKind kind = NodeKind::any_of;
  // any_of: alternatives; array: {items}; object: property value nodes then (if any) the
  // additional-properties node last; root: {value}; sequence: value parts by index.
  std::vector<uint32_t> children;
  // object
  ByteTrie keys;                  // JSON-escaped key text, terminal = property index
  uint64_t required = 0;          // bit per property
  size_t n_properties = 0;
  bool additional = false;        // children.back() is the schema of other keys
  // array / string bounds (string: code points)
  uint32_t min = 0, max = UINT32_MAX;
  bool integer = false;
  StringFormat format = StringFormat::none;
  // literals
  ByteTrie values;
  // sequence: parts; a part is literal text (value < 0) or a child index
  struct Part {
    std::string text;
    int32_t value = -1;
  };
  std::vector<Part> parts;
};

// 24 bytes, no padding: a stack's bytes are its cache key.
struct Frame {
  uint32_t node = 0;
  uint8_t phase = 0;
  uint8_t ws = 0;     // whitespace run so far
  uint8_t utf8 = 0;   // pending UTF-8 continuation state (see matcher.cpp)
  uint8_t sub = 0;    // escape / \u digit position / format position
  uint32_t pos = 0;   // trie node, literal offset, sequence part
  uint32_t count = 0; // items, code points, current property
  uint64_t seen = 0;  // object: properties written
};
static_assert(sizeof(Frame) == 24);

constexpr size_t kMaxStackDepth = 48;
constexpr size_t kMaxStacks = 32;

// A set of stacks, flat: frames of all stacks back to back, `ends[i]` = end of stack i.
struct StackSet {
  std::vector<Frame> frames;
  std::vector<uint32_t> ends;
  size_t size() const { return ends.size(); }
  bool empty() const { return ends.empty(); }
  std::span<const Frame> stack(size_t i) const {
    const size_t begin = i == 0 ? 0 : ends[i - 1];
    return {frames.data() + begin, ends[i] - begin};
  }
  void clear() {
    frames.clear();
    ends.clear();
  }
  // Appends unless an identical stack is already there or the set is full.
  void add(std::span<const Frame> stack);
};

class Matcher {
 public:
  explicit Matcher(const Grammar& grammar) : grammar_(grammar), nodes_(grammar.nodes()) {}

  void initial(StackSet& out) const;
  // The stacks `stack` becomes after `byte` (none: the byte is not allowed).
  void advance(std::span<const Frame> stack, uint8_t byte, StackSet& out) const;
  void advance(const StackSet& in, uint8_t byte, StackSet& out) const;
  bool accepting(std::span<const Frame> stack) const;
  bool accepting(const StackSet& set) const;
  // The top frame is inside a string with no length bound, format or pending UTF-8 bytes:
  // any plain string content leaves the stack as it is.
  bool in_free_string(std::span<const Frame> stack) const;

 private:
  enum class Step { consumed, rejected, pop, push, done };
  void feed(std::vector<Frame>& stack, uint8_t byte, StackSet& out) const;
  void push_value(std::vector<Frame>& stack, uint32_t node, uint8_t byte, StackSet& out, int depth) const;
  Step step(Frame& frame, uint8_t byte, uint32_t& child) const;
  bool can_end(const Frame& frame) const;

  const Grammar& grammar_;
  const std::vector<GrammarNode>& nodes_;
};

}  // namespace tandem::engine
