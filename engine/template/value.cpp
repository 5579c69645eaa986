#include "engine/template/value.h"

#include <boost/json/value.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace tandem::engine::jinja {
namespace {
thread_local SizeLimits active_limits;

// Values can contain themselves (`{% set ns.self = ns %}`): the recursive walks (repr, tojson,
// comparisons) stop at this depth with an error instead of overflowing the stack.
constexpr int kMaxNesting = 200;
thread_local int nesting = 0;
class NestingGuard {
 public:
  NestingGuard() {
    if (++nesting > kMaxNesting) {
      --nesting;
      throw RenderError("value nested too deeply (does it contain itself?)");
    }
  }
  ~NestingGuard() { --nesting; }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;
};
}  // namespace

SizeLimitsScope::SizeLimitsScope(SizeLimits limits) : saved_(active_limits) { active_limits = limits; }
SizeLimitsScope::~SizeLimitsScope() { active_limits = saved_; }

void check_string_size(size_t bytes) {
  if (bytes > active_limits.max_string_bytes) {
    throw BudgetExceeded("a string would grow to " + std::to_string(bytes) +
                         " bytes, over the render budget of " +
                         std::to_string(active_limits.max_string_bytes));
  }
}

void check_item_count(size_t items) {
  if (items > active_limits.max_items) {
    throw BudgetExceeded("a list would grow to " + std::to_string(items) +
                         " items, over the render budget of " +
                         std::to_string(active_limits.max_items));
  }
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::set(std::string key, Value value) {
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

std::optional<Value> CallArgs::take(size_t index, std::string_view name) {
  used_positional_.resize(positional.size(), false);
  used_named_.resize(named.size(), false);
  if (index < positional.size()) {
    used_positional_[index] = true;
    return positional[index];
  }
  for (size_t i = 0; i < named.size(); ++i) {
    if (named[i].first == name) {
      used_named_[i] = true;
      return named[i].second;
    }
  }
  return std::nullopt;
}

void CallArgs::expect_consumed(std::string_view function) const {
  for (size_t i = 0; i < positional.size(); ++i) {
    if (i >= used_positional_.size() || !used_positional_[i]) {
      throw RenderError(std::string(function) + "() takes at most " + std::to_string(i) +
                        " positional arguments (" + std::to_string(positional.size()) + " given)");
    }
  }
  for (size_t i = 0; i < named.size(); ++i) {
    if (i >= used_named_.size() || !used_named_[i]) {
      throw RenderError(std::string(function) + "() got an unexpected keyword argument '" +
                        named[i].first + "'");
    }
  }
}

int64_t Value::integer() const {
  if (is_bool()) return boolean() ? 1 : 0;
  return std::get<int64_t>(data);
}

double Value::number() const {
  if (is_float()) return std::get<double>(data);
  return static_cast<double>(integer());
}

Value Value::make_list(std::vector<Value> items, bool tuple) {
  auto list = std::make_shared<List>();
  list->items = std::move(items);
  list->is_tuple = tuple;
  return Value(std::move(list));
}

Value Value::make_dict() { return Value(std::make_shared<Dict>()); }

Value Value::make_function(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn) {
  auto function = std::make_shared<Function>();
  function->name = std::move(name);
  function->call = std::move(fn);
  return Value(std::move(function));
}

std::string type_name(const Value& value) {
  switch (value.data.index()) {
    case 0: return "undefined";
    case 1: return "NoneType";
    case 2: return "bool";
    case 3: return "int";
    case 4: return "float";
    case 5: return "str";
    case 6: return value.list()->is_tuple ? "tuple" : "list";
    case 7: return value.dict()->is_namespace ? "Namespace" : "dict";
    default: return "function";
  }
}

void require_defined(const Value& value) {
  if (value.is_undefined()) throw RenderError(value.undefined().hint);
}

bool truthy(const Value& value) {
  switch (value.data.index()) {
    case 0: case 1: return false;
    case 2: return value.boolean();
    case 3: return value.integer() != 0;
    case 4: return value.number() != 0.0;
    case 5: return !value.str().empty();
    case 6: return !value.list()->items.empty();
    case 7: return !value.dict()->entries.empty();
    default: return true;
  }
}

namespace {

// Pairs of containers already being compared or found equal. Values can share substructure
// (`{% set ns.s = (ns.s, ns.s) %}` doubles a list n times in n steps), so a plain recursion would
// walk 2^n paths; comparing each pair of containers once keeps `==` linear in what was built.
using ComparedPairs = std::set<std::pair<const void*, const void*>>;

bool equals_in(const Value& a, const Value& b, ComparedPairs& compared) {
  NestingGuard guard;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.number() == b.number();
    return a.integer() == b.integer();
  }
  if (a.data.index() != b.data.index()) return false;
  switch (a.data.index()) {
    case 0: case 1: return true;
    case 5: return a.str() == b.str();
    case 6: {
      // The same list is equal to itself, as in Python (which compares identical items as equal).
      if (a.list() == b.list() || !compared.emplace(a.list().get(), b.list().get()).second) return true;
      const auto& x = a.list()->items;
      const auto& y = b.list()->items;
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals_in(x[i], y[i], compared)) return false;
      }
      return true;
    }
    case 7: {
      if (a.dict() == b.dict() || !compared.emplace(a.dict().get(), b.dict().get()).second) return true;
      const auto& x = *a.dict();
      const auto& y = *b.dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [key, v] : x.entries) {
        const Value* other = y.find(key);
        if (!other || !equals_in(v, *other, compared)) return false;
      }
      return true;
    }
    default: return a.function() == b.function();
  }
}

}  // namespace

bool equals(const Value& a, const Value& b) {
  ComparedPairs compared;
  return equals_in(a, b, compared);
}

bool less_than(const Value& a, const Value& b) {
  NestingGuard guard;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.number() < b.number();
    return a.integer() < b.integer();
  }
  // UTF-8 byte order equals code point order, which is how Python compares str.
  if (a.is_string() && b.is_string()) return a.str() < b.str();
  if (a.is_list() && b.is_list()) {
    const auto& x = a.list()->items;
    const auto& y = b.list()->items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  require_defined(a);
  require_defined(b);
  throw RenderError("'<' not supported between instances of '" + type_name(a) + "' and '" +
                    type_name(b) + "'");
}

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string sci(buffer, result.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += exponent < 0 ? "e-" : "e+";
    std::string exp_digits = std::to_string(std::abs(exponent));
    if (exp_digits.size() < 2) exp_digits = "0" + exp_digits;
    return out + exp_digits;
  }
  if (exponent < 0) {
    return out + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  }
  size_t int_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= int_digits) {
    return out + digits + std::string(int_digits - digits.size(), '0') + ".0";
  }
  return out + digits.substr(0, int_digits) + "." + digits.substr(int_digits);
}

namespace {

std::string string_repr(const std::string& text) {
  bool has_single = text.find('\'') != std::string::npos;
  bool has_double = text.find('"') != std::string::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c == static_cast<unsigned char>(quote)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          static const char* hex = "0123456789abcdef";
          out += "\\x";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += quote;
  return out;
}

}  // namespace

std::string repr(const Value& value) {
  NestingGuard guard;
  if (value.is_string()) return string_repr(value.str());
  if (value.is_list()) {
    const auto& list = *value.list();
    std::string out = list.is_tuple ? "(" : "[";
    for (size_t i = 0; i < list.items.size(); ++i) {
      if (i) out += ", ";
      out += repr(list.items[i]);
      check_string_size(out.size());
    }
    if (list.is_tuple && list.items.size() == 1) out += ",";
    return out + (list.is_tuple ? ")" : "]");
  }
  if (value.is_dict()) {
    const auto& dict = *value.dict();
    std::string out = dict.is_namespace ? "<Namespace {" : "{";
    for (size_t i = 0; i < dict.entries.size(); ++i) {
      if (i) out += ", ";
      out += string_repr(dict.entries[i].first) + ": " + repr(dict.entries[i].second);
      check_string_size(out.size());
    }
    return out + (dict.is_namespace ? "}>" : "}");
  }
  return to_str(value);
}

std::string to_str(const Value& value) {
  switch (value.data.index()) {
    case 0: return "";
    case 1: return "None";
    case 2: return value.boolean() ? "True" : "False";
    case 3: return std::to_string(value.integer());
    case 4: return float_repr(value.number());
    case 5: return value.str();
    case 8: return "<function " + value.function()->name + ">";
    default: return repr(value);
  }
}

namespace {

void json_string(std::string& out, const std::string& text, bool ensure_ascii) {
  static const char* hex = "0123456789abcdef";
  auto escape_unit = [&](uint32_t unit) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += hex[(unit >> shift) & 15];
  };
  // One code unit below 0x80 (or any byte when bytes pass through), as json.dumps writes it.
  auto put_ascii = [&](unsigned char c) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) escape_unit(c); else out += static_cast<char>(c);
    }
  };
  out += '"';
  if (ensure_ascii) {
    for (char32_t cp : utf8_decode(text)) {
      if (cp < 0x80) {
        put_ascii(static_cast<unsigned char>(cp));
      } else if (cp >= 0x10000) {
        uint32_t v = cp - 0x10000;
        escape_unit(0xD800 + (v >> 10));
        escape_unit(0xDC00 + (v & 0x3FF));
      } else {
        escape_unit(cp);
      }
    }
  } else {
    for (char c : text) put_ascii(static_cast<unsigned char>(c));
  }
  out += '"';
}

void json_value(std::string& out, const Value& value, const JsonOptions& options, int depth) {
  NestingGuard guard;
  bool indented = options.indent.has_value() || !options.indent_text.empty();
  std::string item_sep = options.item_separator.value_or(indented ? "," : ", ");
  std::string key_sep = options.key_separator.value_or(": ");
  auto newline = [&](int level) {
    if (!indented) return;
    out += '\n';
    const size_t unit = options.indent ? static_cast<size_t>(std::max(0, *options.indent))
                                       : options.indent_text.size();
    check_string_size(out.size() + unit * static_cast<size_t>(std::max(0, level)));
    for (int i = 0; i < level; ++i) {
      out += options.indent ? std::string(static_cast<size_t>(std::max(0, *options.indent)), ' ')
                            : options.indent_text;
    }
  };
  switch (value.data.index()) {
    case 1: out += "null"; return;
    case 2: out += value.boolean() ? "true" : "false"; return;
    case 3: out += std::to_string(value.integer()); return;
    case 4: {
      double d = value.number();
      if (std::isnan(d)) out += "NaN";
      else if (std::isinf(d)) out += d < 0 ? "-Infinity" : "Infinity";
      else out += float_repr(d);
      return;
    }
    case 5: json_string(out, value.str(), options.ensure_ascii); return;
    case 6: {
      const auto& items = value.list()->items;
      if (items.empty()) { out += "[]"; return; }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_sep;
        newline(depth + 1);
        json_value(out, items[i], options, depth + 1);
        check_string_size(out.size());
      }
      newline(depth);
      out += ']';
      return;
    }
    case 7: {
      auto entries = value.dict()->entries;
      if (entries.empty()) { out += "{}"; return; }
      if (options.sort_keys) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out += '{';
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += item_sep;
        newline(depth + 1);
        json_string(out, entries[i].first, options.ensure_ascii);
        out += key_sep;
        json_value(out, entries[i].second, options, depth + 1);
        check_string_size(out.size());
      }
      newline(depth);
      out += '}';
      return;
    }
    default: {
      std::string type = value.is_undefined() ? "Undefined" : type_name(value);
      throw RenderError("Object of type " + type + " is not JSON serializable");
    }
  }
}

}  // namespace

std::string to_json(const Value& value, const JsonOptions& options) {
  std::string out;
  json_value(out, value, options, 0);
  return out;
}

Value from_json(const boost::json::value& json) {
  switch (json.kind()) {
    case boost::json::kind::null: return Value(None{});
    case boost::json::kind::bool_: return Value(json.get_bool());
    case boost::json::kind::int64: return Value(json.get_int64());
    case boost::json::kind::uint64: {
      uint64_t u = json.get_uint64();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case boost::json::kind::double_: return Value(json.get_double());
    case boost::json::kind::string: return Value(std::string(json.get_string()));
    case boost::json::kind::array: {
      std::vector<Value> items;
      for (const auto& element : json.get_array()) items.push_back(from_json(element));
      return Value::make_list(std::move(items));
    }
    case boost::json::kind::object: {
      auto dict = std::make_shared<Dict>();
      for (const auto& entry : json.get_object()) {
        dict->entries.emplace_back(std::string(entry.key()), from_json(entry.value()));
      }
      return Value(std::move(dict));
    }
  }
  return Value(None{});
}

std::vector<Value> iterate(const Value& value) {
  if (value.is_undefined()) return {};
  if (value.is_list()) return value.list()->items;
  if (value.is_dict()) {
    std::vector<Value> keys;
    for (const auto& entry : value.dict()->entries) keys.emplace_back(entry.first);
    return keys;
  }
  if (value.is_string()) {
    check_item_count(utf8_length(value.str()));
    std::vector<Value> characters;
    for (char32_t cp : utf8_decode(value.str())) {
      std::string one;
      utf8_append(one, cp);
      characters.emplace_back(std::move(one));
    }
    return characters;
  }
  throw RenderError("'" + type_name(value) + "' object is not iterable");
}

std::u32string utf8_decode(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (length == 0 || i + length > text.size()) {
      out.push_back(0xFFFD);  // invalid byte: keep going, one replacement per byte
      ++i;
      continue;
    }
    char32_t cp = length == 1 ? c : c & (0x7F >> length);
    for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    out.push_back(cp);
    i += length;
  }
  return out;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) utf8_append(out, cp);
  return out;
}

size_t utf8_length(std::string_view text) {
  size_t count = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
  }
  return count;
}

}  // namespace tandem::engine::jinja
