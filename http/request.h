// A parsed HTTP request as handlers see it: no Beast types, so handler code stays light.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::http {

// Header names are stored lower-case so lookups need no case folding.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/v1/models?x=1"
  std::string path;    // target without the query string
  std::string query;   // after '?', still percent-encoded
  Headers headers;
  std::string body;

  // `name` must be lower-case.
  std::optional<std::string_view> header(std::string_view name) const;
  // Decoded value of the first `name=value` pair of the query string.
  std::optional<std::string> query_param(std::string_view name) const;
};

// Splits "/a/b?x=1" into path and query.
std::pair<std::string, std::string> split_target(std::string_view target);

}  // namespace tandem::http
