// Syntax tree of a parsed template: expressions and statements, each with its source position.
#pragma once

#include "engine/template/value.h"

#include <memory>
#include <string>
#include <vector>

namespace tandem::engine::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Position {
  int line = 0;
  int column = 0;
};

enum class ExprKind {
  Literal,      // value
  Name,         // name
  ListLit,      // items
  TupleLit,     // items
  DictLit,      // keys[i] -> items[i]
  GetAttr,      // object.name
  GetItem,      // object[index]
  Slice,        // object[start:stop:step] (absent parts are null)
  Call,         // object(args, kwargs)
  Filter,       // object | name(args, kwargs); object null inside a filter block
  Test,         // object is [not] name(args)
  Unary,        // op: "-", "+", "not"
  Binary,       // op: + - * / // % ** ~ and or
  Compare,      // object ops[0] items[0] ops[1] items[1] ...: Python chains (a < b < c)
  Conditional,  // then_expr if condition else else_expr (else may be null)
};

struct Expr {
  ExprKind kind;
  Position pos;
  Value value;                 // Literal
  std::string name;            // Name, GetAttr, Filter, Test; operator of Unary/Binary
  ExprPtr object;              // GetAttr/GetItem/Slice/Call/Filter/Test/Unary operand, Binary lhs
  ExprPtr index;               // GetItem index, Binary rhs, Slice start
  ExprPtr stop, step;          // Slice
  ExprPtr condition, then_expr, else_expr;  // Conditional
  std::vector<ExprPtr> items;  // list/tuple/dict values, call positional arguments
  std::vector<ExprPtr> keys;   // dict keys
  std::vector<std::pair<std::string, ExprPtr>> kwargs;  // call keyword arguments
  std::vector<std::string> ops;  // Compare: == != < <= > >= in notin
  bool negated = false;        // Test: `is not`

  Expr(ExprKind k, Position p) : kind(k), pos(p) {}
};

enum class StmtKind {
  Text,         // text
  Print,        // {{ expr }}
  If,           // branches: conditions[i] -> bodies[i]; else_body
  For,          // targets in iterable [if filter]: body [else else_body]
  Set,          // targets = expr, or `ns.attr = expr` (attribute), or block set (body)
  Macro,        // name(params = defaults): body
  CallBlock,    // {% call(params) expr %} body
  FilterBlock,  // {% filter f | g %} body
  With,         // {% with a = 1 %} body
  Break,
  Continue,
};

struct Stmt {
  StmtKind kind;
  Position pos;
  std::string text;                   // Text; Macro name; Set attribute (ns.attr)
  ExprPtr expr;                       // Print, For iterable, Set value, CallBlock call, FilterBlock chain
  ExprPtr filter;                     // For `if` filter
  std::vector<std::string> targets;   // For/Set names, With names; Macro/CallBlock parameter names
  std::vector<ExprPtr> values;        // Macro/CallBlock parameter defaults (null = required), With values
  std::vector<ExprPtr> conditions;    // If
  std::vector<Body> bodies;           // If
  Body body;
  Body else_body;
  bool unpack = false;                // For/Set: targets form a tuple

  Stmt(StmtKind k, Position p) : kind(k), pos(p) {}
};

struct Template {
  Body body;
};

}  // namespace tandem::engine::jinja
