// Typed reads of one JSON config object, each error naming `where`.key and what it got.
// Shared by the breaker and retry configs so both reject typos and bad values the same way.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "cloud/resilience/clock.h"
#include "cloud/resilience/config_error.h"

namespace tandem::resilience::config {

class ObjectReader {
 public:
  // Throws unless `value` is an object whose keys are all in `known`.
  ObjectReader(const boost::json::value& value, std::string_view where,
               std::initializer_list<std::string_view> known);

  // Each leaves `out` untouched when the key is absent.
  void integer(std::string_view key, int& out, int min, int max) const;
  void number(std::string_view key, double& out, double min, double max) const;
  void millis(std::string_view key, Millis& out, Millis min, Millis max) const;

 private:
  const boost::json::value* find(std::string_view key) const;
  [[noreturn]] void fail(std::string_view key, const std::string& expected,
                         const boost::json::value& got) const;

  const boost::json::object* object_;
  std::string where_;
};

}  // namespace tandem::resilience::config
