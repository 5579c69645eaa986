#include "cloud/resilience/config_fields.h"

#include <cmath>
#include <limits>

#include <boost/json/serialize.hpp>

namespace tandem::resilience::config {
namespace json = boost::json;

namespace {

std::string describe(const json::value& value) {
  std::string text = json::serialize(value);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

std::string format_number(double value) {
  std::string text = std::to_string(value);
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

// Integral JSON numbers of either representation; doubles only when they are whole.
bool whole_number(const json::value& value, int64_t& out) {
  if (value.is_int64()) return out = value.get_int64(), true;
  if (value.is_uint64()) {
    if (value.get_uint64() > uint64_t(std::numeric_limits<int64_t>::max())) return false;
    return out = int64_t(value.get_uint64()), true;
  }
  if (value.is_double()) {
    double d = value.get_double();
    if (std::trunc(d) != d || std::abs(d) > 9e15) return false;
    return out = int64_t(d), true;
  }
  return false;
}

}  // namespace

ObjectReader::ObjectReader(const json::value& value, std::string_view where,
                           std::initializer_list<std::string_view> known)
    : object_(value.if_object()), where_(where) {
  if (!object_) throw ConfigError(where_ + " must be a JSON object (got " + describe(value) + ")");
  for (const auto& entry : *object_) {
    bool listed = false;
    for (std::string_view name : known) listed = listed || entry.key() == name;
    if (listed) continue;
    std::string names;
    for (std::string_view name : known) names += (names.empty() ? "" : ", ") + std::string(name);
    throw ConfigError(where_ + "." + std::string(entry.key()) + ": unknown key (known: " + names + ")");
  }
}

const json::value* ObjectReader::find(std::string_view key) const { return object_->if_contains(key); }

void ObjectReader::fail(std::string_view key, const std::string& expected, const json::value& got) const {
  throw ConfigError(where_ + "." + std::string(key) + " must be " + expected + " (got " + describe(got) + ")");
}

void ObjectReader::integer(std::string_view key, int& out, int min, int max) const {
  const json::value* value = find(key);
  if (!value) return;
  int64_t n = 0;
  if (!whole_number(*value, n) || n < min || n > max)
    fail(key, "an integer from " + std::to_string(min) + " to " + std::to_string(max), *value);
  out = int(n);
}

void ObjectReader::number(std::string_view key, double& out, double min, double max) const {
  const json::value* value = find(key);
  if (!value) return;
  double d = value->is_number() ? value->to_number<double>() : std::nan("");
  if (!(d >= min && d <= max))
    fail(key, "a number from " + format_number(min) + " to " + format_number(max), *value);
  out = d;
}

void ObjectReader::millis(std::string_view key, Millis& out, Millis min, Millis max) const {
  const json::value* value = find(key);
  if (!value) return;
  int64_t n = 0;
  if (!whole_number(*value, n) || n < min.count() || n > max.count())
    fail(key, "a whole number of milliseconds from " + std::to_string(min.count()) + " to " +
                  std::to_string(max.count()), *value);
  out = Millis(n);
}

}  // namespace tandem::resilience::config
