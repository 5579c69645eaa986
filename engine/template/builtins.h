// Built-in filters, tests, global functions and methods of str/dict/list — the subset of Jinja2
// and Python that real chat templates use.
#pragma once

#include "engine/template/value.h"

#include <chrono>
#include <optional>
#include <string_view>

namespace tandem::engine::jinja {

bool has_filter(std::string_view name);
bool has_test(std::string_view name);

// `input | name(args)`. Throws RenderError.
Value apply_filter(Interpreter& interpreter, std::string_view name, const Value& input, CallArgs& args);
// `input is name(args)`.
bool apply_test(Interpreter& interpreter, std::string_view name, const Value& input, CallArgs& args);

// `object.name(args)` for str, dict and list objects; nullopt when `object` has no such method.
std::optional<Value> call_method(const Value& object, std::string_view name, CallArgs& args);
// The sandbox's refusal for mutating methods (list.append, dict.update, ...), else nullopt.
std::optional<std::string> unsafe_attribute(const Value& object, std::string_view name);
// Whether `object.name` names a method (so attribute access yields a bound method).
bool has_method(const Value& object, std::string_view name);

// The globals every render sees: range, dict, namespace, raise_exception, strftime_now, cycler,
// joiner. `pinned` feeds strftime_now (as UTC); unset, strftime_now reads the real local time.
void add_globals(Dict& globals, std::optional<std::chrono::system_clock::time_point> pinned);

// Python str methods used by filters too.
std::string py_strip(std::string_view text, const Value& chars, bool left, bool right);
std::string py_upper(std::string_view text);
std::string py_lower(std::string_view text);
std::string py_capitalize(std::string_view text);
bool py_isspace(char32_t c);
// Python's printf-style `fmt % args` (%s %r %d %i %f %x %%, with flags/width/precision).
std::string py_percent_format(const std::string& fmt, const std::vector<Value>& args);

}  // namespace tandem::engine::jinja
