#include "http/server.h"

#include <stdexcept>

namespace tandem::http {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 1;  // paths start with '/'
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

bool is_param(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool is_rest_param(std::string_view segment) {
  return is_param(segment) && segment[segment.size() - 2] == '*';
}

// Matches `path` against the pattern segments; fills `params` on success.
// Walks the path's segments as it goes (no vector of them: this runs for every route on every
// request).
bool match_segments(const std::vector<std::string>& pattern, std::string_view path,
                    std::vector<std::pair<std::string, std::string>>& params) {
  if (path.empty() || path.front() != '/') return false;
  params.clear();
  std::size_t offset = 1;  // where the next segment starts in `path`
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const auto& expected = pattern[i];
    if (offset > path.size()) return false;  // the path has fewer segments
    if (is_rest_param(expected)) {
      std::string rest(path.substr(offset));
      if (rest.empty()) return false;
      params.emplace_back(expected.substr(1, expected.size() - 3), std::move(rest));
      return true;
    }
    auto slash = path.find('/', offset);
    if (slash == std::string_view::npos) slash = path.size();
    const std::string_view segment = path.substr(offset, slash - offset);
    if (is_param(expected)) {
      if (segment.empty()) return false;
      params.emplace_back(expected.substr(1, expected.size() - 2), std::string(segment));
    } else if (segment != expected) {
      return false;
    }
    offset = slash + 1;
  }
  return offset == path.size() + 1;  // no segment left
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + pattern);
  }
  Route route{std::move(method), std::move(pattern), {}, std::move(handler)};
  for (auto segment : split_path(route.pattern)) route.segments.emplace_back(segment);
  for (std::size_t i = 0; i + 1 < route.segments.size(); ++i) {
    if (is_rest_param(route.segments[i])) {
      throw std::invalid_argument("{name*} must be the last segment: " + route.pattern);
    }
  }
  routes_.push_back(std::move(route));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match result;
  std::vector<std::pair<std::string, std::string>> params;
  for (const auto& route : routes_) {
    if (!match_segments(route.segments, path, params)) continue;
    if (route.method == method) {
      result.handler = &route.handler;
      result.route = route.pattern;
      result.params = std::move(params);
      result.allowed_methods.clear();
      return result;
    }
    if (result.allowed_methods.find(route.method) == std::string::npos) {
      if (!result.allowed_methods.empty()) result.allowed_methods += ", ";
      result.allowed_methods += route.method;
      result.route = route.pattern;
    }
  }
  return result;
}

}  // namespace tandem::http
