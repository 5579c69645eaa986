// Expressions, with Jinja2's precedence (lowest first): conditional `a if c else b`, or, and,
// not, comparisons (chained), + -, ~, * / // %, **, unary - +, then postfix access and calls,
// and filters/tests binding tightest (`'a' + x | trim` filters only x).
#include "engine/template/builtins.h"
#include "engine/template/parser_impl.h"

namespace tandem::engine::jinja {

ExprPtr Parser::make(ExprKind kind, const Token& at) { return std::make_unique<Expr>(kind, where(at)); }

ExprPtr Parser::binary(std::string op, ExprPtr lhs, ExprPtr rhs, const Token& at) {
  auto e = make(ExprKind::Binary, at);
  e->name = std::move(op);
  e->object = std::move(lhs);
  e->index = std::move(rhs);
  return e;
}

// `a, b` builds a tuple where Jinja2 allows one (print, set value, for iterable, if condition).
ExprPtr Parser::parse_tuple(bool with_condition) {
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

ExprPtr Parser::parse_expression(bool with_condition) {
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

ExprPtr Parser::parse_or() {
  ExprPtr lhs = parse_and();
  while (is_name("or")) {
    const Token& op = next();
    lhs = binary("or", std::move(lhs), parse_and(), op);
  }
  return lhs;
}

ExprPtr Parser::parse_and() {
  ExprPtr lhs = parse_not();
  while (is_name("and")) {
    const Token& op = next();
    lhs = binary("and", std::move(lhs), parse_not(), op);
  }
  return lhs;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    const Token& op = next();
    auto e = make(ExprKind::Unary, op);
    e->name = "not";
    e->object = parse_not();
    return e;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const Token& start = peek();
  ExprPtr lhs = parse_math1();
  ExprPtr chain;
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
    if (!chain) {
      chain = make(ExprKind::Compare, start);
      chain->object = std::move(lhs);
    }
    chain->ops.push_back(std::move(name));
    chain->items.push_back(parse_math1());
  }
  return chain ? std::move(chain) : std::move(lhs);
}

ExprPtr Parser::parse_math1() {
  ExprPtr lhs = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token& op = next();
    lhs = binary(op.text, std::move(lhs), parse_concat(), op);
  }
  return lhs;
}

ExprPtr Parser::parse_concat() {
  ExprPtr lhs = parse_math2();
  while (is_op("~")) {
    const Token& op = next();
    lhs = binary("~", std::move(lhs), parse_math2(), op);
  }
  return lhs;
}

ExprPtr Parser::parse_math2() {
  ExprPtr lhs = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token& op = next();
    lhs = binary(op.text, std::move(lhs), parse_pow(), op);
  }
  return lhs;
}

ExprPtr Parser::parse_pow() {
  ExprPtr lhs = parse_unary(true);
  while (is_op("**")) {
    const Token& op = next();
    lhs = binary("**", std::move(lhs), parse_unary(true), op);
  }
  return lhs;
}

ExprPtr Parser::parse_unary(bool with_filters) {
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

ExprPtr Parser::parse_primary() {
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

ExprPtr Parser::parse_postfix(ExprPtr expr) {
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

ExprPtr Parser::parse_subscript(ExprPtr object, const Token& at) {
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

void Parser::parse_arguments(Expr& call) {
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

ExprPtr Parser::parse_call(ExprPtr callee, const Token& at) {
  auto e = make(ExprKind::Call, at);
  e->object = std::move(callee);
  parse_arguments(*e);
  return e;
}

ExprPtr Parser::parse_filter(ExprPtr input) {
  const Token& name = peek();
  auto e = make(ExprKind::Filter, name);
  e->name = expect_name("a filter name");
  if (!has_filter(e->name)) fail(name, "no filter named '" + e->name + "'");
  e->object = std::move(input);
  if (is_op("(")) parse_arguments(*e);
  return e;
}

ExprPtr Parser::parse_filters_and_tests(ExprPtr expr) {
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

}  // namespace tandem::engine::jinja
