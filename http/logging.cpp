#include "http/logging.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>

namespace tandem::http {

namespace {

std::atomic<LogFormat> current_format{LogFormat::text};

// The fields of the line being logged on this thread: set by log_with_fields around its
// (synchronous) spdlog call, read by the JSON formatter.
thread_local const std::vector<LogField>* pending_fields = nullptr;

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view message(msg.payload.data(), msg.payload.size());
    std::string_view request_id;
    // "[id] message": the id every per-request line starts with.
    if (message.size() > 3 && message.front() == '[') {
      const auto close = message.find("] ");
      if (close != std::string_view::npos && close > 1 && message.substr(1, close - 1).find(' ') == std::string_view::npos) {
        request_id = message.substr(1, close - 1);
        message.remove_prefix(close + 2);
      }
    }
    const auto since_epoch = msg.time.time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
    const std::time_t whole = static_cast<std::time_t>(seconds.count());
    std::string line = fmt::format("{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}.{:03d}Z\",\"level\":", fmt::gmtime(whole),
                                   static_cast<int>(millis));
    const auto level = spdlog::level::to_string_view(msg.level);
    append_json_string(line, std::string_view(level.data(), level.size()));
    line += ",\"request_id\":";
    if (request_id.empty()) {
      line += "null";
    } else {
      append_json_string(line, request_id);
    }
    line += ",\"message\":";
    append_json_string(line, message);
    line += ",\"fields\":{";
    if (pending_fields) {
      bool first = true;
      for (const auto& field : *pending_fields) {
        if (!first) line += ',';
        first = false;
        append_json_string(line, field.key);
        line += ':';
        if (field.number) {
          line += field.value;
        } else {
          append_json_string(line, field.value);
        }
      }
    }
    line += "}}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonLogFormatter>(); }
};

// A text value as `key=value`, quoted when it has spaces, quotes or is empty.
std::string text_field(const LogField& field) {
  if (field.number && field.value == "null") return field.key + "=-";
  if (field.number || (!field.value.empty() && field.value.find_first_of(" \"=") == std::string::npos)) {
    return field.key + "=" + field.value;
  }
  return field.key + "=" + json_quoted(field.value);
}

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view name) {
  if (name == "text") return LogFormat::text;
  if (name == "json") return LogFormat::json;
  return std::nullopt;
}

void set_log_format(LogFormat format) {
  current_format = format;
  if (format == LogFormat::json) {
    spdlog::set_formatter(make_json_log_formatter());
  } else {
    spdlog::set_pattern(kTextPattern);
  }
}

std::string json_quoted(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

std::unique_ptr<spdlog::formatter> make_json_log_formatter() { return std::make_unique<JsonLogFormatter>(); }

void log_with_fields(spdlog::level::level_enum level, std::string_view request_id, std::string_view message,
                     const std::vector<LogField>& fields) {
  if (!spdlog::should_log(level)) return;
  std::string line;
  if (!request_id.empty()) line = fmt::format("[{}] ", request_id);
  line += message;
  if (current_format.load() == LogFormat::json) {
    pending_fields = &fields;
    spdlog::log(level, "{}", line);
    pending_fields = nullptr;
    return;
  }
  for (const auto& field : fields) {
    if (!field.json_only) line += " " + text_field(field);
  }
  spdlog::log(level, "{}", line);
}

}  // namespace tandem::http
