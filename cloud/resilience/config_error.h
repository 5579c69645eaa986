// The error every resilience / routing config parser throws: its message names the key.
#pragma once

#include <stdexcept>
#include <string>

namespace tandem::resilience {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace tandem::resilience
