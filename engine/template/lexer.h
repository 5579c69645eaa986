// Tokenizer for the template language. Applies the whitespace rules of Hugging Face's Jinja2
// set-up while tokenizing: `{%-`/`-%}` stripping, trim_blocks (drop the newline after a block
// tag or comment), lstrip_blocks (drop indentation before a block tag or comment), and drops one
// trailing newline of the source (keep_trailing_newline=False). Comments vanish; raw blocks
// become text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::engine::jinja {

enum class TokenKind {
  Text,        // literal template text
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,
  String,      // text holds the decoded value
  Integer,
  Float,
  Operator,    // text holds the operator: "+", "//", "==", "(", ...
  End,         // end of the template
};

struct Token {
  TokenKind kind = TokenKind::End;
  std::string text;
  int64_t integer = 0;
  double real = 0.0;
  int line = 1;
  int column = 1;
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Throws TemplateError naming line and column for unterminated tags, comments and strings.
std::vector<Token> tokenize(std::string_view source, const LexerOptions& options = {});

// "line L, column C: message" wrapped in TemplateError.
[[noreturn]] void syntax_error(int line, int column, const std::string& message);

}  // namespace tandem::engine::jinja
