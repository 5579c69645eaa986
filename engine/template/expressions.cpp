// Expression evaluation: names, literals, attribute/item access, slicing, calls, filters, tests
// and Python's operators.
#include "engine/template/builtins.h"
#include "engine/template/interpreter.h"

#include <cmath>
#include <cstdint>

namespace tandem::engine::jinja {
namespace {

constexpr size_t kMaxRepeatBytes = size_t{16} << 20;  // 'x' * n must not exhaust memory

std::string object_name(const Value& value) {
  if (value.is_none()) return "'None'";
  return "'" + type_name(value) + " object'";
}

Value missing_attribute(const Value& object, const std::string& name) {
  return Value(Undefined{object_name(object) + " has no attribute '" + name + "'"});
}

[[noreturn]] void unsupported(const std::string& op, const Value& lhs, const Value& rhs) {
  require_defined(lhs);
  require_defined(rhs);
  throw RenderError("unsupported operand type(s) for " + op + ": '" + type_name(lhs) + "' and '" +
                    type_name(rhs) + "'");
}

Value repeat(const Value& sequence, int64_t times) {
  if (times < 0) times = 0;
  if (sequence.is_string()) {
    if (sequence.str().size() * static_cast<size_t>(times) > kMaxRepeatBytes) throw RenderError("string repetition too large");
    check_string_size(sequence.str().size() * static_cast<size_t>(times));
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += sequence.str();
    return Value(std::move(out));
  }
  const auto& items = sequence.list()->items;
  if (items.size() * static_cast<size_t>(times) > kMaxRepeatBytes / 16) throw RenderError("list repetition too large");
  check_item_count(items.size() * static_cast<size_t>(times));
  std::vector<Value> out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::make_list(std::move(out));
}

// Python integers are unbounded; ours are 64-bit, and overflowing is an error rather than UB.
[[noreturn]] void integer_overflow(const std::string& op) {
  throw RenderError("integer overflow in '" + op + "' (64-bit integers)");
}

int64_t integer_power(int64_t base, int64_t exponent) {
  // 0, 1 and -1 never overflow, whatever the exponent: no loop over a huge exponent.
  if (base == 0) return exponent == 0 ? 1 : 0;
  if (base == 1) return 1;
  if (base == -1) return exponent % 2 == 0 ? 1 : -1;
  int64_t result = 1;
  for (int64_t e = exponent; e > 0; --e) {  // |base| >= 2 overflows within 63 steps
    if (__builtin_mul_overflow(result, base, &result)) integer_overflow("**");
  }
  return result;
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (op == "+") {
    if (a.is_number() && b.is_number()) {
      if (a.is_float() || b.is_float()) return Value(a.number() + b.number());
      int64_t sum = 0;
      if (__builtin_add_overflow(a.integer(), b.integer(), &sum)) integer_overflow(op);
      return Value(sum);
    }
    if (a.is_string() && b.is_string()) {
      check_string_size(a.str().size() + b.str().size());
      return Value(a.str() + b.str());
    }
    if (a.is_list() && b.is_list()) {
      check_item_count(a.list()->items.size() + b.list()->items.size());
      std::vector<Value> items = a.list()->items;
      items.insert(items.end(), b.list()->items.begin(), b.list()->items.end());
      return Value::make_list(std::move(items), a.list()->is_tuple && b.list()->is_tuple);
    }
    unsupported(op, a, b);
  }
  if (op == "*") {
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.integer());
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.integer());
  }
  if (op == "%" && a.is_string()) {
    if (b.is_list() && b.list()->is_tuple) return Value(py_percent_format(a.str(), b.list()->items));
    return Value(py_percent_format(a.str(), {b}));
  }
  if (!a.is_number() || !b.is_number()) unsupported(op, a, b);
  bool floating = a.is_float() || b.is_float();
  int64_t result = 0;
  if (op == "-") {
    if (floating) return Value(a.number() - b.number());
    if (__builtin_sub_overflow(a.integer(), b.integer(), &result)) integer_overflow(op);
    return Value(result);
  }
  if (op == "*") {
    if (floating) return Value(a.number() * b.number());
    if (__builtin_mul_overflow(a.integer(), b.integer(), &result)) integer_overflow(op);
    return Value(result);
  }
  if (op == "/") {
    if (b.number() == 0) throw RenderError("division by zero");
    return Value(a.number() / b.number());
  }
  if (op == "//" || op == "%") {
    if (b.number() == 0) throw RenderError(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
    if (floating) {
      double x = a.number(), y = b.number();
      double floor_div = std::floor(x / y);
      return op == "//" ? Value(floor_div) : Value(x - floor_div * y);
    }
    int64_t x = a.integer(), y = b.integer();
    if (x == INT64_MIN && y == -1) integer_overflow(op);
    int64_t q = x / y;
    if ((x % y != 0) && ((x < 0) != (y < 0))) --q;  // Python floors toward negative infinity
    return op == "//" ? Value(q) : Value(x - q * y);
  }
  if (op == "**") {
    if (!floating && b.integer() >= 0) return Value(integer_power(a.integer(), b.integer()));
    return Value(std::pow(a.number(), b.number()));
  }
  unsupported(op, a, b);
}

// Python slice indices for a sequence of `length` elements.
std::vector<size_t> slice_indices(int64_t length, const std::optional<int64_t>& start_in,
                                  const std::optional<int64_t>& stop_in, int64_t step) {
  if (step == 0) throw RenderError("slice step cannot be zero");
  auto clamp = [&](std::optional<int64_t> v, int64_t fallback, bool for_stop) {
    (void)for_stop;
    if (!v) return fallback;
    int64_t x = *v;
    if (x < 0) x += length;
    if (step > 0) return std::clamp<int64_t>(x, 0, length);
    return std::clamp<int64_t>(x, -1, length - 1);
  };
  int64_t start = clamp(start_in, step > 0 ? 0 : length - 1, false);
  int64_t stop = clamp(stop_in, step > 0 ? length : -1, true);
  std::vector<size_t> indices;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) indices.push_back(static_cast<size_t>(i));
  return indices;
}

}  // namespace

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) {
      require_defined(item);
      throw RenderError("'in <string>' requires string as left operand, not " + type_name(item));
    }
    return container.str().find(item.str()) != std::string::npos;
  }
  if (container.is_list()) {
    for (const Value& element : container.list()->items) {
      if (equals(element, item)) return true;
    }
    return false;
  }
  if (container.is_dict()) return item.is_string() && container.dict()->find(item.str()) != nullptr;
  if (container.is_undefined()) return false;
  throw RenderError("argument of type '" + type_name(container) + "' is not iterable");
}

Value binary_operator(const std::string& op, const Value& lhs, const Value& rhs) {
  if (op == "~") {
    std::string left = to_str(lhs);
    std::string right = to_str(rhs);
    check_string_size(left.size() + right.size());
    return Value(left + right);
  }
  if (op == "==") return Value(equals(lhs, rhs));
  if (op == "!=") return Value(!equals(lhs, rhs));
  if (op == "<") return Value(less_than(lhs, rhs));
  if (op == ">") return Value(less_than(rhs, lhs));
  if (op == "<=") return Value(less_than(lhs, rhs) || equals(lhs, rhs));
  if (op == ">=") return Value(less_than(rhs, lhs) || equals(lhs, rhs));
  if (op == "in") return Value(contains(rhs, lhs));
  if (op == "notin") return Value(!contains(rhs, lhs));
  return arithmetic(op, lhs, rhs);
}

Value Interpreter::eval(const Expr& expr) {
  charge_step();
  try {
    Value result = eval_inner(expr);
    // Growth the operators and filters did not check ahead stops here, one step late at most.
    if (result.is_string()) check_string_size(result.str().size());
    else if (result.is_list()) check_item_count(result.list()->items.size());
    else if (result.is_dict()) check_item_count(result.dict()->entries.size());
    return result;
  } catch (const RenderError& error) {
    if (error.located()) throw;
    throw RenderError("chat template error at line " + std::to_string(expr.pos.line) + ", column " +
                          std::to_string(expr.pos.column) + ": " + error.what(),
                      true);
  }
}

Value Interpreter::eval_inner(const Expr& expr) {
  switch (expr.kind) {
    case ExprKind::Literal:
      return expr.value;
    case ExprKind::Name:
      return lookup(expr.name);
    case ExprKind::ListLit:
    case ExprKind::TupleLit: {
      std::vector<Value> items;
      items.reserve(expr.items.size());
      for (const auto& item : expr.items) items.push_back(eval(*item));
      return Value::make_list(std::move(items), expr.kind == ExprKind::TupleLit);
    }
    case ExprKind::DictLit: {
      auto dict = std::make_shared<Dict>();
      for (size_t i = 0; i < expr.keys.size(); ++i) {
        Value key = eval(*expr.keys[i]);
        if (!key.is_string()) throw RenderError("dict keys must be strings, got " + type_name(key));
        dict->set(key.str(), eval(*expr.items[i]));
      }
      return Value(std::move(dict));
    }
    case ExprKind::GetAttr:
      return get_attr(eval(*expr.object), expr.name);
    case ExprKind::GetItem:
      return get_item(eval(*expr.object), eval(*expr.index));
    case ExprKind::Slice:
      return eval_slice(expr);
    case ExprKind::Call:
      return eval_call(expr, std::nullopt);
    case ExprKind::Filter:
      return eval_filter(expr, nullptr);
    case ExprKind::Test: {
      Value subject = eval(*expr.object);
      CallArgs args = eval_arguments(expr);
      bool result = apply_test(*this, expr.name, subject, args);
      return Value(expr.negated ? !result : result);
    }
    case ExprKind::Unary: {
      Value operand = eval(*expr.object);
      if (expr.name == "not") return Value(!truthy(operand));
      require_defined(operand);
      if (!operand.is_number()) throw RenderError("bad operand type for unary " + expr.name + ": '" + type_name(operand) + "'");
      if (expr.name == "+") return operand.is_float() ? operand : Value(operand.integer());
      if (operand.is_float()) return Value(-operand.number());
      if (operand.integer() == INT64_MIN) throw RenderError("integer overflow in unary '-' (64-bit integers)");
      return Value(-operand.integer());
    }
    case ExprKind::Binary:
      return eval_binary(expr);
    case ExprKind::Compare: {
      Value left = eval(*expr.object);
      for (size_t i = 0; i < expr.ops.size(); ++i) {
        Value right = eval(*expr.items[i]);
        if (!truthy(binary_operator(expr.ops[i], left, right))) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case ExprKind::Conditional:
      if (truthy(eval(*expr.condition))) return eval(*expr.then_expr);
      if (expr.else_expr) return eval(*expr.else_expr);
      return Value(Undefined{"the inline if-expression evaluated to false and no else section was defined"});
  }
  return Value();
}

Value Interpreter::eval_binary(const Expr& expr) {
  if (expr.name == "and") {
    Value lhs = eval(*expr.object);
    return truthy(lhs) ? eval(*expr.index) : lhs;
  }
  if (expr.name == "or") {
    Value lhs = eval(*expr.object);
    return truthy(lhs) ? lhs : eval(*expr.index);
  }
  Value lhs = eval(*expr.object);
  Value rhs = eval(*expr.index);
  return binary_operator(expr.name, lhs, rhs);
}

Value Interpreter::eval_slice(const Expr& expr) {
  Value object = eval(*expr.object);
  require_defined(object);
  auto bound = [&](const ExprPtr& e) -> std::optional<int64_t> {
    if (!e) return std::nullopt;
    Value v = eval(*e);
    if (v.is_none()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) throw RenderError("slice indices must be integers or None");
    return v.integer();
  };
  std::optional<int64_t> start = bound(expr.index), stop = bound(expr.stop), step = bound(expr.step);
  if (object.is_string()) {
    std::u32string text = utf8_decode(object.str());
    std::u32string out;
    for (size_t i : slice_indices(static_cast<int64_t>(text.size()), start, stop, step.value_or(1))) out += text[i];
    return Value(utf8_encode(out));
  }
  if (object.is_list()) {
    const auto& items = object.list()->items;
    std::vector<Value> out;
    for (size_t i : slice_indices(static_cast<int64_t>(items.size()), start, stop, step.value_or(1))) out.push_back(items[i]);
    return Value::make_list(std::move(out), object.list()->is_tuple);
  }
  throw RenderError("'" + type_name(object) + "' object is not subscriptable");
}

CallArgs Interpreter::eval_arguments(const Expr& expr) {
  CallArgs args;
  for (const auto& item : expr.items) args.positional.push_back(eval(*item));
  for (const auto& [key, value] : expr.kwargs) args.named.emplace_back(key, eval(*value));
  return args;
}

Value Interpreter::eval_call(const Expr& expr, std::optional<Value> caller) {
  CallArgs args;
  if (expr.object->kind == ExprKind::GetAttr) {
    // obj.method(...) calls the method directly instead of building a bound function.
    Value object = eval(*expr.object->object);
    args = eval_arguments(expr);
    if (caller) args.named.emplace_back("caller", *caller);
    if (has_method(object, expr.object->name)) return *call_method(object, expr.object->name, args);
    return call(get_attr(object, expr.object->name), args);
  }
  Value callee = eval(*expr.object);
  args = eval_arguments(expr);
  if (caller) args.named.emplace_back("caller", *caller);
  return call(callee, args);
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_callable()) return callee.function()->call(*this, args);
  require_defined(callee);
  throw RenderError("'" + type_name(callee) + "' object is not callable");
}

Value Interpreter::eval_filter(const Expr& expr, const Value* block_input) {
  // In a filter block the innermost filter of the chain has no operand: it takes the block's text.
  Value input;
  if (!expr.object) input = *block_input;
  else if (block_input && expr.object->kind == ExprKind::Filter) input = eval_filter(*expr.object, block_input);
  else input = eval(*expr.object);
  CallArgs args = eval_arguments(expr);
  return apply_filter(*this, expr.name, input, args);
}

Value Interpreter::get_attr(const Value& object, const std::string& name) {
  require_defined(object);
  if (auto refusal = unsafe_attribute(object, name)) return Value(Undefined{*refusal});
  if (object.is_dict()) {
    const Dict& dict = *object.dict();
    if (!dict.is_namespace && has_method(object, name)) {
      return Value::make_function(name, [object, name](Interpreter&, CallArgs& args) {
        return *call_method(object, name, args);
      });
    }
    if (const Value* found = dict.find(name)) return *found;
    return missing_attribute(object, name);
  }
  if (has_method(object, name)) {
    return Value::make_function(name, [object, name](Interpreter&, CallArgs& args) {
      return *call_method(object, name, args);
    });
  }
  return missing_attribute(object, name);
}

Value Interpreter::get_item(const Value& object, const Value& key) {
  require_defined(object);
  if (object.is_dict()) {
    if (key.is_string()) {
      if (const Value* found = object.dict()->find(key.str())) return *found;
      return get_attr(object, key.str());
    }
    return Value(Undefined{object_name(object) + " has no element " + repr(key)});
  }
  if ((object.is_list() || object.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t index = key.integer();
    if (object.is_list()) {
      const auto& items = object.list()->items;
      int64_t size = static_cast<int64_t>(items.size());
      if (index < 0) index += size;
      if (index < 0 || index >= size) return Value(Undefined{object_name(object) + " has no element " + std::to_string(key.integer())});
      return items[static_cast<size_t>(index)];
    }
    std::u32string text = utf8_decode(object.str());
    int64_t size = static_cast<int64_t>(text.size());
    if (index < 0) index += size;
    if (index < 0 || index >= size) return Value(Undefined{"string index out of range"});
    std::string character;
    utf8_append(character, text[static_cast<size_t>(index)]);
    return Value(std::move(character));
  }
  if (key.is_string()) return get_attr(object, key.str());
  return Value(Undefined{object_name(object) + " has no element " + repr(key)});
}

}  // namespace tandem::engine::jinja
