// Log line formats. Text (the default): `2026-01-02T03:04:05.678 info [req_id] message key=value`.
// JSON (`--log-format json`, for log shippers): one object per line,
//   {"time":"2026-01-02T03:04:05.678Z","level":"info","request_id":"req_...","message":"...",
//    "fields":{"status":200,"backend":"local",...}}
// request_id is taken from the "[id] " prefix every per-request line starts with (null when
// absent); fields are what log_with_fields() was given (an empty object otherwise).
#pragma once

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::http {

enum class LogFormat { text, json };

// "text" / "json"; nullopt for anything else.
std::optional<LogFormat> parse_log_format(std::string_view name);

// Installs `format` on the default logger (and remembers it for log_with_fields).
void set_log_format(LogFormat format);

// A structured field: a number (or `null`) is written bare in JSON, text quoted. In text a null
// shows as "-"; json_only fields are left out of text lines (their message already says it).
struct LogField {
  std::string key;
  std::string value;
  bool number = false;
  bool json_only = false;

  static LogField text(std::string key, std::string value) { return {std::move(key), std::move(value), false, false}; }
  static LogField num(std::string key, std::string value) { return {std::move(key), std::move(value), true, false}; }
  static LogField null(std::string key) { return {std::move(key), "null", true, false}; }
};

// One line with structured fields: appended as ` key=value` in text, under "fields" in JSON.
// `message` must not contain secrets or prompt text at info level (nothing here redacts).
void log_with_fields(spdlog::level::level_enum level, std::string_view request_id, std::string_view message,
                     const std::vector<LogField>& fields);

// The JSON formatter itself (exposed for tests).
std::unique_ptr<spdlog::formatter> make_json_log_formatter();

// `text` as a JSON string literal (quotes included).
std::string json_quoted(std::string_view text);

}  // namespace tandem::http
