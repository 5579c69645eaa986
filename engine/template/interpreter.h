// Tree-walking evaluator: renders a parsed template against a set of global variables, with
// Jinja2's scoping (for-loop bodies and macros get their own scope; `if` does not) and its
// Undefined semantics.
#pragma once

#include "engine/chat_template.h"
#include "engine/template/ast.h"
#include "engine/template/value.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace tandem::engine::jinja {

struct Scope {
  std::shared_ptr<Scope> parent;
  std::unordered_map<std::string, Value> vars;
};

class Interpreter {
 public:
  explicit Interpreter(std::chrono::system_clock::time_point now, RenderBudget budget = {})
      : now_(now), budget_(budget) {}

  // Throws RenderError (located), RaisedError or BudgetExceeded.
  std::string render(const Template& tmpl, const Dict& globals);

  Value eval(const Expr& expr);
  Value call(const Value& callee, CallArgs& args);
  Value get_attr(const Value& object, const std::string& name);
  Value get_item(const Value& object, const Value& key);
  std::chrono::system_clock::time_point now() const { return now_; }

 private:
  enum class Flow { Normal, Break, Continue };

  Flow exec_body(const Body& body);
  Flow exec(const Stmt& stmt);
  Flow exec_for(const Stmt& stmt);
  void exec_set(const Stmt& stmt);
  void exec_call_block(const Stmt& stmt);
  std::string capture(const Body& body);
  Value lookup(const std::string& name) const;
  Value define_macro(const Stmt& stmt);
  Value invoke_macro(const Stmt& macro, const std::shared_ptr<Scope>& closure, CallArgs& args,
                     const char* what);

  // One unit of work against budget_.max_steps (and, every few thousand, the wall clock).
  void charge_step();
  void check_output_size() const;

  Value eval_inner(const Expr& expr);
  Value eval_call(const Expr& expr, std::optional<Value> caller);
  Value eval_filter(const Expr& expr, const Value* block_input);
  Value eval_binary(const Expr& expr);
  Value eval_slice(const Expr& expr);
  CallArgs eval_arguments(const Expr& expr);

  std::chrono::system_clock::time_point now_;
  RenderBudget budget_;
  uint64_t steps_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  std::string* out_ = nullptr;
  std::shared_ptr<Scope> scope_;
  int call_depth_ = 0;
};

// Python binary operators on values (arithmetic, `~`, comparisons, `in`).
Value binary_operator(const std::string& op, const Value& lhs, const Value& rhs);
bool contains(const Value& container, const Value& item);

}  // namespace tandem::engine::jinja
