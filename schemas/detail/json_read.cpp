#include "schemas/detail/json_read.h"

#include <boost/json.hpp>

#include <cctype>
#include <cmath>
#include <cstdio>

namespace tandem::schemas::detail {

namespace json = boost::json;

void fail(const std::string& path, std::string_view what) { throw FieldError(path, std::string(what)); }

std::string child(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out = path;
  out += '.';
  out += key;
  return out;
}

std::string index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

std::string format_number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.15g", value);
  return buffer;
}

std::string_view kind_name(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

static std::string expected(std::string_view what, const json::value& got) {
  return "must be " + std::string(what) + ", got " + std::string(kind_name(got));
}

Fields::Fields(const json::object& object, std::string path) : object_(&object), path_(std::move(path)) {}

Fields Fields::of(const json::value& value, const std::string& path) {
  if (!value.is_object()) fail(path, expected("an object", value));
  return Fields(value.get_object(), path);
}

const json::value* Fields::find(std::string_view key) const {
  auto* found = object_->if_contains(key);
  if (found == nullptr || found->is_null()) return nullptr;
  return found;
}

const json::value& Fields::require(std::string_view key) const {
  auto* found = find(key);
  if (found == nullptr) fail(at(key), "field required");
  return *found;
}

// The readers below check the usual case first and build the field's path (at(key), a string)
// only for the error: a request or a provider's event reads dozens of fields.

std::string Fields::required_string(std::string_view key) const {
  const auto& value = require(key);
  if (value.is_string()) return std::string(value.get_string());
  return as_string(value, at(key));
}

std::optional<std::string> Fields::string(std::string_view key) const {
  auto* found = find(key);
  if (found == nullptr) return std::nullopt;
  if (found->is_string()) return std::string(found->get_string());
  return as_string(*found, at(key));
}

std::optional<bool> Fields::boolean(std::string_view key) const {
  auto* found = find(key);
  if (found == nullptr) return std::nullopt;
  if (!found->is_bool()) fail(at(key), expected("a boolean", *found));
  return found->get_bool();
}

std::optional<double> Fields::number(std::string_view key) const {
  auto* found = find(key);
  if (found == nullptr) return std::nullopt;
  if (!found->is_number()) fail(at(key), expected("a number", *found));
  return found->to_number<double>();
}

std::optional<double> Fields::number(std::string_view key, double low, double high) const {
  auto value = number(key);
  if (value && !(*value >= low && *value <= high)) {
    fail(at(key), "must be between " + format_number(low) + " and " + format_number(high));
  }
  return value;
}

int64_t as_integer(const json::value& value, const std::string& path) {
  if (value.is_int64()) return value.get_int64();
  if (value.is_uint64()) {
    if (value.get_uint64() > uint64_t(INT64_MAX)) fail(path, "is too large");
    return int64_t(value.get_uint64());
  }
  if (value.is_double()) {
    double d = value.get_double();
    // Clients written in JavaScript may send 100.0; anything fractional is a real mistake.
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return int64_t(d);
    fail(path, "must be an integer");
  }
  fail(path, expected("an integer", value));
}

std::optional<int64_t> Fields::integer(std::string_view key, int64_t low, int64_t high) const {
  auto* found = find(key);
  if (found == nullptr) return std::nullopt;
  int64_t value = found->is_int64() ? found->get_int64() : as_integer(*found, at(key));
  if (value < low || value > high) {
    fail(at(key), "must be between " + std::to_string(low) + " and " + std::to_string(high));
  }
  return value;
}

std::optional<int64_t> Fields::integer_at_least(std::string_view key, int64_t low) const {
  auto* found = find(key);
  if (found == nullptr) return std::nullopt;
  int64_t value = found->is_int64() ? found->get_int64() : as_integer(*found, at(key));
  if (value < low) fail(at(key), "must be at least " + std::to_string(low));
  return value;
}

const json::array* Fields::array(std::string_view key) const {
  auto* found = find(key);
  if (found == nullptr) return nullptr;
  if (found->is_array()) return &found->get_array();
  return &as_array(*found, at(key));
}

std::optional<Fields> Fields::object(std::string_view key) const {
  auto* found = find(key);
  if (found == nullptr) return std::nullopt;
  return Fields::of(*found, at(key));
}

std::optional<std::string> Fields::one_of(std::string_view key,
                                          std::initializer_list<std::string_view> allowed) const {
  auto value = string(key);
  if (!value) return value;
  for (auto candidate : allowed) {
    if (*value == candidate) return value;
  }
  std::string list;
  for (auto candidate : allowed) {
    if (!list.empty()) list += ", ";
    list += "'" + std::string(candidate) + "'";
  }
  fail(at(key), "must be one of " + list + ", got '" + *value + "'");
}

std::string Fields::required_one_of(std::string_view key, std::initializer_list<std::string_view> allowed) const {
  auto value = one_of(key, allowed);
  if (!value) fail(at(key), "field required");
  return std::move(*value);
}

std::string as_string(const json::value& value, const std::string& path) {
  if (!value.is_string()) fail(path, expected("a string", value));
  return std::string(value.get_string());
}

const json::array& as_array(const json::value& value, const std::string& path) {
  if (!value.is_array()) fail(path, expected("an array", value));
  return value.get_array();
}

static std::string lower_trimmed(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  std::string out(text.substr(begin, end - begin));
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

static bool is_json_media_type(std::string_view content_type) {
  std::string media = lower_trimmed(content_type.substr(0, content_type.find(';')));
  if (media.empty() || media == "application/json") return true;
  return media.size() > 5 && media.starts_with("application/") && media.ends_with("+json");
}

Result<json::value> parse_json_text(std::string_view text, json::storage_ptr storage) {
  json::parse_options options;
  options.max_depth = 64;
  // The parser's temporary stack lives here while it fits (most requests): no heap allocations
  // for it. The value itself is built on the caller's resource, as it outlives this call.
  unsigned char temporary[4096];
  json::stream_parser parser({}, options, temporary, sizeof temporary);
  parser.reset(std::move(storage));
  json::error_code ec;
  size_t consumed = parser.write_some(text.data(), text.size(), ec);
  if (!ec && !parser.done()) {
    parser.finish(ec);  // a top-level number is only complete at end of input
    if (ec) consumed = text.size();
  }
  if (!ec && consumed < text.size()) {
    // Whitespace after the document is fine; anything else is a second value.
    size_t rest = consumed;
    while (rest < text.size() && std::isspace(static_cast<unsigned char>(text[rest]))) ++rest;
    if (rest < text.size()) {
      consumed = rest;
      ec = json::error::extra_data;
    }
  }
  if (ec) {
    size_t offset = std::min(consumed, text.size());
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return make_error(ErrorKind::invalid_request,
                      "invalid JSON at line " + std::to_string(line) + " column " + std::to_string(column) +
                          " (offset " + std::to_string(offset) + "): " + ec.message());
  }
  return parser.release();
}

Result<json::value> parse_json_body(std::string_view body, std::string_view content_type) {
  if (!is_json_media_type(content_type)) {
    return make_error(ErrorKind::invalid_request,
                      "Content-Type must be application/json, got '" + std::string(content_type) + "'");
  }
  bool blank = true;
  for (char c : body) {
    if (!std::isspace(static_cast<unsigned char>(c))) {
      blank = false;
      break;
    }
  }
  if (blank) return make_error(ErrorKind::invalid_request, "request body is empty; expected a JSON object");
  auto parsed = parse_json_text(body);
  if (!parsed) return parsed;
  if (!parsed->is_object()) {
    return make_error(ErrorKind::invalid_request,
                      "request body must be a JSON object, got " + std::string(kind_name(*parsed)));
  }
  return parsed;
}

}  // namespace tandem::schemas::detail
