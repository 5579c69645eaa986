// The byte-level matcher: how each kind of frame takes one byte (see grammar.h).
#include "engine/constrain/grammar.h"

#include <algorithm>
#include <cstring>

namespace tandem::engine {

namespace {

// Phases per node kind.
enum RootPhase : uint8_t { root_before = 0, root_done = 1 };
enum ObjectPhase : uint8_t {
  obj_open = 0, obj_first_key, obj_next_key, obj_key, obj_after_key, obj_before_value, obj_after_value,
};
enum ArrayPhase : uint8_t { arr_open = 0, arr_first, arr_next, arr_after_item };
enum StringPhase : uint8_t { str_open = 0, str_body, str_escape, str_hex };
enum NumberPhase : uint8_t {
  num_start = 0, num_minus, num_zero, num_int, num_dot, num_frac, num_exp, num_exp_sign, num_exp_digits,
};

bool is_ws(uint8_t b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }
bool is_hex(uint8_t b) { return is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F'); }

// UTF-8 validation state in one byte: low 2 bits = continuation bytes still due, bits 2-4 = the
// allowed range of the next one (0: 80-BF, 1: A0-BF after E0, 2: 80-9F after ED, 3: 90-BF after
// F0, 4: 80-8F after F4), so overlongs, surrogates and code points past U+10FFFF never pass.
// Returns -1 for an invalid byte, 1 when `b` starts a code point, 0 for a continuation byte.
int utf8_feed(uint8_t& state, uint8_t b) {
  if (state != 0) {
    static constexpr uint8_t lo[] = {0x80, 0xA0, 0x80, 0x90, 0x80};
    static constexpr uint8_t hi[] = {0xBF, 0xBF, 0x9F, 0xBF, 0x8F};
    const uint8_t range = state >> 2;
    if (b < lo[range] || b > hi[range]) return -1;
    const uint8_t remaining = (state & 3) - 1;
    state = remaining;  // range 0 from here on
    return 0;
  }
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) state = 1;
  else if (b == 0xE0) state = 2 | (1 << 2);
  else if (b == 0xED) state = 2 | (2 << 2);
  else if (b >= 0xE1 && b <= 0xEF) state = 2;
  else if (b == 0xF0) state = 3 | (3 << 2);
  else if (b == 0xF4) state = 3 | (4 << 2);
  else if (b >= 0xF1 && b <= 0xF3) state = 3;
  else return -1;
  return 1;
}

bool counts_length(const GrammarNode& n) { return n.min > 0 || n.max != UINT32_MAX; }

// Fixed-shape string formats, one ASCII byte at a time; `f.sub` is the position. A date's
// month is kept in `f.seen` so the day can be checked against it (29 February is refused: the
// year is not known yet when the day is written... it is, but a leap-year rule is not worth
// it here, and refusing is the safe side).
bool format_step(StringFormat format, Frame& f, uint8_t b) {
  const uint8_t p = f.sub;
  if (format == StringFormat::uuid) {
    if (p >= 36) return false;
    const bool dash = p == 8 || p == 13 || p == 18 || p == 23;
    if (dash ? b != '-' : !is_hex(b)) return false;
  } else {  // date: YYYY-MM-DD
    if (p >= 10) return false;
    const unsigned month = static_cast<unsigned>(f.seen & 0xFF), tens = static_cast<unsigned>(f.seen >> 8);
    switch (p) {
      case 4: case 7: if (b != '-') return false; break;
      case 5: if (b != '0' && b != '1') return false; f.seen = (b - '0') * 10u; break;
      case 6:
        if (!is_digit(b) || (month == 0 && b == '0') || (month == 10 && b > '2')) return false;
        f.seen = month + (b - '0');
        break;
      case 8:
        if (b < '0' || b > (month == 2 ? '2' : '3')) return false;
        f.seen = month | (static_cast<uint64_t>(b - '0') << 8);
        break;
      case 9: {
        if (!is_digit(b)) return false;
        const unsigned day = tens * 10 + (b - '0');
        const bool short_month = month == 4 || month == 6 || month == 9 || month == 11;
        const unsigned last = month == 2 ? 28 : short_month ? 30 : 31;
        if (day == 0 || day > last) return false;
        break;
      }
      default: if (!is_digit(b)) return false;
    }
  }
  f.sub = p + 1;
  return true;
}

bool format_complete(StringFormat format, const Frame& f) {
  return format == StringFormat::none || f.sub == (format == StringFormat::uuid ? 36 : 10);
}

}  // namespace

void StackSet::add(std::span<const Frame> stack) {
  if (ends.size() >= kMaxStacks) return;
  for (size_t i = 0; i < ends.size(); ++i) {
    auto other = this->stack(i);
    if (other.size() == stack.size() && std::memcmp(other.data(), stack.data(), stack.size_bytes()) == 0) return;
  }
  frames.insert(frames.end(), stack.begin(), stack.end());
  ends.push_back(static_cast<uint32_t>(frames.size()));
}

void Matcher::initial(StackSet& out) const {
  out.clear();
  Frame root;
  root.node = grammar_.root();
  out.add(std::span<const Frame>(&root, 1));
}

bool Matcher::in_free_string(std::span<const Frame> stack) const {
  if (stack.empty()) return false;
  const Frame& f = stack.back();
  const GrammarNode& n = nodes_[f.node];
  return n.kind == NodeKind::string && f.phase == str_body && f.utf8 == 0 && n.format == StringFormat::none &&
         !counts_length(n);
}

void Matcher::advance(std::span<const Frame> stack, uint8_t byte, StackSet& out) const {
  thread_local std::vector<Frame> work;
  work.assign(stack.begin(), stack.end());
  feed(work, byte, out);
}

void Matcher::advance(const StackSet& in, uint8_t byte, StackSet& out) const {
  out.clear();
  // Reused per thread: the trie walk calls this once per visited node.
  thread_local std::vector<Frame> work;
  for (size_t i = 0; i < in.size(); ++i) {
    auto stack = in.stack(i);
    work.assign(stack.begin(), stack.end());
    feed(work, byte, out);
  }
}

bool Matcher::can_end(const Frame& f) const {
  const GrammarNode& n = nodes_[f.node];
  switch (n.kind) {
    case NodeKind::root: return f.phase == root_done;
    case NodeKind::number:
      return f.phase == num_zero || f.phase == num_int || f.phase == num_frac || f.phase == num_exp_digits;
    case NodeKind::literals: return n.values.nodes[f.pos].terminal >= 0;
    case NodeKind::sequence: return f.pos == n.parts.size();
    default: return false;
  }
}

bool Matcher::accepting(std::span<const Frame> stack) const {
  for (size_t i = stack.size(); i-- > 0;)
    if (!can_end(stack[i])) return false;
  return !stack.empty();
}

bool Matcher::accepting(const StackSet& set) const {
  for (size_t i = 0; i < set.size(); ++i)
    if (accepting(set.stack(i))) return true;
  return false;
}

void Matcher::feed(std::vector<Frame>& stack, uint8_t byte, StackSet& out) const {
  while (!stack.empty()) {
    uint32_t child = 0;
    switch (step(stack.back(), byte, child)) {
      case Step::consumed: out.add(stack); return;
      case Step::rejected: return;
      case Step::pop: stack.pop_back(); continue;  // the value ended before this byte
      case Step::done:  // the byte closed the value
        stack.pop_back();
        out.add(stack);
        return;
      case Step::push: push_value(stack, child, byte, out, 0); return;
    }
  }
}

void Matcher::push_value(std::vector<Frame>& stack, uint32_t node, uint8_t byte, StackSet& out, int depth) const {
  const GrammarNode& n = nodes_[node];
  if (n.kind == NodeKind::any_of) {
    if (depth > 64) return;  // compile refuses alternative cycles; this is a backstop
    for (size_t i = 0; i < n.children.size(); ++i) {
      if (i + 1 == n.children.size()) return push_value(stack, n.children[i], byte, out, depth + 1);
      std::vector<Frame> fork = stack;
      push_value(fork, n.children[i], byte, out, depth + 1);
    }
    return;
  }
  if (stack.size() >= kMaxStackDepth) return;
  Frame f;
  f.node = node;
  stack.push_back(f);
  feed(stack, byte, out);
}

// One frame takes one byte. Parents consume the whitespace before a child value; a child's
// first byte is never whitespace.
Matcher::Step Matcher::step(Frame& f, uint8_t b, uint32_t& child) const {
  const GrammarNode& n = nodes_[f.node];
  const int max_ws = grammar_.options().max_whitespace;
  auto whitespace = [&]() {
    if (f.ws >= max_ws) return Step::rejected;
    ++f.ws;
    return Step::consumed;
  };
  auto push = [&](uint32_t node) {
    f.ws = 0;
    child = node;
    return Step::push;
  };

  switch (n.kind) {
    case NodeKind::root:
      if (f.phase == root_done) return Step::rejected;
      if (is_ws(b)) return whitespace();
      f.phase = root_done;
      return push(n.children[0]);

    case NodeKind::sequence: {
      if (f.pos == n.parts.size()) return Step::pop;
      const auto& part = n.parts[f.pos];
      if (part.value >= 0) {
        ++f.pos;
        f.count = 0;
        return push(static_cast<uint32_t>(part.value));
      }
      if (static_cast<uint8_t>(part.text[f.count]) != b) return Step::rejected;
      if (++f.count == part.text.size()) {
        ++f.pos;
        f.count = 0;
      }
      return Step::consumed;
    }

    case NodeKind::literals: {
      const int64_t next = n.values.child(f.pos, b);
      if (next >= 0) {
        f.pos = static_cast<uint32_t>(next);
        return Step::consumed;
      }
      return n.values.nodes[f.pos].terminal >= 0 ? Step::pop : Step::rejected;
    }

    case NodeKind::number: {
      // Digit runs are bounded (f.count counts the current run) so every number fits an int64
      // or a finite double: 16 integer digits, 16 fraction digits, 2 exponent digits.
      auto digit_run = [&](uint8_t phase, uint32_t limit) {
        if (f.phase != phase) f.count = 0;
        if (f.count >= limit) return Step::rejected;
        ++f.count;
        f.phase = phase;
        return Step::consumed;
      };
      switch (f.phase) {
        case num_start:
          if (b == '-') f.phase = num_minus;
          else if (b == '0') f.phase = num_zero;
          else if (b >= '1' && b <= '9') return digit_run(num_int, 16);
          else return Step::rejected;
          return Step::consumed;
        case num_minus:
          if (b == '0') f.phase = num_zero;
          else if (b >= '1' && b <= '9') return digit_run(num_int, 16);
          else return Step::rejected;
          return Step::consumed;
        case num_int:
          if (is_digit(b)) return digit_run(num_int, 16);
          [[fallthrough]];
        case num_zero:
          if (!n.integer && b == '.') f.phase = num_dot;
          else if (!n.integer && (b == 'e' || b == 'E')) f.phase = num_exp;
          else return Step::pop;
          f.count = 0;
          return Step::consumed;
        case num_dot:
          if (!is_digit(b)) return Step::rejected;
          return digit_run(num_frac, 16);
        case num_frac:
          if (is_digit(b)) return digit_run(num_frac, 16);
          if (b != 'e' && b != 'E') return Step::pop;
          f.phase = num_exp;
          f.count = 0;
          return Step::consumed;
        case num_exp:
          if (b == '+' || b == '-') f.phase = num_exp_sign;
          else if (is_digit(b)) return digit_run(num_exp_digits, 2);
          else return Step::rejected;
          return Step::consumed;
        case num_exp_sign:
          if (!is_digit(b)) return Step::rejected;
          return digit_run(num_exp_digits, 2);
        case num_exp_digits:
          return is_digit(b) ? digit_run(num_exp_digits, 2) : Step::pop;
      }
      return Step::rejected;
    }

    case NodeKind::string: {
      const bool counting = counts_length(n);
      switch (f.phase) {
        case str_open:
          if (b != '"') return Step::rejected;
          f.phase = str_body;
          return Step::consumed;
        case str_body:
          if (n.format != StringFormat::none) {
            if (b == '"') return format_complete(n.format, f) ? Step::done : Step::rejected;
            return format_step(n.format, f, b) ? Step::consumed : Step::rejected;
          }
          if (f.utf8 != 0) return utf8_feed(f.utf8, b) < 0 ? Step::rejected : Step::consumed;
          if (b == '"') {
            if (counting && f.count < n.min) return Step::rejected;
            return Step::done;
          }
          if (b < 0x20) return Step::rejected;
          if (counting && f.count >= n.max) return Step::rejected;
          if (b == '\\') {
            f.phase = str_escape;
            return Step::consumed;
          }
          if (utf8_feed(f.utf8, b) < 0) return Step::rejected;
          if (counting) ++f.count;
          return Step::consumed;
        case str_escape:
          if (b == 'u') {
            f.phase = str_hex;
            f.sub = 0;
            return Step::consumed;
          }
          if (!std::strchr("\"\\/bfnrt", b) || b == 0) return Step::rejected;
          f.phase = str_body;
          if (counting) ++f.count;
          return Step::consumed;
        case str_hex: {
          // \uXXXX outside the surrogate range only: a lone surrogate is invalid JSON text.
          const uint8_t position = f.sub & 0x0F;
          if (!is_hex(b)) return Step::rejected;
          if (position == 0 && (b == 'd' || b == 'D')) f.sub |= 0x10;
          if (position == 1 && (f.sub & 0x10) && !(b >= '0' && b <= '7')) return Step::rejected;
          f.sub = static_cast<uint8_t>((f.sub & 0xF0) | (position + 1));
          if (position + 1 == 4) {
            f.sub = 0;
            f.phase = str_body;
            if (counting) ++f.count;
          }
          return Step::consumed;
        }
      }
      return Step::rejected;
    }

    case NodeKind::array: {
      const bool counting = counts_length(n);
      switch (f.phase) {
        case arr_open:
          if (b != '[') return Step::rejected;
          f.phase = arr_first;
          return Step::consumed;
        case arr_first:
        case arr_next:
          if (is_ws(b)) return whitespace();
          if (b == ']' && f.phase == arr_first) {
            if (n.min > 0) return Step::rejected;
            return Step::done;
          }
          if (counting) {
            if (f.count >= n.max) return Step::rejected;
            ++f.count;
          }
          f.phase = arr_after_item;
          return push(n.children[0]);
        case arr_after_item:
          if (is_ws(b)) return whitespace();
          f.ws = 0;
          if (b == ',') {
            if (counting && f.count >= n.max) return Step::rejected;
            f.phase = arr_next;
            return Step::consumed;
          }
          if (b == ']') {
            if (counting && f.count < n.min) return Step::rejected;
            return Step::done;
          }
          return Step::rejected;
      }
      return Step::rejected;
    }

    case NodeKind::object: {
      const uint64_t all = n.n_properties >= 64 ? ~uint64_t{0} : (uint64_t{1} << n.n_properties) - 1;
      const bool more_keys = n.additional || (all & ~f.seen) != 0;
      switch (f.phase) {
        case obj_open:
          if (b != '{') return Step::rejected;
          f.phase = obj_first_key;
          return Step::consumed;
        case obj_first_key:
        case obj_next_key:
          if (is_ws(b)) return whitespace();
          f.ws = 0;
          if (b == '}' && f.phase == obj_first_key) {
            if ((n.required & ~f.seen) != 0) return Step::rejected;
            return Step::done;
          }
          if (b != '"' || !more_keys) return Step::rejected;
          f.phase = obj_key;
          f.pos = 0;
          f.sub = 0;
          f.utf8 = 0;
          return Step::consumed;
        case obj_key: {
          // pos: node of the key trie, or UINT32_MAX once the key left it (an additional key).
          // sub: bytes of a known key's escape sequence still to come.
          constexpr uint32_t off_trie = UINT32_MAX;
          if (f.pos != off_trie) {
            const int64_t next = n.keys.child(f.pos, b);
            const bool useful = next >= 0 && (n.additional || (n.keys.nodes[next].subtree & ~f.seen) != 0);
            if (useful) {
              if (f.sub > 0) {
                f.sub = (f.sub == 1 && b == 'u') ? 4 : f.sub - 1;
              } else if (b == '\\') {
                f.sub = 1;
              } else if (utf8_feed(f.utf8, b) < 0) {
                return Step::rejected;
              }
              f.pos = static_cast<uint32_t>(next);
              return Step::consumed;
            }
            if (f.sub > 0) return Step::rejected;
            if (b == '"' && f.utf8 == 0) {
              const int32_t property = n.keys.nodes[f.pos].terminal;
              if (property >= 0) {
                if ((f.seen >> property) & 1) return Step::rejected;  // a duplicate key
                f.count = static_cast<uint32_t>(property);
              } else if (n.additional) {
                f.count = static_cast<uint32_t>(n.n_properties);
              } else {
                return Step::rejected;
              }
              f.phase = obj_after_key;
              f.pos = 0;
              return Step::consumed;
            }
            if (!n.additional) return Step::rejected;
            f.pos = off_trie;
          }
          // Additional keys are written without escapes, so one can never spell a known key.
          if (f.utf8 != 0) return utf8_feed(f.utf8, b) < 0 ? Step::rejected : Step::consumed;
          if (b == '"') {
            f.count = static_cast<uint32_t>(n.n_properties);
            f.phase = obj_after_key;
            f.pos = 0;
            return Step::consumed;
          }
          if (b < 0x20 || b == '\\') return Step::rejected;
          return utf8_feed(f.utf8, b) < 0 ? Step::rejected : Step::consumed;
        }
        case obj_after_key:
          if (is_ws(b)) return whitespace();
          if (b != ':') return Step::rejected;
          f.ws = 0;
          f.phase = obj_before_value;
          return Step::consumed;
        case obj_before_value:
          if (is_ws(b)) return whitespace();
          if (f.count < n.n_properties) f.seen |= uint64_t{1} << f.count;
          f.phase = obj_after_value;
          {
            const uint32_t value = n.children[f.count < n.n_properties ? f.count : n.children.size() - 1];
            f.count = 0;
            return push(value);
          }
        case obj_after_value:
          if (is_ws(b)) return whitespace();
          f.ws = 0;
          if (b == ',') {
            if (!more_keys) return Step::rejected;
            f.phase = obj_next_key;
            return Step::consumed;
          }
          if (b == '}') {
            if ((n.required & ~f.seen) != 0) return Step::rejected;
            return Step::done;
          }
          return Step::rejected;
      }
      return Step::rejected;
    }

    case NodeKind::any_of:
      break;  // expanded by push_value, never on a stack
  }
  return Step::rejected;
}

}  // namespace tandem::engine
