// Private to schemas/: text helpers.
#pragma once

#include <string>
#include <string_view>

namespace tandem::schemas::detail {

// `text` with every invalid UTF-8 sequence replaced by U+FFFD: token pieces can be partial
// characters, and a JSON string must hold valid UTF-8.
std::string valid_utf8(std::string_view text);

}  // namespace tandem::schemas::detail
