// The recursive-descent parser's class, shared by parser.cpp (statements) and
// parse_expressions.cpp (expressions, with Jinja2's operator precedence).
#pragma once

#include "engine/template/ast.h"
#include "engine/template/lexer.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

namespace tandem::engine::jinja {

std::string describe(const Token& token);  // for messages: "'endfor'", "end of template", ...

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  Template run() {
    Template tmpl;
    std::string terminator;
    tmpl.body = parse_body({}, terminator, "", {});
    return tmpl;
  }

 private:
  // ---- token helpers ----
  const Token& peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& next() {
    const Token& token = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return token;
  }
  bool is_op(const char* op, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    return t.kind == TokenKind::Operator && t.text == op;
  }
  bool is_name(const char* name, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    return t.kind == TokenKind::Name && t.text == name;
  }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool accept_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    syntax_error(at.line, at.column, message);
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail(peek(), std::string("expected '") + op + "', got " + describe(peek()));
  }
  std::string expect_name(const char* what) {
    if (peek().kind != TokenKind::Name) fail(peek(), std::string("expected ") + what + ", got " + describe(peek()));
    return next().text;
  }
  void expect_block_end(const char* statement) {
    if (peek().kind != TokenKind::BlockEnd) {
      fail(peek(), std::string("expected end of '") + statement + "' tag ('%}'), got " + describe(peek()));
    }
    next();
  }
  static Position where(const Token& token) { return {token.line, token.column}; }

  // statements (parser.cpp)
  // Parses statements until a block tag whose name is one of `terminators`; consumes `{% name`
  // and stores the name in `found`. At the top level (no terminators) stops at the end.
  Body parse_body(std::initializer_list<const char*> terminators, std::string& found,
                  const char* opener, Position opened_at);
  StmtPtr parse_statement();
  StmtPtr parse_if(Position at);
  void parse_targets(Stmt& stmt);
  StmtPtr parse_for(Position at);
  StmtPtr parse_set(Position at);
  void parse_parameters(Stmt& stmt);
  StmtPtr parse_macro(Position at);
  StmtPtr parse_call_block(Position at);
  StmtPtr parse_filter_block(Position at);
  StmtPtr parse_with(Position at);

  // expressions (parse_expressions.cpp)
  ExprPtr make(ExprKind kind, const Token& at);
  ExprPtr binary(std::string op, ExprPtr lhs, ExprPtr rhs, const Token& at);
  ExprPtr parse_tuple(bool with_condition);
  ExprPtr parse_expression(bool with_condition);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filters);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr expr);
  ExprPtr parse_subscript(ExprPtr object, const Token& at);
  void parse_arguments(Expr& call);
  ExprPtr parse_call(ExprPtr callee, const Token& at);
  ExprPtr parse_filter(ExprPtr input);
  ExprPtr parse_filters_and_tests(ExprPtr expr);

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int loop_depth_ = 0;
};

}  // namespace tandem::engine::jinja
