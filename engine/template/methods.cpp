// Python methods of str, dict and list objects that templates call (`content.strip()`,
// `message.get('x')`, `d.items()`), with Python's semantics on code points.
#include "engine/template/builtins.h"

#include <algorithm>
#include <array>

namespace tandem::engine::jinja {
namespace {

constexpr std::array kStringMethods = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
    "replace", "upper", "lower", "title", "capitalize", "swapcase", "find", "rfind", "index",
    "rindex", "count", "join", "format", "isdigit", "isnumeric", "isdecimal", "isalpha", "isalnum",
    "isspace", "isupper", "islower", "zfill", "ljust", "rjust", "center", "partition",
    "rpartition", "removeprefix", "removesuffix"};
constexpr std::array kDictMethods = {"items", "keys", "values", "get", "copy"};
constexpr std::array kListMethods = {"index", "count", "copy"};

template <size_t N>
bool listed(const std::array<const char*, N>& names, std::string_view name) {
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return name == n; });
}

std::string string_arg(const std::optional<Value>& v, const char* function) {
  if (!v || !v->is_string()) {
    throw RenderError(std::string(function) + "() argument must be str, not " +
                      (v ? type_name(*v) : std::string("nothing")));
  }
  return v->str();
}

int64_t int_arg(const std::optional<Value>& v, int64_t fallback, const char* function) {
  if (!v || v->is_none()) return fallback;
  if (!v->is_int() && !v->is_bool()) {
    throw RenderError(std::string(function) + "() expected an integer, got " + type_name(*v));
  }
  return v->integer();
}

char32_t map_case(char32_t c, bool upper) {
  if (upper) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if ((c >= 0xE0 && c <= 0xFE && c != 0xF7) || (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) ||
        (c >= 0x430 && c <= 0x44F)) return c - 32;
    if (c == 0xFF) return 0x178;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    if (c >= 0x100 && c <= 0x17F && c != 0x131 && c != 0x138 && c != 0x149) {
      bool odd_is_lower = !(c >= 0x139 && c <= 0x148) && !(c >= 0x179 && c <= 0x17E);
      if (odd_is_lower ? (c % 2 == 1) : (c % 2 == 0)) return c - 1;
    }
    return c;
  }
  if (c >= 'A' && c <= 'Z') return c + 32;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) ||
      (c >= 0x410 && c <= 0x42F)) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x138 && c != 0x149) {
    bool odd_is_lower = !(c >= 0x139 && c <= 0x148) && !(c >= 0x179 && c <= 0x17E);
    if (odd_is_lower ? (c % 2 == 0) : (c % 2 == 1)) return c + 1;
  }
  return c;
}

bool is_cased_letter(char32_t c) { return map_case(c, true) != c || map_case(c, false) != c; }
bool is_upper_char(char32_t c) { return map_case(c, false) != c; }
bool is_lower_char(char32_t c) { return map_case(c, true) != c; }

std::string python_title(std::string_view text) {
  std::u32string s = utf8_decode(text);
  bool previous_cased = false;
  for (char32_t& c : s) {
    c = map_case(c, !previous_cased);
    previous_cased = is_cased_letter(c);
  }
  return utf8_encode(s);
}

Value split(const std::string& text, const std::optional<Value>& sep_arg, int64_t maxsplit, bool from_right) {
  std::vector<Value> parts;
  if (!sep_arg || sep_arg->is_none()) {
    // Whitespace split: runs of whitespace separate, no empty strings.
    std::u32string s = utf8_decode(text);
    std::vector<std::u32string> words;
    if (!from_right) {
      size_t i = 0;
      while (i < s.size()) {
        while (i < s.size() && py_isspace(s[i])) ++i;
        if (i >= s.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
          size_t end = s.size();
          while (end > i && py_isspace(s[end - 1])) --end;
          words.push_back(s.substr(i, end - i));
          break;
        }
        size_t start = i;
        while (i < s.size() && !py_isspace(s[i])) ++i;
        words.push_back(s.substr(start, i - start));
      }
    } else {
      size_t i = s.size();
      while (i > 0) {
        while (i > 0 && py_isspace(s[i - 1])) --i;
        if (i == 0) break;
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
          size_t begin = 0;
          while (begin < i && py_isspace(s[begin])) ++begin;
          words.push_back(s.substr(begin, i - begin));
          break;
        }
        size_t end = i;
        while (i > 0 && !py_isspace(s[i - 1])) --i;
        words.push_back(s.substr(i, end - i));
      }
      std::reverse(words.begin(), words.end());
    }
    for (auto& w : words) parts.emplace_back(utf8_encode(w));
    return Value::make_list(std::move(parts));
  }
  std::string sep = string_arg(sep_arg, "split");
  if (sep.empty()) throw RenderError("empty separator");
  std::vector<std::string> pieces;
  if (!from_right) {
    size_t start = 0;
    for (;;) {
      size_t hit = text.find(sep, start);
      if (hit == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(pieces.size()) == maxsplit)) break;
      pieces.push_back(text.substr(start, hit - start));
      start = hit + sep.size();
    }
    pieces.push_back(text.substr(start));
  } else {
    size_t end = text.size();
    for (;;) {
      if (end < sep.size()) break;
      size_t hit = text.rfind(sep, end - sep.size());
      if (hit == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(pieces.size()) == maxsplit)) break;
      pieces.push_back(text.substr(hit + sep.size(), end - hit - sep.size()));
      end = hit;
    }
    pieces.push_back(text.substr(0, end));
    std::reverse(pieces.begin(), pieces.end());
  }
  for (auto& p : pieces) parts.emplace_back(std::move(p));
  return Value::make_list(std::move(parts));
}

std::string replace_all(const std::string& text, const std::string& old, const std::string& with, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts `with` between every character (and at both ends).
    std::u32string s = utf8_decode(text);
    int64_t done = 0;
    for (size_t i = 0; i <= s.size(); ++i) {
      if (count < 0 || done < count) {
        check_string_size(out.size() + with.size());
        out += with;
        ++done;
      }
      if (i < s.size()) utf8_append(out, s[i]);
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  for (;;) {
    size_t hit = text.find(old, start);
    if (hit == std::string::npos || (count >= 0 && done >= count)) break;
    out.append(text, start, hit - start);
    check_string_size(out.size() + with.size());
    out += with;
    start = hit + old.size();
    ++done;
  }
  out.append(text, start, std::string::npos);
  return out;
}

bool affix_match(const std::string& text, const Value& affix, bool prefix) {
  auto one = [&](const Value& v) {
    if (!v.is_string()) throw RenderError("startswith/endswith first arg must be str or a tuple of str");
    const std::string& a = v.str();
    if (a.size() > text.size()) return false;
    return prefix ? text.compare(0, a.size(), a) == 0 : text.compare(text.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_list()) {
    return std::any_of(affix.list()->items.begin(), affix.list()->items.end(), one);
  }
  return one(affix);
}

// Python's str.format with {} / {0} / {name} fields and optional `:spec` ignored beyond the value.
std::string python_format(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') { out += '{'; ++i; continue; }
    if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') { out += '}'; ++i; continue; }
    if (c != '{') { out += c; continue; }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos) throw RenderError("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    field = field.substr(0, field.find_first_of(":!"));
    const Value* value = nullptr;
    if (field.empty()) {
      if (auto_index < args.positional.size()) value = &args.positional[auto_index++];
    } else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      // More digits than any argument list can have: simply out of range (stoul would throw).
      size_t index = field.size() > 9 ? args.positional.size() : std::stoul(field);
      if (index < args.positional.size()) value = &args.positional[index];
    } else {
      for (const auto& [key, v] : args.named) {
        if (key == field) value = &v;
      }
    }
    if (!value) throw RenderError("format(): no argument for field '{" + field + "}'");
    out += to_str(*value);
    i = close;
  }
  return out;
}

bool all_chars(const std::string& text, bool (*predicate)(char32_t)) {
  std::u32string s = utf8_decode(text);
  return !s.empty() && std::all_of(s.begin(), s.end(), predicate);
}

Value string_method(const std::string& text, std::string_view name, CallArgs& args) {
  auto arg = [&](size_t i, const char* keyword) { return args.take(i, keyword); };
  std::string fname(name);
  Value result;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    auto chars = arg(0, "chars");
    result = Value(py_strip(text, chars.value_or(Value(None{})), name != "rstrip", name != "lstrip"));
  } else if (name == "split" || name == "rsplit") {
    auto sep = arg(0, "sep");
    int64_t maxsplit = int_arg(arg(1, "maxsplit"), -1, fname.c_str());
    result = split(text, sep, maxsplit, name == "rsplit");
  } else if (name == "splitlines") {
    bool keepends = truthy(arg(0, "keepends").value_or(Value(false)));
    std::vector<Value> lines;
    size_t start = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n' || text[i] == '\r') {
        size_t end = i;
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
        lines.emplace_back(text.substr(start, (keepends ? i + 1 : end) - start));
        start = i + 1;
      }
    }
    if (start < text.size()) lines.emplace_back(text.substr(start));
    result = Value::make_list(std::move(lines));
  } else if (name == "startswith" || name == "endswith") {
    auto affix = arg(0, "prefix");
    if (!affix) throw RenderError(fname + "() takes at least 1 argument (0 given)");
    result = Value(affix_match(text, *affix, name == "startswith"));
  } else if (name == "replace") {
    std::string old = string_arg(arg(0, "old"), "replace");
    std::string with = string_arg(arg(1, "new"), "replace");
    result = Value(replace_all(text, old, with, int_arg(arg(2, "count"), -1, "replace")));
  } else if (name == "upper") {
    result = Value(py_upper(text));
  } else if (name == "lower") {
    result = Value(py_lower(text));
  } else if (name == "title") {
    result = Value(python_title(text));
  } else if (name == "capitalize") {
    result = Value(py_capitalize(text));
  } else if (name == "swapcase") {
    std::u32string s = utf8_decode(text);
    for (char32_t& c : s) c = is_upper_char(c) ? map_case(c, false) : map_case(c, true);
    result = Value(utf8_encode(s));
  } else if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    std::string sub = string_arg(arg(0, "sub"), fname.c_str());
    size_t hit = (name == "find" || name == "index") ? text.find(sub) : text.rfind(sub);
    if (hit == std::string::npos) {
      if (name == "index" || name == "rindex") throw RenderError("substring not found");
      result = Value(-1);
    } else {
      result = Value(static_cast<int64_t>(utf8_length(std::string_view(text).substr(0, hit))));
    }
  } else if (name == "count") {
    std::string sub = string_arg(arg(0, "sub"), "count");
    int64_t n = 0;
    if (sub.empty()) {
      n = static_cast<int64_t>(utf8_length(text)) + 1;
    } else {
      for (size_t at = text.find(sub); at != std::string::npos; at = text.find(sub, at + sub.size())) ++n;
    }
    result = Value(n);
  } else if (name == "join") {
    auto items = arg(0, "iterable");
    if (!items) throw RenderError("join() takes exactly one argument (0 given)");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(*items)) {
      if (!item.is_string()) throw RenderError("sequence item: expected str instance, " + type_name(item) + " found");
      if (!first) out += text;
      check_string_size(out.size() + item.str().size());
      out += item.str();
      first = false;
    }
    result = Value(std::move(out));
  } else if (name == "format") {
    return Value(python_format(text, args));
  } else if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") {
    result = Value(all_chars(text, [](char32_t c) { return c >= '0' && c <= '9'; }));
  } else if (name == "isalpha") {
    result = Value(all_chars(text, [](char32_t c) { return is_cased_letter(c); }));
  } else if (name == "isalnum") {
    result = Value(all_chars(text, [](char32_t c) { return is_cased_letter(c) || (c >= '0' && c <= '9'); }));
  } else if (name == "isspace") {
    result = Value(all_chars(text, py_isspace));
  } else if (name == "isupper" || name == "islower") {
    std::u32string s = utf8_decode(text);
    bool any_cased = false, ok = true;
    for (char32_t c : s) {
      if (!is_cased_letter(c)) continue;
      any_cased = true;
      if (name == "isupper" ? is_lower_char(c) : is_upper_char(c)) ok = false;
    }
    result = Value(any_cased && ok);
  } else if (name == "zfill" || name == "ljust" || name == "rjust" || name == "center") {
    int64_t width = int_arg(arg(0, "width"), 0, fname.c_str());
    std::string fill = name == "zfill" ? "0" : " ";
    if (name != "zfill") {
      if (auto f = arg(1, "fillchar")) fill = string_arg(f, fname.c_str());
    }
    int64_t missing = width - static_cast<int64_t>(utf8_length(text));
    std::string out = text;
    if (missing > 0) {
      check_string_size(text.size() + static_cast<size_t>(missing) * fill.size());
      auto pad = [&](int64_t n) { std::string p; for (int64_t i = 0; i < n; ++i) p += fill; return p; };
      if (name == "ljust") {
        out = text + pad(missing);
      } else if (name == "center") {
        int64_t left = missing / 2 + (missing & width & 1);
        out = pad(left) + text + pad(missing - left);
      } else if (name == "zfill" && !text.empty() && (text[0] == '-' || text[0] == '+')) {
        out = text.substr(0, 1) + pad(missing) + text.substr(1);
      } else {
        out = pad(missing) + text;
      }
    }
    result = Value(std::move(out));
  } else if (name == "partition" || name == "rpartition") {
    std::string sep = string_arg(arg(0, "sep"), fname.c_str());
    size_t hit = name == "partition" ? text.find(sep) : text.rfind(sep);
    std::vector<Value> parts;
    if (hit == std::string::npos) {
      parts = name == "partition" ? std::vector<Value>{Value(text), Value(""), Value("")}
                                  : std::vector<Value>{Value(""), Value(""), Value(text)};
    } else {
      parts = {Value(text.substr(0, hit)), Value(sep), Value(text.substr(hit + sep.size()))};
    }
    result = Value::make_list(std::move(parts), true);
  } else if (name == "removeprefix" || name == "removesuffix") {
    std::string affix = string_arg(arg(0, "affix"), fname.c_str());
    bool prefix = name == "removeprefix";
    if (affix_match(text, Value(affix), prefix)) {
      result = Value(prefix ? text.substr(affix.size()) : text.substr(0, text.size() - affix.size()));
    } else {
      result = Value(text);
    }
  }
  args.expect_consumed(fname);
  return result;
}

Value dict_method(const Value& object, std::string_view name, CallArgs& args) {
  const Dict& dict = *object.dict();
  std::string fname(name);
  Value result;
  if (name == "items") {
    std::vector<Value> pairs;
    for (const auto& [k, v] : dict.entries) pairs.push_back(Value::make_list({Value(k), v}, true));
    result = Value::make_list(std::move(pairs));
  } else if (name == "keys") {
    std::vector<Value> keys;
    for (const auto& entry : dict.entries) keys.emplace_back(entry.first);
    result = Value::make_list(std::move(keys));
  } else if (name == "values") {
    std::vector<Value> values;
    for (const auto& entry : dict.entries) values.push_back(entry.second);
    result = Value::make_list(std::move(values));
  } else if (name == "get") {
    auto key = args.take(0, "key");
    auto fallback = args.take(1, "default");
    if (!key) throw RenderError("get expected at least 1 argument, got 0");
    const Value* found = key->is_string() ? dict.find(key->str()) : nullptr;
    result = found ? *found : fallback.value_or(Value(None{}));
  } else if (name == "copy") {
    auto copy = std::make_shared<Dict>(dict);
    result = Value(std::move(copy));
  }
  args.expect_consumed(fname);
  return result;
}

Value list_method(const Value& object, std::string_view name, CallArgs& args) {
  const auto& items = object.list()->items;
  std::string fname(name);
  Value result;
  if (name == "copy") {
    result = Value::make_list(items, object.list()->is_tuple);
  } else {
    auto needle = args.take(0, "value");
    if (!needle) throw RenderError(fname + "() takes exactly one argument (0 given)");
    int64_t count = 0;
    int64_t found = -1;
    for (size_t i = 0; i < items.size(); ++i) {
      if (equals(items[i], *needle)) {
        if (found < 0) found = static_cast<int64_t>(i);
        ++count;
      }
    }
    if (name == "index" && found < 0) throw RenderError(repr(*needle) + " is not in list");
    result = Value(name == "index" ? found : count);
  }
  args.expect_consumed(fname);
  return result;
}

}  // namespace

bool py_isspace(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 ||
         c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string py_strip(std::string_view text, const Value& chars, bool left, bool right) {
  std::u32string s = utf8_decode(text);
  std::u32string set;
  bool whitespace = chars.is_none() || chars.is_undefined();
  if (!whitespace) {
    if (!chars.is_string()) throw RenderError("strip arg must be None or str");
    set = utf8_decode(chars.str());
  }
  auto strippable = [&](char32_t c) { return whitespace ? py_isspace(c) : set.find(c) != std::u32string::npos; };
  size_t begin = 0, end = s.size();
  if (left) while (begin < end && strippable(s[begin])) ++begin;
  if (right) while (end > begin && strippable(s[end - 1])) --end;
  return utf8_encode(s.substr(begin, end - begin));
}

std::string py_upper(std::string_view text) {
  std::u32string s = utf8_decode(text);
  std::u32string out;
  for (char32_t c : s) {
    if (c == 0xDF) out += U"SS";  // ß
    else out += map_case(c, true);
  }
  return utf8_encode(out);
}

std::string py_lower(std::string_view text) {
  std::u32string s = utf8_decode(text);
  for (char32_t& c : s) c = map_case(c, false);
  return utf8_encode(s);
}

std::string py_capitalize(std::string_view text) {
  std::u32string s = utf8_decode(text);
  for (size_t i = 0; i < s.size(); ++i) s[i] = map_case(s[i], i == 0);
  return utf8_encode(s);
}

bool has_method(const Value& object, std::string_view name) {
  if (object.is_string()) return listed(kStringMethods, name);
  if (object.is_dict()) return !object.dict()->is_namespace && listed(kDictMethods, name);
  if (object.is_list()) return listed(kListMethods, name);
  return false;
}

std::optional<Value> call_method(const Value& object, std::string_view name, CallArgs& args) {
  if (!has_method(object, name)) return std::nullopt;
  if (object.is_string()) return string_method(object.str(), name, args);
  if (object.is_dict()) return dict_method(object, name, args);
  return list_method(object, name, args);
}

std::optional<std::string> unsafe_attribute(const Value& object, std::string_view name) {
  static constexpr std::array kListMutators = {"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"};
  static constexpr std::array kDictMutators = {"update", "pop", "popitem", "setdefault", "clear"};
  bool unsafe = (object.is_list() && listed(kListMutators, name)) ||
                (object.is_dict() && !object.dict()->is_namespace && listed(kDictMutators, name));
  if (!unsafe) return std::nullopt;
  // What Hugging Face's ImmutableSandboxedEnvironment answers.
  return "access to attribute '" + std::string(name) + "' of '" + type_name(object) + "' object is unsafe.";
}

}  // namespace tandem::engine::jinja
