// Values of the chat-template interpreter, with Python semantics: truthiness, equality, ordering,
// str()/repr() for printing and json.dumps for `tojson` — the renderings must match what Jinja2
// (running on Python) produced byte for byte.
#pragma once

#include <boost/json/fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tandem::engine::jinja {

// A runtime error without location; the interpreter adds the line/column of the expression.
class RenderError : public std::runtime_error {
 public:
  explicit RenderError(const std::string& message, bool located = false)
      : std::runtime_error(message), located_(located) {}
  bool located() const { return located_; }

 private:
  bool located_;
};

// raise_exception(msg) from the template: carries exactly the template's message.
class RaisedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A render went over its budget (engine::RenderBudget). Deliberately not a RenderError, so no
// template construct can catch, relocate or soften it.
class BudgetExceeded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The size bounds of the render running on this thread. They are consulted where strings and
// lists grow (operators, repr, tojson, filters, methods), before the memory is taken, so a
// hostile template stops with BudgetExceeded instead of exhausting memory. Thread-local because
// the growth happens in free functions far from the interpreter; unbounded outside a render.
struct SizeLimits {
  size_t max_string_bytes = SIZE_MAX;
  size_t max_items = SIZE_MAX;  // elements of one list, entries of one dict
};
class SizeLimitsScope {
 public:
  explicit SizeLimitsScope(SizeLimits limits);
  ~SizeLimitsScope();
  SizeLimitsScope(const SizeLimitsScope&) = delete;
  SizeLimitsScope& operator=(const SizeLimitsScope&) = delete;

 private:
  SizeLimits saved_;
};
// Throw BudgetExceeded when a string of `bytes` (a list of `items`) would exceed the limits.
void check_string_size(size_t bytes);
void check_item_count(size_t items);

struct Value;
class Interpreter;

// Python/Jinja Undefined: prints as "", is falsy, iterates as empty; using it in arithmetic or
// taking its attributes fails with `hint` (e.g. "'dict object' has no attribute 'content'").
struct Undefined {
  std::string hint;
};
struct None {};

struct Dict;

// The namespaces a container holds without passing through another namespace, once the namespace
// cycle check (interpreter.cpp) has looked. Only namespaces change after they are built, so for
// any other container this never changes, and the check reads it instead of walking the value
// again. Kept only while small; a container holding more is walked each time.
struct NamespaceFrontier {
  enum class State : uint8_t { unknown, known, too_many };
  State state = State::unknown;
  std::vector<const Dict*> namespaces;
};

struct List {
  std::vector<Value> items;
  bool is_tuple = false;  // only changes repr(): (1, 2)
  mutable NamespaceFrontier frontier;
};

// Insertion-ordered like Python's dict (JSON objects keep their key order in tojson).
struct Dict {
  std::vector<std::pair<std::string, Value>> entries;
  bool is_namespace = false;  // namespace(): the only object `set ns.attr = ...` may modify
  mutable NamespaceFrontier frontier;  // as List's; never used on a namespace

  const Value* find(std::string_view key) const;
  void set(std::string key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;

  // Positional argument `index`, else the keyword `name`, else nullopt. Marks it as used.
  std::optional<Value> take(size_t index, std::string_view name);
  // Throws when arguments remain that no take() consumed (misspelled keyword, too many).
  void expect_consumed(std::string_view function) const;

 private:
  std::vector<bool> used_positional_;
  std::vector<bool> used_named_;
};

struct Function {
  std::string name;
  std::function<Value(Interpreter&, CallArgs&)> call;
};

using ListPtr = std::shared_ptr<List>;
using DictPtr = std::shared_ptr<Dict>;
using FunctionPtr = std::shared_ptr<Function>;

struct Value {
  std::variant<Undefined, None, bool, int64_t, double, std::string, ListPtr, DictPtr, FunctionPtr>
      data;

  Value() : data(Undefined{}) {}
  Value(None) : data(None{}) {}
  Value(Undefined u) : data(std::move(u)) {}
  Value(bool b) : data(b) {}
  Value(int i) : data(int64_t{i}) {}
  Value(int64_t i) : data(i) {}
  Value(double d) : data(d) {}
  Value(std::string s) : data(std::move(s)) {}
  Value(const char* s) : data(std::string(s)) {}
  Value(ListPtr l) : data(std::move(l)) {}
  Value(DictPtr d) : data(std::move(d)) {}
  Value(FunctionPtr f) : data(std::move(f)) {}

  bool is_undefined() const { return std::holds_alternative<Undefined>(data); }
  bool is_none() const { return std::holds_alternative<None>(data); }
  bool is_bool() const { return std::holds_alternative<bool>(data); }
  bool is_int() const { return std::holds_alternative<int64_t>(data); }  // bool excluded
  bool is_float() const { return std::holds_alternative<double>(data); }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return std::holds_alternative<std::string>(data); }
  bool is_list() const { return std::holds_alternative<ListPtr>(data); }
  bool is_dict() const { return std::holds_alternative<DictPtr>(data); }
  bool is_callable() const { return std::holds_alternative<FunctionPtr>(data); }

  const std::string& str() const { return std::get<std::string>(data); }
  const ListPtr& list() const { return std::get<ListPtr>(data); }
  const DictPtr& dict() const { return std::get<DictPtr>(data); }
  const FunctionPtr& function() const { return std::get<FunctionPtr>(data); }
  const Undefined& undefined() const { return std::get<Undefined>(data); }
  bool boolean() const { return std::get<bool>(data); }
  int64_t integer() const;  // int or bool
  double number() const;    // int, bool or float

  static Value make_list(std::vector<Value> items = {}, bool tuple = false);
  static Value make_dict();
  static Value make_function(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn);
};

// Python type name for messages: "str", "int", "dict", "NoneType", "undefined", ...
std::string type_name(const Value& value);
// Throws RenderError with the undefined's hint when `value` is undefined.
void require_defined(const Value& value);

bool truthy(const Value& value);
bool equals(const Value& a, const Value& b);
// Python's a < b; throws RenderError for unordered types.
bool less_than(const Value& a, const Value& b);

std::string to_str(const Value& value);   // Python str()
std::string repr(const Value& value);     // Python repr()
std::string float_repr(double value);     // Python repr(float): 1.0, 0.1, 1e-05, 1e+16

struct JsonOptions {
  std::optional<int> indent;                 // json.dumps(indent=)
  std::string indent_text;                   // or a string indent
  std::optional<std::string> item_separator; // separators=(item, key)
  std::optional<std::string> key_separator;
  bool ensure_ascii = false;
  bool sort_keys = false;
};
// Python json.dumps with the given options; throws RenderError for unserializable values.
std::string to_json(const Value& value, const JsonOptions& options);

Value from_json(const boost::json::value& json);

// Elements when iterating in a for loop or a filter: list items, dict keys, string characters;
// Undefined iterates as empty. Throws for non-iterables.
std::vector<Value> iterate(const Value& value);

// UTF-8 helpers: Python strings index by code point.
std::u32string utf8_decode(std::string_view text);
std::string utf8_encode(std::u32string_view text);
void utf8_append(std::string& out, char32_t code_point);
size_t utf8_length(std::string_view text);

}  // namespace tandem::engine::jinja
