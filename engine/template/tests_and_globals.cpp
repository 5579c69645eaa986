// Jinja2's tests (`x is defined`, `is string`, ...) and the global functions a render sees:
// Jinja2's range/dict/namespace/cycler/joiner plus Hugging Face's raise_exception and
// strftime_now.
#include "engine/template/builtins.h"
#include "engine/template/interpreter.h"

#include <cmath>
#include <ctime>
#include <unordered_map>

namespace tandem::engine::jinja {
namespace {

using TestFn = bool (*)(const Value&, CallArgs&);

Value required(CallArgs& args, const char* test) {
  auto v = args.take(0, "value");
  if (!v) throw RenderError(std::string("test '") + test + "' needs an argument");
  return *v;
}

bool integer_like(const Value& v) { return v.is_int(); }

const std::unordered_map<std::string_view, TestFn>& tests() {
  static const std::unordered_map<std::string_view, TestFn> table = {
      {"defined", [](const Value& v, CallArgs&) { return !v.is_undefined(); }},
      {"undefined", [](const Value& v, CallArgs&) { return v.is_undefined(); }},
      {"none", [](const Value& v, CallArgs&) { return v.is_none(); }},
      {"boolean", [](const Value& v, CallArgs&) { return v.is_bool(); }},
      {"true", [](const Value& v, CallArgs&) { return v.is_bool() && v.boolean(); }},
      {"false", [](const Value& v, CallArgs&) { return v.is_bool() && !v.boolean(); }},
      {"integer", [](const Value& v, CallArgs&) { return integer_like(v); }},
      {"float", [](const Value& v, CallArgs&) { return v.is_float(); }},
      {"number", [](const Value& v, CallArgs&) { return v.is_number(); }},
      {"string", [](const Value& v, CallArgs&) { return v.is_string(); }},
      {"mapping", [](const Value& v, CallArgs&) { return v.is_dict() && !v.dict()->is_namespace; }},
      // Python's iter()/len()+__getitem__: Jinja2's Undefined passes both.
      {"iterable", [](const Value& v, CallArgs&) { return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined(); }},
      {"sequence", [](const Value& v, CallArgs&) { return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined(); }},
      {"callable", [](const Value& v, CallArgs&) { return v.is_callable(); }},
      {"odd", [](const Value& v, CallArgs&) {
         if (!v.is_number()) throw RenderError("test 'odd' needs a number");
         return v.integer() % 2 != 0;
       }},
      {"even", [](const Value& v, CallArgs&) {
         if (!v.is_number()) throw RenderError("test 'even' needs a number");
         return v.integer() % 2 == 0;
       }},
      {"divisibleby", [](const Value& v, CallArgs& a) {
         Value d = required(a, "divisibleby");
         if (!v.is_number() || !d.is_number()) throw RenderError("test 'divisibleby' needs numbers");
         if (d.number() == 0) throw RenderError("integer division or modulo by zero");
         if (v.is_float() || d.is_float()) return std::fmod(v.number(), d.number()) == 0;
         return v.integer() % d.integer() == 0;
       }},
      {"eq", [](const Value& v, CallArgs& a) { return equals(v, required(a, "eq")); }},
      {"equalto", [](const Value& v, CallArgs& a) { return equals(v, required(a, "equalto")); }},
      {"==", [](const Value& v, CallArgs& a) { return equals(v, required(a, "==")); }},
      {"ne", [](const Value& v, CallArgs& a) { return !equals(v, required(a, "ne")); }},
      {"!=", [](const Value& v, CallArgs& a) { return !equals(v, required(a, "!=")); }},
      {"lt", [](const Value& v, CallArgs& a) { return less_than(v, required(a, "lt")); }},
      {"lessthan", [](const Value& v, CallArgs& a) { return less_than(v, required(a, "lessthan")); }},
      {"le", [](const Value& v, CallArgs& a) { Value o = required(a, "le"); return less_than(v, o) || equals(v, o); }},
      {"gt", [](const Value& v, CallArgs& a) { return less_than(required(a, "gt"), v); }},
      {"greaterthan", [](const Value& v, CallArgs& a) { return less_than(required(a, "greaterthan"), v); }},
      {"ge", [](const Value& v, CallArgs& a) { Value o = required(a, "ge"); return less_than(o, v) || equals(v, o); }},
      {"in", [](const Value& v, CallArgs& a) { return contains(required(a, "in"), v); }},
      {"sameas", [](const Value& v, CallArgs& a) {
         Value o = required(a, "sameas");
         if (v.data.index() != o.data.index()) return false;
         if (v.is_list()) return v.list() == o.list();
         if (v.is_dict()) return v.dict() == o.dict();
         return equals(v, o);
       }},
      {"lower", [](const Value& v, CallArgs&) { return v.is_string() && py_lower(v.str()) == v.str(); }},
      {"upper", [](const Value& v, CallArgs&) { return v.is_string() && py_upper(v.str()) == v.str(); }},
      {"escaped", [](const Value&, CallArgs&) { return false; }},
      {"filter", [](const Value& v, CallArgs&) { return v.is_string() && has_filter(v.str()); }},
      {"test", [](const Value& v, CallArgs&) { return v.is_string() && has_test(v.str()); }},
  };
  return table;
}

Value make_range(CallArgs& args) {
  std::vector<int64_t> bounds;
  for (const Value& v : args.positional) {
    if (!v.is_int() && !v.is_bool()) throw RenderError("range() arguments must be integers, not " + type_name(v));
    bounds.push_back(v.integer());
  }
  if (bounds.empty() || bounds.size() > 3 || !args.named.empty()) throw RenderError("range expected 1 to 3 integer arguments");
  int64_t start = bounds.size() == 1 ? 0 : bounds[0];
  int64_t stop = bounds.size() == 1 ? bounds[0] : bounds[1];
  int64_t step = bounds.size() == 3 ? bounds[2] : 1;
  if (step == 0) throw RenderError("range() arg 3 must not be zero");
  constexpr int64_t kMaxRange = 100000;  // the sandbox's MAX_RANGE
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(items.size()) >= kMaxRange) throw RenderError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    items.emplace_back(i);
  }
  return Value::make_list(std::move(items));
}

// dict(...) and namespace(...): an optional mapping argument, then keyword arguments.
Value make_mapping(CallArgs& args, bool is_namespace) {
  auto dict = std::make_shared<Dict>();
  dict->is_namespace = is_namespace;
  if (args.positional.size() > 1) throw RenderError("expected at most 1 positional argument");
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      for (const auto& [k, v] : source.dict()->entries) dict->set(k, v);
    } else {
      for (const Value& pair : iterate(source)) {
        auto kv = iterate(pair);
        if (kv.size() != 2 || !kv[0].is_string()) throw RenderError("dictionary update sequence element must be a (str, value) pair");
        dict->set(kv[0].str(), kv[1]);
      }
    }
  }
  for (const auto& [k, v] : args.named) dict->set(k, v);
  return Value(std::move(dict));
}

}  // namespace

bool has_test(std::string_view name) { return tests().count(name) > 0; }

bool apply_test(Interpreter&, std::string_view name, const Value& input, CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) throw RenderError("no test named '" + std::string(name) + "'");
  bool result = it->second(input, args);
  args.expect_consumed(std::string("test ") + std::string(name));
  return result;
}

void add_globals(Dict& globals, std::optional<std::chrono::system_clock::time_point> pinned) {
  globals.set("range", Value::make_function("range", [](Interpreter&, CallArgs& a) { return make_range(a); }));
  globals.set("dict", Value::make_function("dict", [](Interpreter&, CallArgs& a) { return make_mapping(a, false); }));
  globals.set("namespace", Value::make_function("namespace", [](Interpreter&, CallArgs& a) { return make_mapping(a, true); }));
  globals.set("raise_exception", Value::make_function("raise_exception", [](Interpreter&, CallArgs& a) -> Value {
    throw RaisedError(a.positional.empty() ? std::string() : to_str(a.positional[0]));
  }));
  globals.set("strftime_now", Value::make_function("strftime_now", [pinned](Interpreter&, CallArgs& a) {
    auto format = a.take(0, "format");
    a.expect_consumed("strftime_now");
    if (!format || !format->is_string()) throw RenderError("strftime_now() needs a format string");
    // Python's datetime.now() is local time. A pinned clock is a fixed date that must not move
    // with the machine's time zone, so it is read as UTC.
    std::time_t seconds = std::chrono::system_clock::to_time_t(pinned.value_or(std::chrono::system_clock::now()));
    std::tm local{};
    if (pinned) {
      gmtime_r(&seconds, &local);
    } else {
      localtime_r(&seconds, &local);
    }
    char buffer[512];
    size_t n = std::strftime(buffer, sizeof buffer, format->str().c_str(), &local);
    if (n == 0 && !format->str().empty()) throw RenderError("strftime_now(): format too long or empty result");
    return Value(std::string(buffer, n));
  }));
  globals.set("cycler", Value::make_function("cycler", [](Interpreter&, CallArgs& a) {
    auto items = std::make_shared<std::vector<Value>>(a.positional);
    auto position = std::make_shared<size_t>(0);
    if (items->empty()) throw RenderError("cycler() needs at least one item");
    auto cycler = std::make_shared<Dict>();
    cycler->is_namespace = true;  // attribute access only, like the Python object
    cycler->set("next", Value::make_function("next", [items, position](Interpreter&, CallArgs&) {
      Value v = (*items)[*position];
      *position = (*position + 1) % items->size();
      return v;
    }));
    cycler->set("reset", Value::make_function("reset", [position](Interpreter&, CallArgs&) {
      *position = 0;
      return Value(None{});
    }));
    cycler->set("items", Value::make_list(*items));
    return Value(std::move(cycler));
  }));
  globals.set("joiner", Value::make_function("joiner", [](Interpreter&, CallArgs& a) {
    std::string separator = a.positional.empty() ? ", " : to_str(a.positional[0]);
    auto used = std::make_shared<bool>(false);
    return Value::make_function("joiner", [separator, used](Interpreter&, CallArgs&) {
      if (!*used) {
        *used = true;
        return Value("");
      }
      return Value(separator);
    });
  }));
}

}  // namespace tandem::engine::jinja
