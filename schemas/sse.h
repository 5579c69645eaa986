// Server-sent events (the WHATWG event-stream format): an incremental parser for the cloud
// clients (bytes in as they arrive, events out) and the formatter the stream writers use.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::schemas {

struct SseEvent {
  std::string event;  // the `event:` name; empty means the default ("message")
  std::string data;   // `data:` lines joined with '\n'
  std::string id;
  std::optional<long long> retry;

  bool operator==(const SseEvent&) const = default;
};

// Scanning SSE text that is passed on as it is (split into frames and looked into, never
// parsed), vectorised instead of a loop per byte.
// The first CR or LF at or after `from`; npos when there is none.
std::size_t sse_line_end(std::string_view text, std::size_t from);
// Where `part` first occurs in `text` (npos: nowhere), as string_view::find says, which stays as
// the reference in the tests. find tries every occurrence of the needle's first character, and a
// JSON needle starts with a quote, which a JSON text has at every key and string: this one checks
// 16 positions at a time for the needle's first and last byte (SSE2, part of every x86-64 CPU).
std::size_t find_text(std::string_view text, std::string_view part);
inline bool contains_text(std::string_view text, std::string_view part) {
  return find_text(text, part) != std::string_view::npos;
}

// Handles LF, CRLF and CR line ends, multi-line data, comments, a leading BOM, and events split
// anywhere across reads (including between the CR and LF of one line end).
class SseParser {
 public:
  // Events larger than this (or a line that never ends) put the parser into an error state rather
  // than growing without bound on a hostile stream.
  explicit SseParser(size_t max_event_bytes = 16 * 1024 * 1024);

  // Appends complete events to `out`. Returns false (and sets error()) once the limit is exceeded;
  // later calls do nothing.
  bool feed(std::string_view bytes, std::vector<SseEvent>& out);
  std::vector<SseEvent> feed(std::string_view bytes);
  // At end of stream: a final event not followed by a blank line is discarded, as the spec says;
  // returns whether such an incomplete event was pending (a truncated stream).
  bool finish();

  const std::string& error() const { return error_; }
  size_t comments_seen() const { return comments_; }

 private:
  void process_line(std::string_view line, std::vector<SseEvent>& out);
  void dispatch(std::vector<SseEvent>& out);

  size_t max_event_bytes_;
  std::string line_;          // the current unfinished line
  bool last_was_cr_ = false;  // the previous chunk ended in CR: a leading LF belongs to it
  bool at_stream_start_ = true;
  SseEvent pending_;
  bool has_data_ = false;
  bool pending_fields_ = false;
  std::string error_;
  size_t comments_ = 0;
};

// One event in wire form: "event: NAME\n" (when a name is given), one "data: " line per line of
// `data`, then a blank line.
std::string format_sse(std::string_view event_name, std::string_view data);
std::string format_sse_data(std::string_view data);  // no event name (OpenAI)
std::string format_sse_comment(std::string_view text);  // ": text\n\n" (keep-alives)

}  // namespace tandem::schemas
