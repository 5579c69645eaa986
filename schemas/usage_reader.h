// Token usage read from a provider's own answer as it passes through unchanged (same-protocol
// passthrough is never re-serialized, so usage is not otherwise known): a whole JSON body, or
// the SSE frames of a stream. Looks at `usage` at the top level, under `message` (Anthropic's
// message_start) and under `response` (the Responses API's final events); a later report
// overwrites what it carries (Anthropic's message_delta output count is cumulative). Input is the
// upstream's input/prompt count as it reports it.
#pragma once

#include <cstdint>
#include <string_view>

namespace tandem::schemas {

class UsageReader {
 public:
  void body(std::string_view json);
  // Complete SSE frames (each ends with its blank line); frames without "usage" are skipped
  // without parsing.
  void frames(std::string_view frames);

  bool found() const { return found_; }
  int64_t input_tokens() const { return input_; }
  int64_t output_tokens() const { return output_; }

 private:
  void read_json(std::string_view json);

  bool found_ = false;
  int64_t input_ = 0;
  int64_t output_ = 0;
};

}  // namespace tandem::schemas
