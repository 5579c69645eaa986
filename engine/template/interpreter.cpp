#include "engine/template/interpreter.h"

#include "engine/template/builtins.h"

#include <algorithm>
#include <functional>
#include <unordered_set>

namespace tandem::engine::jinja {
namespace {

constexpr int kMaxCallDepth = 256;  // a recursive macro must fail cleanly, not overflow the stack

std::string located(Position pos, const std::string& message) {
  return "chat template error at line " + std::to_string(pos.line) + ", column " +
         std::to_string(pos.column) + ": " + message;
}

// Swaps the interpreter's scope for the duration of a block (exception-safe).
class ScopeSwap {
 public:
  ScopeSwap(std::shared_ptr<Scope>& slot, std::shared_ptr<Scope> scope)
      : slot_(slot), saved_(slot) {
    slot_ = std::move(scope);
  }
  ~ScopeSwap() { slot_ = saved_; }
  ScopeSwap(const ScopeSwap&) = delete;
  ScopeSwap& operator=(const ScopeSwap&) = delete;

 private:
  std::shared_ptr<Scope>& slot_;
  std::shared_ptr<Scope> saved_;
};

std::shared_ptr<Scope> child_of(const std::shared_ptr<Scope>& parent) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  return scope;
}

constexpr size_t kMaxKeptFrontier = 8;

// Called once per container or namespace the check walks (not for kept answers): the walk is work
// like any other, counted against the render budget's steps (and so its clock).
using ChargeStep = std::function<void()>;

void collect_frontier(const Value& value, std::vector<const Dict*>& out, std::unordered_set<const void*>& walked,
                      const ChargeStep& charge);

// collect_frontier for a container other than a namespace: its kept answer, or one worked out
// from its children (and kept when small).
template <class Container, class ForEachChild>
void collect_container_frontier(const Container& container, ForEachChild for_each_child, std::vector<const Dict*>& out,
                                std::unordered_set<const void*>& walked, const ChargeStep& charge) {
  NamespaceFrontier& frontier = container.frontier;
  if (frontier.state == NamespaceFrontier::State::known) {
    out.insert(out.end(), frontier.namespaces.begin(), frontier.namespaces.end());
    return;
  }
  if (frontier.state == NamespaceFrontier::State::too_many) {
    if (!walked.insert(&container).second) return;  // its namespaces are in `out` already
    charge();
    for_each_child([&](const Value& child) { collect_frontier(child, out, walked, charge); });
    return;
  }
  charge();
  std::vector<const Dict*> own;
  std::unordered_set<const void*> own_walked;
  for_each_child([&](const Value& child) { collect_frontier(child, own, own_walked, charge); });
  std::sort(own.begin(), own.end());
  own.erase(std::unique(own.begin(), own.end()), own.end());
  out.insert(out.end(), own.begin(), own.end());
  if (own.size() <= kMaxKeptFrontier) {
    frontier.state = NamespaceFrontier::State::known;
    frontier.namespaces = std::move(own);
  } else {
    frontier.state = NamespaceFrontier::State::too_many;
  }
}

// Adds to `out` the namespaces `value` holds without passing through a namespace (`value` itself
// when it is one). `walked` keeps shared containers that have no kept answer from being walked
// twice.
void collect_frontier(const Value& value, std::vector<const Dict*>& out, std::unordered_set<const void*>& walked,
                      const ChargeStep& charge) {
  if (value.is_dict()) {
    const Dict& dict = *value.dict();
    if (dict.is_namespace) {
      out.push_back(&dict);
      return;
    }
    collect_container_frontier(
        dict, [&](auto&& visit) { for (const auto& entry : dict.entries) visit(entry.second); }, out, walked, charge);
  } else if (value.is_list()) {
    const List& list = *value.list();
    collect_container_frontier(list, [&](auto&& visit) { for (const Value& item : list.items) visit(item); }, out,
                               walked, charge);
  }
}

// Whether `target` is `value` or is found anywhere inside it. Only namespaces are walked each
// time; what lies between them is read from the kept frontiers, so a value built from earlier ones
// (`ns.s = (ns.s, ns.s)`, or a chain holding namespaces) costs only its new part.
bool reaches(const Value& value, const Dict* target, const ChargeStep& charge) {
  std::vector<const Dict*> pending;
  std::unordered_set<const void*> walked;
  collect_frontier(value, pending, walked, charge);
  std::unordered_set<const Dict*> seen;
  while (!pending.empty()) {
    const Dict* found = pending.back();
    pending.pop_back();
    if (found == target) return true;
    if (!seen.insert(found).second) continue;
    charge();
    for (const auto& entry : found->entries) collect_frontier(entry.second, pending, walked, charge);
  }
  return false;
}

void assign_targets(Scope& scope, const Stmt& stmt, const Value& value) {
  if (!stmt.unpack) {
    scope.vars[stmt.targets[0]] = value;
    return;
  }
  std::vector<Value> items = iterate(value);
  if (items.size() != stmt.targets.size()) {
    throw RenderError("cannot unpack " + std::to_string(items.size()) + " values into " +
                      std::to_string(stmt.targets.size()) + " variables");
  }
  for (size_t i = 0; i < items.size(); ++i) scope.vars[stmt.targets[i]] = items[i];
}

}  // namespace

void Interpreter::charge_step() {
  if (++steps_ > budget_.max_steps) {
    throw BudgetExceeded("the template ran more than " + std::to_string(budget_.max_steps) +
                         " steps (a runaway loop?)");
  }
  constexpr uint64_t kClockEvery = 4096;  // reading the clock on every step would dominate
  if (steps_ % kClockEvery == 0 && std::chrono::steady_clock::now() > deadline_) {
    throw BudgetExceeded("the template ran longer than " +
                         std::to_string(budget_.max_time.count()) + " ms");
  }
}

void Interpreter::check_output_size() const {
  if (out_->size() > budget_.max_output_bytes) {
    throw BudgetExceeded("the output grew past " + std::to_string(budget_.max_output_bytes) +
                         " bytes");
  }
}

std::string Interpreter::render(const Template& tmpl, const Dict& globals) {
  steps_ = 0;
  deadline_ = std::chrono::steady_clock::now() + budget_.max_time;
  SizeLimitsScope size_limits(SizeLimits{budget_.max_string_bytes, budget_.max_items});
  std::string out;
  out_ = &out;
  auto root = std::make_shared<Scope>();
  for (const auto& [name, value] : globals.entries) root->vars[name] = value;
  {
    ScopeSwap swap(scope_, root);
    try {
      exec_body(tmpl.body);
    } catch (const RenderError& error) {
      if (error.located()) throw;
      throw RenderError("chat template error: " + std::string(error.what()), true);
    }
  }
  out_ = nullptr;
  return out;
}

Value Interpreter::lookup(const std::string& name) const {
  for (const Scope* scope = scope_.get(); scope; scope = scope->parent.get()) {
    auto it = scope->vars.find(name);
    if (it != scope->vars.end()) return it->second;
  }
  return Value(Undefined{"'" + name + "' is undefined"});
}

std::string Interpreter::capture(const Body& body) {
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  try {
    exec_body(body);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buffer;
}

Interpreter::Flow Interpreter::exec_body(const Body& body) {
  for (const auto& stmt : body) {
    Flow flow = exec(*stmt);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Stmt& stmt) {
  charge_step();
  try {
    switch (stmt.kind) {
      case StmtKind::Text:
        *out_ += stmt.text;
        check_output_size();
        return Flow::Normal;
      case StmtKind::Print:
        *out_ += to_str(eval(*stmt.expr));
        check_output_size();
        return Flow::Normal;
      case StmtKind::If:
        for (size_t i = 0; i < stmt.conditions.size(); ++i) {
          if (truthy(eval(*stmt.conditions[i]))) return exec_body(stmt.bodies[i]);
        }
        return exec_body(stmt.else_body);
      case StmtKind::For:
        return exec_for(stmt);
      case StmtKind::Set:
        exec_set(stmt);
        return Flow::Normal;
      case StmtKind::Macro:
        scope_->vars[stmt.text] = define_macro(stmt);
        return Flow::Normal;
      case StmtKind::CallBlock:
        exec_call_block(stmt);
        return Flow::Normal;
      case StmtKind::FilterBlock: {
        Value content(capture(stmt.body));
        *out_ += to_str(eval_filter(*stmt.expr, &content));
        check_output_size();
        return Flow::Normal;
      }
      case StmtKind::With: {
        auto scope = child_of(scope_);
        for (size_t i = 0; i < stmt.targets.size(); ++i) {
          scope->vars[stmt.targets[i]] = eval(*stmt.values[i]);
        }
        ScopeSwap swap(scope_, scope);
        return exec_body(stmt.body);
      }
      case StmtKind::Break:
        return Flow::Break;
      case StmtKind::Continue:
        return Flow::Continue;
    }
  } catch (const RenderError& error) {
    if (error.located()) throw;
    throw RenderError(located(stmt.pos, error.what()), true);
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& stmt) {
  std::vector<Value> items = iterate(eval(*stmt.expr));
  if (stmt.filter) {
    // The `if` filter sees the loop variables but no `loop`, and runs before loop.length is known.
    std::vector<Value> kept;
    for (const Value& item : items) {
      charge_step();
      auto scope = child_of(scope_);
      assign_targets(*scope, stmt, item);
      ScopeSwap swap(scope_, scope);
      if (truthy(eval(*stmt.filter))) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(stmt.else_body);

  const int64_t length = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < length; ++i) {
    charge_step();  // an empty body must cost something too
    auto scope = child_of(scope_);
    assign_targets(*scope, stmt, items[i]);
    auto loop = std::make_shared<Dict>();
    loop->entries = {
        {"index", Value(i + 1)},
        {"index0", Value(i)},
        {"revindex", Value(length - i)},
        {"revindex0", Value(length - i - 1)},
        {"first", Value(i == 0)},
        {"last", Value(i == length - 1)},
        {"length", Value(length)},
        {"depth", Value(1)},
        {"depth0", Value(0)},
        {"previtem", i > 0 ? items[i - 1] : Value(Undefined{"there is no previous item"})},
        {"nextitem", i + 1 < length ? items[i + 1] : Value(Undefined{"there is no next item"})},
        {"cycle", Value::make_function("loop.cycle", [i](Interpreter&, CallArgs& args) -> Value {
           if (args.positional.empty()) throw RenderError("no items for cycling given");
           return args.positional[static_cast<size_t>(i) % args.positional.size()];
         })},
    };
    scope->vars["loop"] = Value(std::move(loop));
    ScopeSwap swap(scope_, scope);
    if (exec_body(stmt.body) == Flow::Break) break;
  }
  return Flow::Normal;
}

void Interpreter::exec_set(const Stmt& stmt) {
  Value value = stmt.expr ? eval(*stmt.expr) : Value(capture(stmt.body));
  if (!stmt.text.empty()) {
    Value target = lookup(stmt.targets[0]);
    if (!target.is_dict() || !target.dict()->is_namespace) {
      throw RenderError("cannot assign attribute on non-namespace object '" + stmt.targets[0] + "'");
    }
    // Namespaces are the only mutable values, so this is the one place a cycle could form; a
    // cycle of shared pointers would never be freed (Python's garbage collector has no match).
    if (reaches(value, target.dict().get(), [this] { charge_step(); })) {
      throw RenderError("cannot store '" + stmt.targets[0] + "' inside itself");
    }
    target.dict()->set(stmt.text, std::move(value));
    return;
  }
  assign_targets(*scope_, stmt, value);
}

// Macros hold their defining scope weakly: the scope holds the macro, so a strong reference
// would be a cycle.
Value Interpreter::define_macro(const Stmt& stmt) {
  std::weak_ptr<Scope> closure = scope_;
  const Stmt* macro = &stmt;
  return Value::make_function(stmt.text, [macro, closure](Interpreter& self, CallArgs& args) {
    auto scope = closure.lock();
    return self.invoke_macro(*macro, scope ? scope : self.scope_, args, "macro");
  });
}

// Binds arguments like Jinja2 macros: positional, then keywords, then defaults (evaluated in the
// macro's scope); leftovers go to `varargs` and `kwargs`; `caller` when called from a call block.
Value Interpreter::invoke_macro(const Stmt& macro, const std::shared_ptr<Scope>& closure,
                                CallArgs& args, const char* what) {
  if (call_depth_ >= kMaxCallDepth) {
    throw RenderError(std::string(what) + " '" + macro.text + "' nested too deeply (recursion?)");
  }
  auto scope = child_of(closure);
  size_t n = macro.targets.size();
  std::vector<bool> bound(n, false);
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < n) {
      scope->vars[macro.targets[i]] = args.positional[i];
      bound[i] = true;
    } else {
      varargs.push_back(args.positional[i]);
    }
  }
  auto kwargs = std::make_shared<Dict>();
  for (auto& [key, value] : args.named) {
    bool matched = false;
    for (size_t i = 0; i < n; ++i) {
      if (macro.targets[i] == key) {
        if (bound[i]) throw RenderError(std::string(what) + " '" + macro.text + "' got multiple values for argument '" + key + "'");
        scope->vars[key] = value;
        bound[i] = matched = true;
      }
    }
    if (!matched) {
      if (key == "caller") scope->vars["caller"] = value;
      else kwargs->set(key, value);
    }
  }
  scope->vars["varargs"] = Value::make_list(std::move(varargs), true);
  scope->vars["kwargs"] = Value(std::move(kwargs));

  ScopeSwap swap(scope_, scope);
  for (size_t i = 0; i < n; ++i) {
    if (bound[i]) continue;
    scope->vars[macro.targets[i]] =
        macro.values[i] ? eval(*macro.values[i])
                        : Value(Undefined{"parameter '" + macro.targets[i] + "' was not provided"});
  }
  ++call_depth_;
  try {
    std::string result = capture(macro.body);
    --call_depth_;
    return Value(std::move(result));
  } catch (...) {
    --call_depth_;
    throw;
  }
}

void Interpreter::exec_call_block(const Stmt& stmt) {
  std::weak_ptr<Scope> closure = scope_;
  const Stmt* block = &stmt;
  Value caller = Value::make_function("caller", [block, closure](Interpreter& self, CallArgs& args) {
    auto scope = closure.lock();
    return self.invoke_macro(*block, scope ? scope : self.scope_, args, "caller");
  });
  *out_ += to_str(eval_call(*stmt.expr, std::move(caller)));
  check_output_size();
}

}  // namespace tandem::engine::jinja
