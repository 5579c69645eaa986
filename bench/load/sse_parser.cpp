#include "bench/load/internal.h"

namespace tandem::load {

std::vector<SseParser::Event> SseParser::feed(std::string_view bytes) {
  std::vector<Event> out;
  std::size_t i = 0;
  if (skip_lf_ && !bytes.empty()) {
    if (bytes.front() == '\n') i = 1;
    skip_lf_ = false;
  }
  while (i < bytes.size()) {
    const std::size_t eol = bytes.find_first_of("\r\n", i);
    if (eol == std::string_view::npos) {
      line_.append(bytes.substr(i));
      break;
    }
    line_.append(bytes.substr(i, eol - i));
    take_line(line_, out);
    line_.clear();
    i = eol + 1;
    if (bytes[eol] == '\r') {
      if (i < bytes.size()) {
        if (bytes[i] == '\n') ++i;
      } else {
        skip_lf_ = true;
      }
    }
  }
  return out;
}

void SseParser::take_line(std::string_view line, std::vector<Event>& out) {
  if (line.empty()) {
    if (has_data_) out.push_back(std::move(pending_));
    pending_ = Event{};
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment / keep-alive
  std::string_view field = line;
  std::string_view value;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "event") {
    pending_.name = std::string(value);
  } else if (field == "data") {
    if (has_data_) pending_.data += '\n';
    pending_.data.append(value);
    has_data_ = true;
  }
  // "id" and "retry" do not matter to a load generator.
}

}  // namespace tandem::load
