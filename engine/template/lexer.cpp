#include "engine/template/lexer.h"

#include "engine/chat_template.h"
#include "engine/template/value.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>

namespace tandem::engine::jinja {

void syntax_error(int line, int column, const std::string& message) {
  throw TemplateError("chat template syntax error at line " + std::to_string(line) + ", column " +
                      std::to_string(column) + ": " + message);
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(std::string source, const LexerOptions& options)
      : src_(std::move(source)), options_(options) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  std::vector<Token> run() {
    bool line_starting = true;
    size_t pos = 0;
    while (pos < src_.size()) {
      size_t tag = find_tag_start(pos);
      std::string text = src_.substr(pos, tag - pos);
      if (tag == src_.size()) {
        emit_text(std::move(text), pos);
        break;
      }
      char kind = src_[tag + 1];
      char sign = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')
                      ? src_[tag + 2] : '\0';
      strip_before_tag(text, sign, kind != '{', line_starting);
      emit_text(std::move(text), pos);
      size_t inner = tag + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        pos = lex_comment(tag, inner);
      } else if (kind == '%' && raw_begin_end(inner)) {
        pos = lex_raw(tag, *raw_begin_end(inner));
      } else {
        pos = lex_tag(tag, inner, kind == '%');
      }
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    Token end;
    end.kind = TokenKind::End;
    locate(src_.size(), end);
    tokens_.push_back(end);
    return std::move(tokens_);
  }

 private:
  size_t find_tag_start(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return src_.size();
  }

  void locate(size_t offset, Token& token) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    size_t line = static_cast<size_t>(it - line_starts_.begin());
    token.line = static_cast<int>(line);
    token.column = static_cast<int>(offset - line_starts_[line - 1] + 1);
  }

  [[noreturn]] void fail(size_t offset, const std::string& message) const {
    Token where;
    locate(offset, where);
    syntax_error(where.line, where.column, message);
  }

  void emit_text(std::string text, size_t offset) {
    if (text.empty()) return;
    Token token;
    token.kind = TokenKind::Text;
    token.text = std::move(text);
    locate(offset, token);
    tokens_.push_back(std::move(token));
  }

  // `{%-` strips all whitespace before the tag; lstrip_blocks strips the indentation of a block
  // tag or comment that starts its line (as Jinja2 decides it: after a newline in the text, or
  // at the start of a line the previous tag left us on).
  void strip_before_tag(std::string& text, char sign, bool block_or_comment, bool line_starting) {
    if (sign == '-') {
      size_t end = text.size();
      while (end > 0 && is_space(text[end - 1])) --end;
      text.resize(end);
      return;
    }
    if (sign == '+' || !block_or_comment || !options_.lstrip_blocks) return;
    size_t line_pos = text.rfind('\n');
    line_pos = line_pos == std::string::npos ? 0 : line_pos + 1;
    if (line_pos == 0 && !line_starting) return;
    if (line_pos == text.size()) return;
    for (size_t i = line_pos; i < text.size(); ++i) {
      if (!is_space(text[i])) return;
    }
    text.resize(line_pos);
  }

  // After a tag's closing delimiter: `-` strips all following whitespace; trim_blocks drops one
  // newline after block tags and comments; `+` keeps everything.
  size_t after_tag(size_t pos, char sign, bool block_or_comment) const {
    if (sign == '-') {
      while (pos < src_.size() && is_space(src_[pos])) ++pos;
    } else if (sign != '+' && block_or_comment && options_.trim_blocks && pos < src_.size() &&
               src_[pos] == '\n') {
      ++pos;
    }
    return pos;
  }

  size_t lex_comment(size_t tag, size_t inner) {
    size_t close = src_.find("#}", inner);
    if (close == std::string::npos) fail(tag, "unterminated comment");
    char sign = close > inner && (src_[close - 1] == '-' || src_[close - 1] == '+') ? src_[close - 1] : '\0';
    return after_tag(close + 2, sign, true);
  }

  // If `{% raw %}` starts at inner, the offset after its `%}` and its closing sign.
  struct RawBegin { size_t content; char sign; };
  std::optional<RawBegin> raw_begin_end(size_t pos) const {
    while (pos < src_.size() && is_space(src_[pos])) ++pos;
    if (src_.compare(pos, 3, "raw") != 0) return std::nullopt;
    pos += 3;
    if (pos < src_.size() && is_name_char(src_[pos])) return std::nullopt;
    while (pos < src_.size() && is_space(src_[pos])) ++pos;
    char sign = '\0';
    if (pos < src_.size() && (src_[pos] == '-' || src_[pos] == '+')) sign = src_[pos++];
    if (src_.compare(pos, 2, "%}") != 0) return std::nullopt;
    return RawBegin{pos + 2, sign};
  }

  size_t lex_raw(size_t tag, RawBegin begin) {
    // Jinja2 applies no trim_blocks after `{% raw %}`, only an explicit `-%}`.
    size_t content = begin.sign == '-' ? after_tag(begin.content, '-', true) : begin.content;
    for (size_t search = content;;) {
      size_t open = src_.find("{%", search);
      if (open == std::string::npos) fail(tag, "unterminated raw block (missing {% endraw %})");
      size_t p = open + 2;
      char open_sign = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p++] : '\0';
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (src_.compare(p, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      p += 6;
      while (p < src_.size() && is_space(src_[p])) ++p;
      char close_sign = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p++] : '\0';
      if (src_.compare(p, 2, "%}") != 0) fail(open, "expected '%}' after endraw");
      std::string text = src_.substr(content, open - content);
      strip_before_tag(text, open_sign, true, false);
      emit_text(std::move(text), content);
      return after_tag(p + 2, close_sign, true);
    }
  }

  size_t lex_tag(size_t tag, size_t pos, bool block) {
    Token begin;
    begin.kind = block ? TokenKind::BlockBegin : TokenKind::VarBegin;
    locate(tag, begin);
    tokens_.push_back(begin);
    std::vector<char> brackets;
    for (;;) {
      while (pos < src_.size() && is_space(src_[pos])) ++pos;
      if (pos >= src_.size()) {
        fail(tag, std::string("unexpected end of template: tag opened here is not closed with ") +
                      (block ? "'%}'" : "'}}'"));
      }
      if (brackets.empty()) {
        const char* close = block ? "%}" : "}}";
        char sign = (src_[pos] == '-' || (block && src_[pos] == '+')) ? src_[pos] : '\0';
        if (src_.compare(pos + (sign ? 1 : 0), 2, close) == 0) {
          Token end;
          end.kind = block ? TokenKind::BlockEnd : TokenKind::VarEnd;
          locate(pos, end);
          tokens_.push_back(end);
          return after_tag(pos + (sign ? 3 : 2), sign, block);
        }
      }
      pos = lex_expression_token(pos, brackets);
    }
  }

  size_t lex_expression_token(size_t pos, std::vector<char>& brackets) {
    Token token;
    locate(pos, token);
    char c = src_[pos];
    if (is_name_start(c)) {
      size_t end = pos;
      while (end < src_.size() && is_name_char(src_[end])) ++end;
      token.kind = TokenKind::Name;
      token.text = src_.substr(pos, end - pos);
      tokens_.push_back(std::move(token));
      return end;
    }
    if (is_digit(c)) return lex_number(pos, std::move(token));
    if (c == '\'' || c == '"') return lex_string(pos, std::move(token));
    static const char* two_char[] = {"//", "**", "==", "!=", "<=", ">="};
    token.kind = TokenKind::Operator;
    for (const char* op : two_char) {
      if (src_.compare(pos, 2, op) == 0) {
        token.text = op;
        tokens_.push_back(std::move(token));
        return pos + 2;
      }
    }
    if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) == std::string_view::npos) {
      fail(pos, std::string("unexpected character '") + c + "'");
    }
    if (c == '(' || c == '[' || c == '{') brackets.push_back(c);
    if (c == ')' || c == ']' || c == '}') {
      char expected = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (brackets.empty() || brackets.back() != expected) fail(pos, std::string("unexpected '") + c + "'");
      brackets.pop_back();
    }
    token.text = std::string(1, c);
    tokens_.push_back(std::move(token));
    return pos + 1;
  }

  size_t lex_number(size_t pos, Token token) {
    auto digits = [&](size_t p) {
      while (p < src_.size() && (is_digit(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1])))) ++p;
      return p;
    };
    size_t end = digits(pos);
    bool is_float = false;
    // `x.0.1` is attribute access, never a float (Jinja2's (?<!\.) rule).
    bool after_dot = pos > 0 && src_[pos - 1] == '.';
    if (!after_dot && end + 1 < src_.size() && src_[end] == '.' && is_digit(src_[end + 1])) {
      end = digits(end + 1);
      is_float = true;
    }
    if (!after_dot && end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
      size_t p = end + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && is_digit(src_[p])) {
        end = digits(p);
        is_float = true;
      }
    }
    std::string text = src_.substr(pos, end - pos);
    text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    token.text = text;
    if (is_float) {
      token.kind = TokenKind::Float;
      // strtod, not stod: Python reads 1e999 as inf (stod throws out_of_range).
      token.real = std::strtod(text.c_str(), nullptr);
    } else {
      token.kind = TokenKind::Integer;
      try {
        token.integer = std::stoll(text);
      } catch (const std::out_of_range&) {
        fail(pos, "integer literal too large: " + text);
      }
    }
    tokens_.push_back(std::move(token));
    return end;
  }

  // Python string literal escapes (Jinja2 decodes literals with unicode-escape).
  size_t lex_string(size_t pos, Token token) {
    char quote = src_[pos];
    std::string value;
    size_t p = pos + 1;
    auto hex_value = [&](size_t start, size_t count) -> std::optional<char32_t> {
      if (start + count > src_.size()) return std::nullopt;
      char32_t v = 0;
      for (size_t k = 0; k < count; ++k) {
        char h = src_[start + k];
        int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
        if (d < 0) return std::nullopt;
        v = v * 16 + static_cast<char32_t>(d);
      }
      return v;
    };
    for (;;) {
      if (p >= src_.size()) fail(pos, "unterminated string literal");
      char c = src_[p];
      if (c == quote) break;
      if (c != '\\' || p + 1 >= src_.size()) {
        value += c;
        ++p;
        continue;
      }
      char e = src_[p + 1];
      p += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case '\n': break;  // line continuation
        case 'x': case 'u': case 'U': {
          size_t count = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          auto cp = hex_value(p, count);
          if (!cp || *cp > 0x10FFFF) fail(p - 2, std::string("invalid \\") + e + " escape in string literal");
          utf8_append(value, *cp);
          p += count;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++k) {
              v = v * 8 + static_cast<char32_t>(src_[p++] - '0');
            }
            utf8_append(value, v);
          } else {
            value += '\\';  // unknown escapes stay as written, as in Python
            value += e;
          }
      }
    }
    token.kind = TokenKind::String;
    token.text = std::move(value);
    tokens_.push_back(std::move(token));
    return p + 1;
  }

  std::string src_;
  LexerOptions options_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexerOptions& options) {
  std::string normalized;
  normalized.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      normalized += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      normalized += source[i];
    }
  }
  if (!options.keep_trailing_newline && !normalized.empty() && normalized.back() == '\n') {
    normalized.pop_back();
  }
  return Lexer(std::move(normalized), options).run();
}

}  // namespace tandem::engine::jinja
