// An independent JSON Schema validator for the constraint tests: it shares no code with
// engine/constrain and checks the parsed document (Boost.JSON, strict parsing) against the
// schema's meaning, not against how the grammar was built. Returns "" when valid, else where
// and why it is not.
#pragma once

#include <boost/json.hpp>

#include <cmath>
#include <cstdint>
#include <regex>
#include <string>

namespace tandem::test {

namespace json = boost::json;

inline size_t code_points(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

inline bool valid_date(const std::string& s) {
  static const std::regex shape("^([0-9]{4})-([0-9]{2})-([0-9]{2})$");
  std::smatch m;
  if (!std::regex_match(s, m, shape)) return false;
  const int year = std::stoi(m[1]), month = std::stoi(m[2]), day = std::stoi(m[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return day <= days[month - 1] + (month == 2 && leap ? 1 : 0);
}

inline bool valid_uuid(const std::string& s) {
  static const std::regex shape("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
  return std::regex_match(s, shape);
}

class SchemaValidator {
 public:
  explicit SchemaValidator(const json::value& root) : root_(root) {}

  std::string validate(const json::value& value) const { return check(root_, value, "$"); }

 private:
  const json::value& resolve(const std::string& ref) const {
    const json::value* at = &root_;
    size_t pos = 1;  // after '#'
    while (pos < ref.size()) {
      size_t next = ref.find('/', pos + 1);
      std::string token = ref.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
      at = &at->as_object().at(token);
      pos = next == std::string::npos ? ref.size() : next;
    }
    return *at;
  }

  static bool is_integer(const json::value& v) {
    if (v.is_int64() || v.is_uint64()) return true;
    return v.is_double() && std::isfinite(v.get_double()) && std::floor(v.get_double()) == v.get_double();
  }

  static bool has_type(const json::value& v, std::string_view type) {
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "string") return v.is_string();
    if (type == "number") return v.is_number();
    if (type == "integer") return is_integer(v);
    if (type == "boolean") return v.is_bool();
    if (type == "null") return v.is_null();
    return false;
  }

  std::string check(const json::value& schema, const json::value& v, const std::string& at) const {
    if (schema.is_bool()) return schema.get_bool() ? "" : at + ": schema false";
    const json::object& s = schema.as_object();
    if (auto* ref = s.if_contains("$ref")) return check(resolve(std::string(ref->as_string())), v, at);
    if (auto* any = s.if_contains("anyOf")) {
      for (const auto& alt : any->as_array())
        if (check(alt, v, at).empty()) return "";
      return at + ": matches no anyOf alternative";
    }
    if (auto* one = s.if_contains("oneOf")) {
      int matches = 0;
      for (const auto& alt : one->as_array()) matches += check(alt, v, at).empty();
      return matches == 1 ? "" : at + ": matches " + std::to_string(matches) + " oneOf alternatives";
    }
    if (auto* c = s.if_contains("const"))
      if (*c != v) return at + ": is not the const " + json::serialize(*c);
    if (auto* e = s.if_contains("enum")) {
      bool found = false;
      for (const auto& item : e->as_array()) found = found || item == v;
      if (!found) return at + ": not in the enum";
    }
    if (auto* t = s.if_contains("type")) {
      bool ok = false;
      if (t->is_string()) ok = has_type(v, t->as_string());
      else
        for (const auto& name : t->as_array()) ok = ok || has_type(v, name.as_string());
      if (!ok) return at + ": wrong type for " + json::serialize(*t);
    }
    if (v.is_object()) {
      const auto& o = v.get_object();
      const json::object* props = s.contains("properties") ? &s.at("properties").as_object() : nullptr;
      if (auto* req = s.if_contains("required"))
        for (const auto& name : req->as_array())
          if (!o.contains(name.as_string())) return at + ": misses required " + std::string(name.as_string());
      for (const auto& [key, value] : o) {
        const std::string here = at + "." + std::string(key);
        if (props && props->contains(key)) {
          if (auto r = check(props->at(key), value, here); !r.empty()) return r;
        } else if (auto* extra = s.if_contains("additionalProperties")) {
          if (auto r = check(*extra, value, here); !r.empty()) return r;
        }
      }
    }
    if (v.is_array()) {
      const auto& a = v.get_array();
      if (auto* n = s.if_contains("minItems"); n && a.size() < n->to_number<uint64_t>()) return at + ": too few items";
      if (auto* n = s.if_contains("maxItems"); n && a.size() > n->to_number<uint64_t>()) return at + ": too many items";
      if (auto* items = s.if_contains("items"))
        for (size_t i = 0; i < a.size(); ++i)
          if (auto r = check(*items, a[i], at + "[" + std::to_string(i) + "]"); !r.empty()) return r;
    }
    if (v.is_string()) {
      const std::string text(v.get_string());
      const size_t n = code_points(text);
      if (auto* m = s.if_contains("minLength"); m && n < m->to_number<uint64_t>()) return at + ": too short";
      if (auto* m = s.if_contains("maxLength"); m && n > m->to_number<uint64_t>()) return at + ": too long";
      if (auto* f = s.if_contains("format")) {
        if (*f == "date" && !valid_date(text)) return at + ": not a date: " + text;
        if (*f == "uuid" && !valid_uuid(text)) return at + ": not a uuid: " + text;
      }
    }
    return "";
  }

  const json::value& root_;
};

// Parses strictly (no comments, no trailing commas, valid UTF-8) and validates.
inline std::string parse_and_validate(const std::string& text, const json::value& schema) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 256;
  json::value doc = json::parse(text, ec, {}, options);
  if (ec) return "not JSON (" + ec.message() + "): " + text;
  auto r = SchemaValidator(schema).validate(doc);
  return r.empty() ? r : r + " in " + text;
}

}  // namespace tandem::test
