#include "engine/stop_strings.h"

#include <algorithm>

namespace tandem::engine {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

StopStringMatcher::Result StopStringMatcher::push(std::string_view text) {
  Result result;
  if (stopped_) return result;
  pending_.append(text);

  // The earliest match wins: text before it is released, the rest is dropped.
  size_t match_pos = std::string::npos;
  const std::string* match = nullptr;
  for (const auto& stop : stops_) {
    size_t pos = pending_.find(stop);
    if (pos != std::string::npos && (pos < match_pos || (pos == match_pos && stop.size() > match->size()))) {
      match_pos = pos;
      match = &stop;
    }
  }
  if (match) {
    result.released = pending_.substr(0, match_pos);
    result.stop = *match;
    pending_.clear();
    stopped_ = true;
    return result;
  }

  // Hold back the longest tail of pending_ that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const auto& stop : stops_) {
    size_t max_len = std::min(stop.size() - 1, pending_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (std::string_view(pending_).substr(pending_.size() - len) == std::string_view(stop).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  result.released = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return result;
}

std::string StopStringMatcher::flush() {
  if (stopped_) return {};
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

}  // namespace tandem::engine
