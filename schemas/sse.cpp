#include "schemas/sse.h"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tandem::schemas {

SseParser::SseParser(size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

std::vector<SseEvent> SseParser::feed(std::string_view bytes) {
  std::vector<SseEvent> out;
  feed(bytes, out);
  return out;
}

size_t sse_line_end(std::string_view text, size_t from) {
  // LF first, then CR only before it (CR alone is rare): two memchr calls per line.
  const char* start = text.data() + from;
  const size_t rest = text.size() - from;
  const auto* lf = static_cast<const char*>(std::memchr(start, '\n', rest));
  const size_t limit = lf ? static_cast<size_t>(lf - start) : rest;
  if (const auto* cr = static_cast<const char*>(std::memchr(start, '\r', limit))) return from + (cr - start);
  return lf ? from + limit : std::string_view::npos;
}

size_t find_text(std::string_view text, std::string_view part) {
  const size_t k = part.size();
  if (k < 2 || k > text.size()) return text.find(part);
  size_t i = 0;
#if defined(__SSE2__)
  // W. Muła's filter: a position is a candidate when the needle's first byte is there and its
  // last byte k - 1 further on; only candidates are compared whole, in order, so the first match
  // found is the first one.
  const __m128i first = _mm_set1_epi8(part.front());
  const __m128i last = _mm_set1_epi8(part.back());
  const char* data = text.data();
  for (; i + (k - 1) + 16 <= text.size(); i += 16) {
    const __m128i at_first = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    const __m128i at_last = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + k - 1));
    auto candidates = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(first, at_first), _mm_cmpeq_epi8(last, at_last))));
    while (candidates != 0) {
      const auto offset = static_cast<size_t>(__builtin_ctz(candidates));
      if (std::memcmp(data + i + offset + 1, part.data() + 1, k - 2) == 0) return i + offset;
      candidates &= candidates - 1;
    }
  }
#endif
  return text.find(part, i);  // the last positions (fewer than 16 left)
}

bool SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  if (!error_.empty()) return false;
  size_t i = 0;
  if (last_was_cr_ && !bytes.empty()) {
    if (bytes[0] == '\n') i = 1;  // the LF of a CRLF split across two reads
    last_was_cr_ = false;
  }
  while (i < bytes.size()) {
    size_t end = sse_line_end(bytes, i);
    if (end == std::string_view::npos) {
      line_.append(bytes.substr(i));
      break;
    }
    line_.append(bytes.substr(i, end - i));
    process_line(line_, out);
    line_.clear();
    if (bytes[end] == '\r') {
      if (end + 1 < bytes.size()) {
        i = bytes[end + 1] == '\n' ? end + 2 : end + 1;
      } else {
        last_was_cr_ = true;
        i = end + 1;
      }
    } else {
      i = end + 1;
    }
  }
  if (line_.size() + pending_.data.size() > max_event_bytes_) {
    error_ = "SSE event larger than " + std::to_string(max_event_bytes_) + " bytes";
    line_.clear();
    pending_ = {};
    return false;
  }
  return true;
}

void SseParser::process_line(std::string_view line, std::vector<SseEvent>& out) {
  if (at_stream_start_) {
    at_stream_start_ = false;
    if (line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
  }
  if (line.empty()) {
    dispatch(out);
    return;
  }
  if (line.front() == ':') {
    ++comments_;
    return;
  }
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
  }
  pending_fields_ = true;
  if (field == "event") {
    pending_.event.assign(value);
  } else if (field == "data") {
    if (has_data_) pending_.data += '\n';
    pending_.data.append(value);
    has_data_ = true;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) pending_.id.assign(value);
  } else if (field == "retry") {
    if (!value.empty() && value.size() <= 15 &&
        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      pending_.retry = std::stoll(std::string(value));
    }
  }
}

void SseParser::dispatch(std::vector<SseEvent>& out) {
  // An event with no data line is dropped (the spec's rule), fields and all.
  if (has_data_) out.push_back(std::move(pending_));
  pending_ = {};
  has_data_ = false;
  pending_fields_ = false;
}

bool SseParser::finish() {
  bool truncated = !line_.empty() || pending_fields_;
  line_.clear();
  pending_ = {};
  has_data_ = false;
  pending_fields_ = false;
  last_was_cr_ = false;
  return truncated;
}

std::string format_sse(std::string_view event_name, std::string_view data) {
  std::string out;
  out.reserve(event_name.size() + data.size() + 16);
  if (!event_name.empty()) {
    out += "event: ";
    out += event_name;
    out += '\n';
  }
  size_t start = 0;
  while (true) {
    size_t end = data.find('\n', start);
    out += "data: ";
    out += data.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    out += '\n';
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  out += '\n';
  return out;
}

std::string format_sse_data(std::string_view data) { return format_sse({}, data); }

std::string format_sse_comment(std::string_view text) {
  std::string out = ": ";
  out += text;
  out += "\n\n";
  return out;
}

}  // namespace tandem::schemas
