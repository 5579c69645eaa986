#include "schemas/usage_reader.h"

#include <boost/json.hpp>
#include <boost/json/monotonic_resource.hpp>

namespace tandem::schemas {

namespace json = boost::json;

namespace {

const json::object* usage_in(const json::object& root) {
  if (const auto* usage = root.if_contains("usage"); usage && usage->is_object()) return &usage->as_object();
  for (const char* holder : {"message", "response"}) {
    const auto* inner = root.if_contains(holder);
    if (!inner || !inner->is_object()) continue;
    if (const auto* usage = inner->as_object().if_contains("usage"); usage && usage->is_object()) {
      return &usage->as_object();
    }
  }
  return nullptr;
}

// The first of `names` that is a non-negative integer.
bool count_of(const json::object& usage, std::initializer_list<const char*> names, int64_t& out) {
  for (const char* name : names) {
    const auto* value = usage.if_contains(name);
    if (!value) continue;
    if (value->is_int64() && value->as_int64() >= 0) {
      out = value->as_int64();
      return true;
    }
    if (value->is_uint64()) {
      out = static_cast<int64_t>(value->as_uint64());
      return true;
    }
  }
  return false;
}

}  // namespace

void UsageReader::read_json(std::string_view text) {
  boost::system::error_code ec;
  // The value lives only here: built in a local arena (a whole answer's JSON was ~30 heap
  // allocations per proxied request, just to read its usage).
  unsigned char buffer[8192];
  json::monotonic_resource arena(buffer, sizeof buffer);
  json::value value = json::parse(text, ec, &arena);
  if (ec || !value.is_object()) return;
  const json::object* usage = usage_in(value.as_object());
  if (!usage) return;
  bool any = count_of(*usage, {"input_tokens", "prompt_tokens"}, input_);
  any = count_of(*usage, {"output_tokens", "completion_tokens"}, output_) || any;
  found_ = found_ || any;
}

void UsageReader::body(std::string_view json) { read_json(json); }

void UsageReader::frames(std::string_view frames) {
  if (frames.find("\"usage\"") == std::string_view::npos) return;
  size_t position = 0;
  while (position < frames.size()) {
    size_t end = frames.find('\n', position);
    if (end == std::string_view::npos) end = frames.size();
    std::string_view line = frames.substr(position, end - position);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("data:") && line.find("\"usage\"") != std::string_view::npos) {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      read_json(line);
    }
    position = end + 1;
  }
}

}  // namespace tandem::schemas
