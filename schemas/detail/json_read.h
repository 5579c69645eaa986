// Private to schemas/: the declarative field readers the request parsers are written with. Each
// reader names the field path in its error ("messages[2].content[0].text: must be a string"), so
// the parsers read like a list of the protocol's rules. Violations throw FieldError, which the
// entry points turn into a 400 ApiError.
#pragma once

#include "schemas/errors.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::schemas::detail {

struct FieldError : std::runtime_error {
  FieldError(std::string param, std::string what_failed)
      : std::runtime_error(param.empty() ? what_failed : param + ": " + what_failed),
        param(std::move(param)) {}
  std::string param;
};

[[noreturn]] void fail(const std::string& path, std::string_view what);

std::string child(const std::string& path, std::string_view key);  // "a" + "b" -> "a.b"
std::string index(const std::string& path, size_t i);              // "a" + 2 -> "a[2]"
std::string format_number(double value);                           // 1 -> "1", 0.5 -> "0.5"
std::string_view kind_name(const boost::json::value& value);       // "a string", "an array", ...

// An object's fields under a path. JSON null counts as absent: clients send `"stop": null`.
class Fields {
 public:
  Fields(const boost::json::object& object, std::string path);
  static Fields of(const boost::json::value& value, const std::string& path);  // must be an object

  const std::string& path() const { return path_; }
  std::string at(std::string_view key) const { return child(path_, key); }
  const boost::json::value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  const boost::json::value& require(std::string_view key) const;

  std::string required_string(std::string_view key) const;
  std::optional<std::string> string(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<double> number(std::string_view key, double low, double high) const;
  std::optional<double> number(std::string_view key) const;
  std::optional<int64_t> integer(std::string_view key, int64_t low, int64_t high) const;
  std::optional<int64_t> integer_at_least(std::string_view key, int64_t low) const;
  const boost::json::array* array(std::string_view key) const;
  std::optional<Fields> object(std::string_view key) const;
  // One of the listed strings; the error lists them.
  std::optional<std::string> one_of(std::string_view key, std::initializer_list<std::string_view> allowed) const;
  // one_of() for a key that must be there: absent (or null) fails with "field required".
  std::string required_one_of(std::string_view key, std::initializer_list<std::string_view> allowed) const;

 private:
  const boost::json::object* object_;
  std::string path_;
};

std::string as_string(const boost::json::value& value, const std::string& path);
const boost::json::array& as_array(const boost::json::value& value, const std::string& path);
int64_t as_integer(const boost::json::value& value, const std::string& path);

// The request body as a JSON object, or the 400 for: wrong content type (a missing one counts as
// JSON), empty body, malformed JSON (naming line, column and offset), a non-object top level.
Result<boost::json::value> parse_json_body(std::string_view body, std::string_view content_type);
// Malformed JSON only (provider responses): the same messages, no content-type rule. The value is
// built on `storage` (the default resource when empty): a caller whose value dies with the call
// passes a monotonic_resource over a stack buffer and saves a malloc and free per node.
Result<boost::json::value> parse_json_text(std::string_view text, boost::json::storage_ptr storage = {});

// Runs a parser body, turning FieldError into the 400 ApiError.
template <class T, class F>
Result<T> catching_field_errors(F&& parse) {
  try {
    return parse();
  } catch (const FieldError& error) {
    return make_error(ErrorKind::invalid_request, error.what(), error.param);
  }
}

}  // namespace tandem::schemas::detail
