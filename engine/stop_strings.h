// Stop strings matched across token boundaries. Text that could still be the start of a stop
// string is held back until it is known not to be; a matched stop string and everything after
// it never reach the output.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::engine {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);  // empty strings are ignored

  struct Result {
    std::string released;              // safe to show now
    std::optional<std::string> stop;   // the stop string that matched; generation must end
  };

  // Feeds the next piece of decoded text. After a match, further pushes release nothing.
  Result push(std::string_view text);
  // The end of generation (no stop matched): releases whatever was held back.
  std::string flush();

  bool stopped() const { return stopped_; }
  const std::string& held_back() const { return pending_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace tandem::engine
