#include "engine/template/parser.h"

#include "engine/template/builtins.h"

#include <algorithm>
#include <initializer_list>
#include <unordered_map>

namespace tandem::engine::jinja {
namespace {

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::Text: return "template text";
    case TokenKind::VarBegin: return "'{{'";
    case TokenKind::VarEnd: return "'}}'";
    case TokenKind::BlockBegin: return "'{%'";
    case TokenKind::BlockEnd: return "'%}'";
    case TokenKind::Name: return "'" + token.text + "'";
    case TokenKind::String: return "string literal";
    case TokenKind::Integer: case TokenKind::Float: return "number " + token.text;
    case TokenKind::Operator: return "'" + token.text + "'";
    case TokenKind::End: return "end of template";
  }
  return "token";
}

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

  // ---- statements ----

  // Parses statements until a block tag whose name is one of `terminators`; consumes `{% name`
  // and stores the name in `found`. At the top level (no terminators) stops at the end.
  Body parse_body(std::initializer_list<const char*> terminators, std::string& found,
                  const char* opener, Position opened_at) {
    Body body;
    for (;;) {
      const Token& token = peek();
      switch (token.kind) {
        case TokenKind::End:
          if (terminators.size() == 0) return body;
          syntax_error(opened_at.line, opened_at.column,
                       std::string("unexpected end of template: '") + opener +
                           "' opened here was never closed (expected '" + *(terminators.end() - 1) + "')");
        case TokenKind::Text: {
          auto stmt = std::make_unique<Stmt>(StmtKind::Text, where(token));
          stmt->text = next().text;
          body.push_back(std::move(stmt));
          break;
        }
        case TokenKind::VarBegin: {
          auto stmt = std::make_unique<Stmt>(StmtKind::Print, where(next()));
          stmt->expr = parse_tuple(true);
          if (peek().kind != TokenKind::VarEnd) fail(peek(), "expected '}}', got " + describe(peek()));
          next();
          body.push_back(std::move(stmt));
          break;
        }
        case TokenKind::BlockBegin: {
          const Token& name = peek(1);
          if (name.kind == TokenKind::Name) {
            for (const char* terminator : terminators) {
              if (name.text == terminator) {
                next();
                found = next().text;
                return body;
              }
            }
          }
          body.push_back(parse_statement());
          break;
        }
        default:
          fail(token, "unexpected " + describe(token));
      }
    }
  }

  StmtPtr parse_statement() {
    next();  // {%
    const Token& tag = peek();
    if (tag.kind != TokenKind::Name) fail(tag, "expected a statement name, got " + describe(tag));
    std::string name = next().text;
    Position at = where(tag);
    if (name == "if") return parse_if(at);
    if (name == "for") return parse_for(at);
    if (name == "set") return parse_set(at);
    if (name == "macro") return parse_macro(at);
    if (name == "call") return parse_call_block(at);
    if (name == "filter") return parse_filter_block(at);
    if (name == "with") return parse_with(at);
    if (name == "generation") {  // transformers' assistant-mask extension: renders its body
      auto stmt = std::make_unique<Stmt>(StmtKind::With, at);
      expect_block_end("generation");
      std::string end;
      stmt->body = parse_body({"endgeneration"}, end, "generation", at);
      expect_block_end("endgeneration");
      return stmt;
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail(tag, "'" + name + "' outside of a for loop");
      auto stmt = std::make_unique<Stmt>(name == "break" ? StmtKind::Break : StmtKind::Continue, at);
      expect_block_end(name.c_str());
      return stmt;
    }
    if (name.rfind("end", 0) == 0 || name == "elif" || name == "else") {
      fail(tag, "unexpected '" + name + "' (no open block it could close)");
    }
    fail(tag, "unknown statement '" + name + "'");
  }

  StmtPtr parse_if(Position at) {
    auto stmt = std::make_unique<Stmt>(StmtKind::If, at);
    stmt->conditions.push_back(parse_tuple(true));
    expect_block_end("if");
    for (;;) {
      std::string found;
      stmt->bodies.push_back(parse_body({"elif", "else", "endif"}, found, "if", at));
      if (found == "elif") {
        stmt->conditions.push_back(parse_tuple(true));
        expect_block_end("elif");
      } else if (found == "else") {
        expect_block_end("else");
        stmt->else_body = parse_body({"endif"}, found, "if", at);
        expect_block_end("endif");
        return stmt;
      } else {
        expect_block_end("endif");
        return stmt;
      }
    }
  }

  // Targets of for/set: `a`, `a, b` or `(a, b)`.
  void parse_targets(Stmt& stmt) {
    bool parens = accept_op("(");
    stmt.targets.push_back(expect_name("a variable name"));
    while (accept_op(",")) {
      stmt.unpack = true;
      if (peek().kind != TokenKind::Name) break;
      stmt.targets.push_back(expect_name("a variable name"));
    }
    if (parens) {
      stmt.unpack = true;
      expect_op(")");
    }
  }

  StmtPtr parse_for(Position at) {
    auto stmt = std::make_unique<Stmt>(StmtKind::For, at);
    parse_targets(*stmt);
    if (!accept_name("in")) fail(peek(), "expected 'in' in for loop, got " + describe(peek()));
    stmt->expr = parse_tuple(false);
    if (accept_name("if")) stmt->filter = parse_expression(true);
    if (is_name("recursive")) fail(peek(), "recursive for loops are not supported");
    expect_block_end("for");
    ++loop_depth_;
    std::string found;
    stmt->body = parse_body({"else", "endfor"}, found, "for", at);
    --loop_depth_;
    if (found == "else") {
      expect_block_end("else");
      stmt->else_body = parse_body({"endfor"}, found, "for", at);
    }
    expect_block_end("endfor");
    return stmt;
  }

  StmtPtr parse_set(Position at) {
    auto stmt = std::make_unique<Stmt>(StmtKind::Set, at);
    if (peek().kind == TokenKind::Name && is_op(".", 1)) {
      stmt->targets.push_back(next().text);
      next();
      stmt->text = expect_name("an attribute name");
    } else {
      parse_targets(*stmt);
    }
    if (accept_op("=")) {
      stmt->expr = parse_tuple(true);
      expect_block_end("set");
      return stmt;
    }
    if (stmt->unpack || !stmt->text.empty()) fail(peek(), "expected '=' after set target");
    expect_block_end("set");
    std::string found;
    stmt->body = parse_body({"endset"}, found, "set", at);
    expect_block_end("endset");
    return stmt;
  }

  // `(a, b=default, ...)` for macros and call blocks.
  void parse_parameters(Stmt& stmt) {
    expect_op("(");
    while (!accept_op(")")) {
      if (!stmt.targets.empty()) expect_op(",");
      if (accept_op(")")) break;
      stmt.targets.push_back(expect_name("a parameter name"));
      stmt.values.push_back(accept_op("=") ? parse_expression(true) : nullptr);
    }
  }

  StmtPtr parse_macro(Position at) {
    auto stmt = std::make_unique<Stmt>(StmtKind::Macro, at);
    stmt->text = expect_name("a macro name");
    parse_parameters(*stmt);
    expect_block_end("macro");
    int saved_depth = loop_depth_;
    loop_depth_ = 0;
    std::string found;
    stmt->body = parse_body({"endmacro"}, found, "macro", at);
    loop_depth_ = saved_depth;
    if (peek().kind == TokenKind::Name) next();  // {% endmacro name %}
    expect_block_end("endmacro");
    return stmt;
  }

  StmtPtr parse_call_block(Position at) {
    auto stmt = std::make_unique<Stmt>(StmtKind::CallBlock, at);
    if (is_op("(")) parse_parameters(*stmt);
    stmt->expr = parse_expression(true);
    if (stmt->expr->kind != ExprKind::Call) fail(peek(), "expected a macro call in call block");
    expect_block_end("call");
    std::string found;
    stmt->body = parse_body({"endcall"}, found, "call", at);
    expect_block_end("endcall");
    return stmt;
  }

  StmtPtr parse_filter_block(Position at) {
    auto stmt = std::make_unique<Stmt>(StmtKind::FilterBlock, at);
    ExprPtr chain;
    do {
      chain = parse_filter(std::move(chain));
    } while (accept_op("|"));
    stmt->expr = std::move(chain);
    expect_block_end("filter");
    std::string found;
    stmt->body = parse_body({"endfilter"}, found, "filter", at);
    expect_block_end("endfilter");
    return stmt;
  }

  StmtPtr parse_with(Position at) {
    auto stmt = std::make_unique<Stmt>(StmtKind::With, at);
    while (peek().kind != TokenKind::BlockEnd) {
      if (!stmt->targets.empty()) expect_op(",");
      stmt->targets.push_back(expect_name("a variable name"));
      expect_op("=");
      stmt->values.push_back(parse_expression(true));
    }
    expect_block_end("with");
    std::string found;
    stmt->body = parse_body({"endwith"}, found, "with", at);
    expect_block_end("endwith");
    return stmt;
  }

  // ---- expressions (precedence as in Jinja2's parser) ----

  ExprPtr make(ExprKind kind, const Token& at) { return std::make_unique<Expr>(kind, where(at)); }

  ExprPtr binary(std::string op, ExprPtr lhs, ExprPtr rhs, const Token& at) {
    auto e = make(ExprKind::Binary, at);
    e->name = std::move(op);
    e->object = std::move(lhs);
    e->index = std::move(rhs);
    return e;
  }

  // `a, b` builds a tuple where Jinja2 allows one (print, set value, for iterable, if condition).
  ExprPtr parse_tuple(bool with_condition) {
    const Token& start = peek();
    ExprPtr first = parse_expression(with_condition);
    if (!is_op(",")) return first;
    auto tuple = make(ExprKind::TupleLit, start);
    tuple->items.push_back(std::move(first));
    while (accept_op(",")) {
      if (peek().kind == TokenKind::BlockEnd || peek().kind == TokenKind::VarEnd) break;
      tuple->items.push_back(parse_expression(with_condition));
    }
    return tuple;
  }

  ExprPtr parse_expression(bool with_condition) {
    const Token& start = peek();
    ExprPtr expr = parse_or();
    if (!with_condition) return expr;
    while (is_name("if")) {
      next();
      auto cond = make(ExprKind::Conditional, start);
      cond->then_expr = std::move(expr);
      cond->condition = parse_or();
      if (accept_name("else")) cond->else_expr = parse_expression(true);
      expr = std::move(cond);
    }
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr lhs = parse_and();
    while (is_name("or")) {
      const Token& op = next();
      lhs = binary("or", std::move(lhs), parse_and(), op);
    }
    return lhs;
  }

  ExprPtr parse_and() {
    ExprPtr lhs = parse_not();
    while (is_name("and")) {
      const Token& op = next();
      lhs = binary("and", std::move(lhs), parse_not(), op);
    }
    return lhs;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      const Token& op = next();
      auto e = make(ExprKind::Unary, op);
      e->name = "not";
      e->object = parse_not();
      return e;
    }
    return parse_compare();
  }

  // Python-style chains (a < b < c) become (a < b) and (b < c).
  ExprPtr parse_compare() {
    ExprPtr lhs = parse_math1();
    ExprPtr result;
    const Expr* previous = nullptr;
    for (;;) {
      const Token& op = peek();
      std::string name;
      if (op.kind == TokenKind::Operator &&
          (op.text == "==" || op.text == "!=" || op.text == "<" || op.text == "<=" ||
           op.text == ">" || op.text == ">=")) {
        name = op.text;
        next();
      } else if (is_name("in")) {
        name = "in";
        next();
      } else if (is_name("not") && is_name("in", 1)) {
        name = "notin";
        next();
        next();
      } else {
        break;
      }
      ExprPtr rhs = parse_math1();
      const Expr* rhs_raw = rhs.get();
      ExprPtr left = previous ? clone_operand(*previous) : std::move(lhs);
      ExprPtr comparison = binary(name, std::move(left), std::move(rhs), op);
      result = result ? binary("and", std::move(result), std::move(comparison), op) : std::move(comparison);
      previous = rhs_raw;
    }
    return result ? std::move(result) : std::move(lhs);
  }

  // Chained comparisons reuse the middle operand; re-parse it from its tokens.
  ExprPtr clone_operand(const Expr& operand) {
    size_t saved = pos_;
    size_t begin = operand_starts_.count(&operand) ? operand_starts_[&operand] : pos_;
    pos_ = begin;
    ExprPtr copy = parse_math1();
    pos_ = saved;
    return copy;
  }

  ExprPtr parse_math1() {
    size_t start = pos_;
    ExprPtr lhs = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& op = next();
      lhs = binary(op.text, std::move(lhs), parse_concat(), op);
    }
    operand_starts_[lhs.get()] = start;
    return lhs;
  }

  ExprPtr parse_concat() {
    ExprPtr lhs = parse_math2();
    while (is_op("~")) {
      const Token& op = next();
      lhs = binary("~", std::move(lhs), parse_math2(), op);
    }
    return lhs;
  }

  ExprPtr parse_math2() {
    ExprPtr lhs = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& op = next();
      lhs = binary(op.text, std::move(lhs), parse_pow(), op);
    }
    return lhs;
  }

  ExprPtr parse_pow() {
    ExprPtr lhs = parse_unary(true);
    while (is_op("**")) {
      const Token& op = next();
      lhs = binary("**", std::move(lhs), parse_unary(true), op);
    }
    return lhs;
  }

  ExprPtr parse_unary(bool with_filters) {
    ExprPtr expr;
    if (is_op("-") || is_op("+")) {
      const Token& op = next();
      expr = make(ExprKind::Unary, op);
      expr->name = op.text;
      expr->object = parse_unary(false);
    } else {
      expr = parse_primary();
    }
    expr = parse_postfix(std::move(expr));
    if (with_filters) expr = parse_filters_and_tests(std::move(expr));
    return expr;
  }

  ExprPtr parse_primary() {
    const Token& token = peek();
    switch (token.kind) {
      case TokenKind::Name: {
        next();
        const std::string& n = token.text;
        auto literal = [&](Value v) {
          auto e = make(ExprKind::Literal, token);
          e->value = std::move(v);
          return e;
        };
        if (n == "true" || n == "True") return literal(Value(true));
        if (n == "false" || n == "False") return literal(Value(false));
        if (n == "none" || n == "None") return literal(Value(None{}));
        auto e = make(ExprKind::Name, token);
        e->name = n;
        return e;
      }
      case TokenKind::String: {
        std::string text = next().text;
        while (peek().kind == TokenKind::String) text += next().text;  // 'a' 'b' == 'ab'
        auto e = make(ExprKind::Literal, token);
        e->value = Value(std::move(text));
        return e;
      }
      case TokenKind::Integer: {
        auto e = make(ExprKind::Literal, next());
        e->value = Value(token.integer);
        return e;
      }
      case TokenKind::Float: {
        auto e = make(ExprKind::Literal, next());
        e->value = Value(token.real);
        return e;
      }
      case TokenKind::Operator:
        if (token.text == "(") {
          next();
          if (accept_op(")")) return make(ExprKind::TupleLit, token);
          ExprPtr inner = parse_expression(true);
          if (!is_op(",")) {
            expect_op(")");
            return inner;
          }
          auto tuple = make(ExprKind::TupleLit, token);
          tuple->items.push_back(std::move(inner));
          while (accept_op(",")) {
            if (is_op(")")) break;
            tuple->items.push_back(parse_expression(true));
          }
          expect_op(")");
          return tuple;
        }
        if (token.text == "[") {
          next();
          auto list = make(ExprKind::ListLit, token);
          while (!accept_op("]")) {
            if (!list->items.empty()) {
              expect_op(",");
              if (accept_op("]")) break;
            }
            list->items.push_back(parse_expression(true));
          }
          return list;
        }
        if (token.text == "{") {
          next();
          auto dict = make(ExprKind::DictLit, token);
          while (!accept_op("}")) {
            if (!dict->keys.empty()) {
              expect_op(",");
              if (accept_op("}")) break;
            }
            dict->keys.push_back(parse_expression(true));
            expect_op(":");
            dict->items.push_back(parse_expression(true));
          }
          return dict;
        }
        break;
      default:
        break;
    }
    fail(token, "unexpected " + describe(token) + " in expression");
  }

  ExprPtr parse_postfix(ExprPtr expr) {
    for (;;) {
      const Token& token = peek();
      if (is_op(".")) {
        next();
        const Token& attr = peek();
        if (attr.kind == TokenKind::Name) {
          auto e = make(ExprKind::GetAttr, token);
          e->name = next().text;
          e->object = std::move(expr);
          expr = std::move(e);
        } else if (attr.kind == TokenKind::Integer) {
          auto e = make(ExprKind::GetItem, token);
          e->object = std::move(expr);
          e->index = make(ExprKind::Literal, attr);
          e->index->value = Value(next().integer);
          expr = std::move(e);
        } else {
          fail(attr, "expected an attribute name after '.', got " + describe(attr));
        }
      } else if (is_op("[")) {
        next();
        expr = parse_subscript(std::move(expr), token);
      } else if (is_op("(")) {
        expr = parse_call(std::move(expr), token);
      } else {
        return expr;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object, const Token& at) {
    ExprPtr start, stop, step;
    bool slice = false;
    if (!is_op(":")) start = parse_expression(true);
    if (accept_op(":")) {
      slice = true;
      if (!is_op("]") && !is_op(":")) stop = parse_expression(true);
      if (accept_op(":") && !is_op("]")) step = parse_expression(true);
    }
    expect_op("]");
    auto e = make(slice ? ExprKind::Slice : ExprKind::GetItem, at);
    e->object = std::move(object);
    e->index = std::move(start);
    e->stop = std::move(stop);
    e->step = std::move(step);
    return e;
  }

  void parse_arguments(Expr& call) {
    expect_op("(");
    bool first = true;
    while (!accept_op(")")) {
      if (!first) {
        expect_op(",");
        if (accept_op(")")) break;
      }
      first = false;
      if (peek().kind == TokenKind::Name && is_op("=", 1)) {
        std::string key = next().text;
        next();
        call.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!call.kwargs.empty()) fail(peek(), "positional argument follows keyword argument");
        call.items.push_back(parse_expression(true));
      }
    }
  }

  ExprPtr parse_call(ExprPtr callee, const Token& at) {
    auto e = make(ExprKind::Call, at);
    e->object = std::move(callee);
    parse_arguments(*e);
    return e;
  }

  ExprPtr parse_filter(ExprPtr input) {
    const Token& name = peek();
    auto e = make(ExprKind::Filter, name);
    e->name = expect_name("a filter name");
    if (!has_filter(e->name)) fail(name, "no filter named '" + e->name + "'");
    e->object = std::move(input);
    if (is_op("(")) parse_arguments(*e);
    return e;
  }

  ExprPtr parse_filters_and_tests(ExprPtr expr) {
    for (;;) {
      if (accept_op("|")) {
        expr = parse_filter(std::move(expr));
      } else if (is_name("is")) {
        next();
        auto e = make(ExprKind::Test, peek());
        e->negated = accept_name("not");
        const Token& name = peek();
        e->name = expect_name("a test name");
        if (!has_test(e->name)) fail(name, "no test named '" + e->name + "'");
        e->object = std::move(expr);
        const Token& arg = peek();
        bool starts_argument =
            arg.kind == TokenKind::String || arg.kind == TokenKind::Integer ||
            arg.kind == TokenKind::Float ||
            (arg.kind == TokenKind::Name && arg.text != "else" && arg.text != "or" &&
             arg.text != "and" && arg.text != "is" && arg.text != "if" && arg.text != "in") ||
            is_op("[") || is_op("{");
        if (is_op("(")) {
          parse_arguments(*e);
        } else if (starts_argument) {
          e->items.push_back(parse_postfix(parse_primary()));
        }
        expr = std::move(e);
      } else if (is_op("(")) {
        expr = parse_call(std::move(expr), peek());
      } else {
        return expr;
      }
    }
  }

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int loop_depth_ = 0;
  std::unordered_map<const Expr*, size_t> operand_starts_;
};

}  // namespace

Template parse(const std::vector<Token>& tokens) { return Parser(tokens).run(); }

}  // namespace tandem::engine::jinja
