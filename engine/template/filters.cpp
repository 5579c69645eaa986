// Jinja2's built-in filters (the subset chat templates use), plus Hugging Face's `tojson`
// (json.dumps with ensure_ascii=False: no HTML escaping, Python's separators).
#include "engine/template/builtins.h"
#include "engine/template/interpreter.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdio>
#include <unordered_map>

namespace tandem::engine::jinja {
namespace {

using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);

Value arg_or(CallArgs& args, size_t index, const char* name, Value fallback) {
  auto v = args.take(index, name);
  return v ? *v : fallback;
}

int64_t int_or(CallArgs& args, size_t index, const char* name, int64_t fallback) {
  auto v = args.take(index, name);
  if (!v || v->is_none()) return fallback;
  if (!v->is_number()) throw RenderError(std::string("argument '") + name + "' must be a number, got " + type_name(*v));
  return v->is_float() ? static_cast<int64_t>(v->number()) : v->integer();
}

// Jinja2's make_attrgetter: "a.b.0" walks items/attributes; optionally lowercases strings.
Value attribute_of(Interpreter& in, const Value& item, const std::string& path, bool ignore_case) {
  Value current = item;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    // Up to 18 digits fit an int64 index; a longer run of digits is looked up as a string key.
    bool numeric = !part.empty() && part.size() <= 18 &&
                   std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    current = in.get_item(current, numeric ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (ignore_case && current.is_string()) return Value(py_lower(current.str()));
  return current;
}

std::optional<std::string> attribute_arg(CallArgs& args, size_t index) {
  auto v = args.take(index, "attribute");
  if (!v || v->is_none()) return std::nullopt;
  if (v->is_int()) return std::to_string(v->integer());
  if (!v->is_string()) throw RenderError("attribute must be a string");
  return v->str();
}

Value sort_key(Interpreter& in, const Value& item, const std::optional<std::string>& attribute, bool case_sensitive) {
  if (attribute) return attribute_of(in, item, *attribute, !case_sensitive);
  if (!case_sensitive && item.is_string()) return Value(py_lower(item.str()));
  return item;
}

size_t length_of(const Value& v) {
  if (v.is_string()) return utf8_length(v.str());
  if (v.is_list()) return v.list()->items.size();
  if (v.is_dict()) return v.dict()->entries.size();
  if (v.is_undefined()) return 0;
  throw RenderError("object of type '" + type_name(v) + "' has no len()");
}

Value f_length(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("length");
  return Value(static_cast<int64_t>(length_of(v)));
}

Value f_tojson(Interpreter&, const Value& v, CallArgs& args) {
  JsonOptions options;
  options.ensure_ascii = truthy(arg_or(args, 0, "ensure_ascii", Value(false)));
  Value indent = arg_or(args, 1, "indent", Value(None{}));
  if (indent.is_string()) options.indent_text = indent.str();
  else if (indent.is_int()) options.indent = static_cast<int>(indent.integer());
  else if (!indent.is_none()) throw RenderError("tojson: indent must be an integer or a string");
  Value separators = arg_or(args, 2, "separators", Value(None{}));
  if (separators.is_list() && separators.list()->items.size() == 2 &&
      separators.list()->items[0].is_string() && separators.list()->items[1].is_string()) {
    options.item_separator = separators.list()->items[0].str();
    options.key_separator = separators.list()->items[1].str();
  } else if (!separators.is_none()) {
    throw RenderError("tojson: separators must be a pair of strings");
  }
  options.sort_keys = truthy(arg_or(args, 3, "sort_keys", Value(false)));
  args.expect_consumed("tojson");
  return Value(to_json(v, options));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& args) {
  Value chars = arg_or(args, 0, "chars", Value(None{}));
  args.expect_consumed("trim");
  return Value(py_strip(to_str(v), chars, true, true));
}

Value f_default(Interpreter&, const Value& v, CallArgs& args) {
  Value fallback = arg_or(args, 0, "default_value", Value(""));
  bool boolean = truthy(arg_or(args, 1, "boolean", Value(false)));
  args.expect_consumed("default");
  if (v.is_undefined() || (boolean && !truthy(v))) return fallback;
  return v;
}

Value f_items(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("items");
  if (v.is_undefined()) return Value::make_list();
  if (!v.is_dict()) throw RenderError("can only get item pairs from a mapping, not " + type_name(v));
  std::vector<Value> pairs;
  for (const auto& [k, value] : v.dict()->entries) pairs.push_back(Value::make_list({Value(k), value}, true));
  return Value::make_list(std::move(pairs));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& args) {
  std::string separator = to_str(arg_or(args, 0, "d", Value("")));
  auto attribute = attribute_arg(args, 1);
  args.expect_consumed("join");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out += separator;
    out += to_str(attribute ? attribute_of(in, item, *attribute, false) : item);
    check_string_size(out.size());
    first = false;
  }
  return Value(std::move(out));
}

Value f_first(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("first");
  auto items = iterate(v);
  if (items.empty()) return Value(Undefined{"No first item, sequence was empty."});
  return items.front();
}

Value f_last(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("last");
  auto items = iterate(v);
  if (items.empty()) return Value(Undefined{"No last item, sequence was empty."});
  return items.back();
}

Value f_list(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("list");
  return Value::make_list(iterate(v));
}

Value f_string(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("string");
  return Value(to_str(v));
}

Value f_safe(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("safe");
  return v;
}

Value f_escape(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("escape");
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value(std::move(out));
}

Value f_upper(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("upper");
  return Value(py_upper(to_str(v)));
}

Value f_lower(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("lower");
  return Value(py_lower(to_str(v)));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("capitalize");
  return Value(py_capitalize(to_str(v)));
}

// Jinja2's title filter: words start after whitespace, '-', or an opening bracket.
Value f_title(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("title");
  std::u32string s = utf8_decode(to_str(v));
  std::string out;
  bool word_start = true;
  for (char32_t c : s) {
    bool boundary = py_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    std::string one;
    utf8_append(one, c);
    out += boundary ? one : (word_start ? py_upper(one) : py_lower(one));
    word_start = boundary;
  }
  return Value(std::move(out));
}

Value f_replace(Interpreter&, const Value& v, CallArgs& args) {
  CallArgs method_args;
  method_args.positional.push_back(arg_or(args, 0, "old", Value("")));
  method_args.positional.push_back(arg_or(args, 1, "new", Value("")));
  Value count = arg_or(args, 2, "count", Value(None{}));
  if (!count.is_none()) method_args.positional.push_back(count);
  args.expect_consumed("replace");
  for (const Value& a : method_args.positional) {
    if (!a.is_string() && !a.is_int()) throw RenderError("replace() arguments must be strings");
  }
  if (!method_args.positional[0].is_string() || !method_args.positional[1].is_string()) {
    method_args.positional[0] = Value(to_str(method_args.positional[0]));
    method_args.positional[1] = Value(to_str(method_args.positional[1]));
  }
  return *call_method(Value(to_str(v)), "replace", method_args);
}

Value f_int(Interpreter&, const Value& v, CallArgs& args) {
  Value fallback = arg_or(args, 0, "default", Value(0));
  int64_t base = int_or(args, 1, "base", 10);
  args.expect_consumed("int");
  if (v.is_int() || v.is_bool()) return Value(v.integer());
  if (v.is_float()) return std::isfinite(v.number()) ? Value(static_cast<int64_t>(v.number())) : fallback;
  if (v.is_string()) {
    std::string text = py_strip(v.str(), Value(None{}), true, true);
    try {
      size_t used = 0;
      int64_t parsed = std::stoll(text, &used, static_cast<int>(base));
      if (used == text.size()) return Value(parsed);
      size_t used_f = 0;
      double real = std::stod(text, &used_f);
      if (used_f == text.size() && base == 10) return Value(static_cast<int64_t>(real));
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value f_float(Interpreter&, const Value& v, CallArgs& args) {
  Value fallback = arg_or(args, 0, "default", Value(0.0));
  args.expect_consumed("float");
  if (v.is_number()) return Value(v.number());
  if (v.is_string()) {
    std::string text = py_strip(v.str(), Value(None{}), true, true);
    try {
      size_t used = 0;
      double real = std::stod(text, &used);
      if (used == text.size()) return Value(real);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value f_abs(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("abs");
  require_defined(v);
  if (v.is_float()) return Value(std::fabs(v.number()));
  if (v.is_number()) return Value(v.integer() < 0 ? -v.integer() : v.integer());
  throw RenderError("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_round(Interpreter&, const Value& v, CallArgs& args) {
  int64_t precision = int_or(args, 0, "precision", 0);
  std::string method = to_str(arg_or(args, 1, "method", Value("common")));
  args.expect_consumed("round");
  require_defined(v);
  if (!v.is_number()) throw RenderError("round filter needs a number, got " + type_name(v));
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.number() * scale;
  if (method == "ceil") x = std::ceil(x);
  else if (method == "floor") x = std::floor(x);
  else if (method == "common") x = std::nearbyint(x);  // Python's round: halves to even
  else throw RenderError("method must be 'common', 'ceil' or 'floor'");
  return Value(x / scale);
}

Value f_reverse(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("reverse");
  if (v.is_string()) {
    std::u32string s = utf8_decode(v.str());
    std::reverse(s.begin(), s.end());
    return Value(utf8_encode(s));
  }
  auto items = iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::make_list(std::move(items));
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& args) {
  bool reverse = truthy(arg_or(args, 0, "reverse", Value(false)));
  bool case_sensitive = truthy(arg_or(args, 1, "case_sensitive", Value(false)));
  auto attribute = attribute_arg(args, 2);
  args.expect_consumed("sort");
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& item : iterate(v)) keyed.emplace_back(sort_key(in, item, attribute, case_sensitive), item);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    return reverse ? less_than(b.first, a.first) : less_than(a.first, b.first);
  });
  std::vector<Value> out;
  for (auto& entry : keyed) out.push_back(std::move(entry.second));
  return Value::make_list(std::move(out));
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& args) {
  bool case_sensitive = truthy(arg_or(args, 0, "case_sensitive", Value(false)));
  auto attribute = attribute_arg(args, 1);
  args.expect_consumed("unique");
  std::vector<Value> seen, out;
  for (const Value& item : iterate(v)) {
    Value key = sort_key(in, item, attribute, case_sensitive);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::make_list(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, CallArgs& args, bool want_max) {
  bool case_sensitive = truthy(arg_or(args, 0, "case_sensitive", Value(false)));
  auto attribute = attribute_arg(args, 1);
  args.expect_consumed(want_max ? "max" : "min");
  std::optional<std::pair<Value, Value>> best;
  for (const Value& item : iterate(v)) {
    Value key = sort_key(in, item, attribute, case_sensitive);
    if (!best || (want_max ? less_than(best->first, key) : less_than(key, best->first))) best.emplace(key, item);
  }
  if (!best) return Value(Undefined{"No aggregated item, sequence was empty."});
  return best->second;
}
Value f_max(Interpreter& in, const Value& v, CallArgs& args) { return min_max(in, v, args, true); }
Value f_min(Interpreter& in, const Value& v, CallArgs& args) { return min_max(in, v, args, false); }

Value f_sum(Interpreter& in, const Value& v, CallArgs& args) {
  auto attribute = attribute_arg(args, 0);
  Value total = arg_or(args, 1, "start", Value(0));
  args.expect_consumed("sum");
  for (const Value& item : iterate(v)) {
    total = binary_operator("+", total, attribute ? attribute_of(in, item, *attribute, false) : item);
  }
  return total;
}

Value f_map(Interpreter& in, const Value& v, CallArgs& args) {
  std::vector<Value> out;
  if (args.positional.empty()) {
    auto attribute = attribute_arg(args, 0);
    auto fallback = args.take(99, "default");
    args.expect_consumed("map");
    if (!attribute) throw RenderError("map() needs a filter name or attribute=");
    for (const Value& item : iterate(v)) {
      Value value = attribute_of(in, item, *attribute, false);
      out.push_back(value.is_undefined() && fallback ? *fallback : value);
    }
    return Value::make_list(std::move(out));
  }
  Value name = args.positional[0];
  if (!name.is_string() || !has_filter(name.str())) throw RenderError("map(): no filter named " + repr(name));
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.named = args.named;
  for (const Value& item : iterate(v)) {
    CallArgs copy = rest;
    out.push_back(apply_filter(in, name.str(), item, copy));
  }
  return Value::make_list(std::move(out));
}

// select/reject(test, args...) and selectattr/rejectattr(attribute, test, args...).
Value select_items(Interpreter& in, const Value& v, CallArgs& args, bool by_attribute, bool keep_matching) {
  size_t next = 0;
  std::optional<std::string> attribute;
  if (by_attribute) {
    if (args.positional.empty() || !args.positional[0].is_string()) throw RenderError("selectattr/rejectattr need an attribute name");
    attribute = args.positional[next++].str();
  }
  std::optional<std::string> test;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string() || !has_test(args.positional[next].str())) {
      throw RenderError("no test named " + repr(args.positional[next]));
    }
    test = args.positional[next++].str();
  }
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<long>(next), args.positional.end());
  test_args.named = args.named;
  std::vector<Value> out;
  for (const Value& item : iterate(v)) {
    Value subject = attribute ? attribute_of(in, item, *attribute, false) : item;
    bool matched;
    if (test) {
      CallArgs copy = test_args;
      matched = apply_test(in, *test, subject, copy);
    } else {
      matched = truthy(subject);
    }
    if (matched == keep_matching) out.push_back(item);
  }
  return Value::make_list(std::move(out));
}
Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_items(in, v, a, false, true); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_items(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_items(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_items(in, v, a, true, false); }

Value f_indent(Interpreter&, const Value& v, CallArgs& args) {
  Value width = arg_or(args, 0, "width", Value(4));
  bool first = truthy(arg_or(args, 1, "first", Value(false)));
  bool blank = truthy(arg_or(args, 2, "blank", Value(false)));
  args.expect_consumed("indent");
  if (!width.is_string()) check_string_size(static_cast<size_t>(std::max<int64_t>(0, width.integer())));
  std::string indentation = width.is_string() ? width.str() : std::string(static_cast<size_t>(std::max<int64_t>(0, width.integer())), ' ');
  CallArgs none;
  Value lines_value = *call_method(Value(to_str(v) + "\n"), "splitlines", none);
  const auto& lines = lines_value.list()->items;
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i].str();
    if (i > 0) out += "\n";
    if (i > 0 && (blank || !line.empty())) out += indentation;
    out += line;
    check_string_size(out.size());
  }
  if (first) out = indentation + out;
  return Value(std::move(out));
}

Value f_center(Interpreter&, const Value& v, CallArgs& args) {
  CallArgs method_args;
  method_args.positional.push_back(Value(int_or(args, 0, "width", 80)));
  args.expect_consumed("center");
  return *call_method(Value(to_str(v)), "center", method_args);
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("wordcount");
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : utf8_decode(to_str(v))) {
    bool word_char = c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0x80 && !py_isspace(c));
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value(words);
}

Value f_batch(Interpreter&, const Value& v, CallArgs& args) {
  int64_t size = int_or(args, 0, "linecount", 1);
  auto fill = args.take(1, "fill_with");
  args.expect_consumed("batch");
  if (size <= 0) throw RenderError("batch size must be positive");
  std::vector<Value> batches, current;
  for (const Value& item : iterate(v)) {
    current.push_back(item);
    if (static_cast<int64_t>(current.size()) == size) batches.push_back(Value::make_list(std::exchange(current, {})));
  }
  if (!current.empty()) {
    if (fill && !fill->is_none()) while (static_cast<int64_t>(current.size()) < size) current.push_back(*fill);
    batches.push_back(Value::make_list(std::move(current)));
  }
  return Value::make_list(std::move(batches));
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& args) {
  bool case_sensitive = truthy(arg_or(args, 0, "case_sensitive", Value(false)));
  std::string by = to_str(arg_or(args, 1, "by", Value("key")));
  bool reverse = truthy(arg_or(args, 2, "reverse", Value(false)));
  args.expect_consumed("dictsort");
  if (!v.is_dict()) throw RenderError("dictsort needs a mapping, got " + type_name(v));
  auto entries = v.dict()->entries;
  auto key_of = [&](const std::pair<std::string, Value>& e) {
    Value key = by == "value" ? e.second : Value(e.first);
    return (!case_sensitive && key.is_string()) ? Value(py_lower(key.str())) : key;
  };
  std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
    return reverse ? less_than(key_of(b), key_of(a)) : less_than(key_of(a), key_of(b));
  });
  std::vector<Value> out;
  for (auto& [k, value] : entries) out.push_back(Value::make_list({Value(k), value}, true));
  return Value::make_list(std::move(out));
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& args) {
  Value name = arg_or(args, 0, "name", Value(""));
  args.expect_consumed("attr");
  return in.get_attr(v, to_str(name));
}

Value f_format(Interpreter&, const Value& v, CallArgs& args) {
  if (!args.named.empty()) throw RenderError("format filter: keyword arguments are not supported");
  return Value(py_percent_format(to_str(v), args.positional));
}

Value f_truncate(Interpreter&, const Value& v, CallArgs& args) {
  int64_t length = int_or(args, 0, "length", 255);
  bool killwords = truthy(arg_or(args, 1, "killwords", Value(false)));
  std::string end = to_str(arg_or(args, 2, "end", Value("...")));
  int64_t leeway = int_or(args, 3, "leeway", 5);
  args.expect_consumed("truncate");
  std::u32string s = utf8_decode(to_str(v));
  if (static_cast<int64_t>(s.size()) <= length + leeway) return Value(utf8_encode(s));
  int64_t keep = std::max<int64_t>(0, length - static_cast<int64_t>(utf8_length(end)));
  std::u32string head = s.substr(0, static_cast<size_t>(keep));
  if (!killwords) {
    size_t space = head.rfind(U' ');
    if (space != std::u32string::npos) head = head.substr(0, space);
  }
  return Value(utf8_encode(head) + end);
}

Value f_pprint(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("pprint");
  return Value(repr(v));
}

const std::unordered_map<std::string_view, FilterFn>& filters() {
  static const std::unordered_map<std::string_view, FilterFn> table = {
      {"abs", f_abs}, {"attr", f_attr}, {"batch", f_batch}, {"capitalize", f_capitalize},
      {"center", f_center}, {"count", f_length}, {"d", f_default}, {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"first", f_first},
      {"float", f_float}, {"format", f_format}, {"indent", f_indent}, {"int", f_int},
      {"items", f_items}, {"join", f_join}, {"last", f_last}, {"length", f_length},
      {"list", f_list}, {"lower", f_lower}, {"map", f_map}, {"max", f_max}, {"min", f_min},
      {"pprint", f_pprint}, {"reject", f_reject}, {"rejectattr", f_rejectattr},
      {"replace", f_replace}, {"reverse", f_reverse}, {"round", f_round}, {"safe", f_safe},
      {"select", f_select}, {"selectattr", f_selectattr}, {"sort", f_sort}, {"string", f_string},
      {"sum", f_sum}, {"title", f_title}, {"tojson", f_tojson}, {"trim", f_trim},
      {"truncate", f_truncate}, {"unique", f_unique}, {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  return table;
}

}  // namespace

bool has_filter(std::string_view name) { return filters().count(name) > 0; }

Value apply_filter(Interpreter& interpreter, std::string_view name, const Value& input, CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) throw RenderError("no filter named '" + std::string(name) + "'");
  return it->second(interpreter, input, args);
}

std::string py_percent_format(const std::string& fmt, const std::vector<Value>& args) {
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    size_t j = i + 1;
    std::string spec = "%";
    while (j < fmt.size() && std::string_view("-+ #0").find(fmt[j]) != std::string_view::npos) spec += fmt[j++];
    while (j < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[j]))) spec += fmt[j++];
    if (j < fmt.size() && fmt[j] == '.') {
      spec += fmt[j++];
      while (j < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[j]))) spec += fmt[j++];
    }
    if (j >= fmt.size()) throw RenderError("incomplete format");
    char type = fmt[j];
    i = j;
    if (type == '%') {
      out += '%';
      continue;
    }
    if (next >= args.size()) throw RenderError("not enough arguments for format string");
    const Value& arg = args[next++];
    char buffer[512];
    if (type == 's' || type == 'r') {
      std::string text = type == 's' ? to_str(arg) : repr(arg);
      std::snprintf(buffer, sizeof buffer, (spec + "s").c_str(), text.c_str());
      out += spec == "%" ? text : std::string(buffer);
    } else if (std::string_view("dixXoc").find(type) != std::string_view::npos) {
      if (!arg.is_number()) throw RenderError(std::string("%") + type + " format: a number is required, not " + type_name(arg));
      long long n = arg.is_float() ? static_cast<long long>(arg.number()) : static_cast<long long>(arg.integer());
      std::string conversion = type == 'i' ? "d" : std::string(1, type);
      std::snprintf(buffer, sizeof buffer, (spec + "ll" + (type == 'c' ? "d" : conversion)).c_str(), n);
      if (type == 'c') {
        std::string one;
        utf8_append(one, static_cast<char32_t>(n));
        out += one;
      } else {
        out += buffer;
      }
    } else if (std::string_view("eEfFgG").find(type) != std::string_view::npos) {
      if (!arg.is_number()) throw RenderError(std::string("%") + type + " format: a number is required, not " + type_name(arg));
      std::snprintf(buffer, sizeof buffer, (spec + type).c_str(), arg.number());
      out += buffer;
    } else {
      throw RenderError(std::string("unsupported format character '") + type + "'");
    }
  }
  if (next < args.size()) throw RenderError("not all arguments converted during string formatting");
  return out;
}

}  // namespace tandem::engine::jinja
