#include "cloud/resilience/retry_policy.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "cloud/resilience/config_fields.h"

namespace tandem::resilience {
namespace json = boost::json;

RetryConfig parse_retry_config(const json::value& value, std::string_view where) {
  config::ObjectReader reader(value, where,
                              {"max_attempts", "base_delay_ms", "multiplier", "max_delay_ms", "max_retry_after_ms",
                               "attempt_timeout_ms", "budget_ratio", "budget_minimum", "budget_window_ms",
                               "budget_buckets"});
  RetryConfig config;
  const Millis day{86'400'000};
  reader.integer("max_attempts", config.max_attempts, 1, 100);
  reader.millis("base_delay_ms", config.base_delay, Millis{0}, day);
  reader.number("multiplier", config.multiplier, 1.0, 100.0);
  reader.millis("max_delay_ms", config.max_delay, Millis{0}, day);
  reader.millis("max_retry_after_ms", config.max_retry_after, Millis{0}, day);
  reader.millis("attempt_timeout_ms", config.attempt_timeout, Millis{1}, day);
  reader.number("budget_ratio", config.budget_ratio, 0.0, 10.0);
  reader.integer("budget_minimum", config.budget_minimum, 0, 1'000'000);
  reader.millis("budget_window_ms", config.budget_window, Millis{100}, day);
  reader.integer("budget_buckets", config.budget_buckets, 1, 1000);
  if (config.max_delay < config.base_delay)
    throw ConfigError(std::string(where) + ".max_delay_ms must be at least base_delay_ms (" +
                      std::to_string(config.base_delay.count()) + ")");
  return config;
}

// ---- retry-after ------------------------------------------------------------------------------

namespace {

constexpr int64_t kMaxRetryAfterSeconds = 10LL * 365 * 86400;  // beyond any sane value: clamp

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int month_number(const char* name) {
  static constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (size_t i = 0; i < months.size(); ++i)
    if (std::strcmp(name, months[i]) == 0) return int(i) + 1;
  return 0;
}

// The three HTTP-date forms; the weekday is not checked (it carries no information).
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
  std::string s(text);
  char weekday[16] = {}, month[4] = {};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  bool parsed =
      // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
      (std::sscanf(s.c_str(), "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", weekday, &day, month, &year,
                   &hour, &minute, &second, &consumed) == 7 && consumed == int(s.size())) ||
      // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
      (std::sscanf(s.c_str(), "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", weekday, &day, month, &year,
                   &hour, &minute, &second, &consumed) == 7 && consumed == int(s.size()) &&
       (year += year < 70 ? 2000 : 1900)) ||
      // asctime: Sun Nov  6 08:49:37 1994
      (std::sscanf(s.c_str(), "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", weekday, month, &day, &hour,
                   &minute, &second, &year, &consumed) == 7 && consumed == int(s.size()));
  if (!parsed) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(unsigned(month_number(month))),
                                   std::chrono::day(unsigned(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60 || hour < 0 || minute < 0 || second < 0)
    return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second);
}

}  // namespace

std::optional<Millis> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (all_digits(value)) {
    int64_t seconds = kMaxRetryAfterSeconds;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range || seconds > kMaxRetryAfterSeconds) seconds = kMaxRetryAfterSeconds;
    return std::chrono::duration_cast<Millis>(std::chrono::seconds(seconds));
  }
  auto date = parse_http_date(value);
  if (!date) return std::nullopt;
  if (*date <= now) return Millis{0};
  return std::min(std::chrono::duration_cast<Millis>(*date - now),
                  Millis(kMaxRetryAfterSeconds * 1000));
}

std::optional<Millis> parse_retry_after_ms(std::string_view value) {
  value = trim(value);
  size_t dot = value.find('.');
  std::string_view whole = value.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : value.substr(dot + 1);
  if (!all_digits(whole) || (dot != std::string_view::npos && !all_digits(fraction))) return std::nullopt;
  int64_t ms = kMaxRetryAfterSeconds * 1000;
  auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), ms);
  if (ec == std::errc::result_out_of_range || ms > kMaxRetryAfterSeconds * 1000) ms = kMaxRetryAfterSeconds * 1000;
  // A fraction of a millisecond rounds up: waiting slightly longer than asked is always safe.
  if (!fraction.empty() && fraction.find_first_not_of('0') != std::string_view::npos &&
      ms < kMaxRetryAfterSeconds * 1000)
    ++ms;
  return Millis(ms);
}

std::optional<Millis> parse_retry_headers(std::string_view retry_after, std::string_view retry_after_ms,
                                          std::chrono::system_clock::time_point now) {
  if (auto ms = parse_retry_after_ms(retry_after_ms)) return ms;
  return parse_retry_after(retry_after, now);
}

// ---- budget -----------------------------------------------------------------------------------

RetryBudget::RetryBudget(const RetryConfig& config, const Clock& clock)
    : ratio_(config.budget_ratio),
      minimum_(config.budget_minimum),
      window_(clock, config.budget_window, config.budget_buckets) {}

void RetryBudget::record_request() { window_.add(kRequests); }

int RetryBudget::remaining() const {
  double allowed = std::max(double(minimum_), std::floor(ratio_ * double(window_.sum(kRequests))));
  return std::max(0, int(allowed) - int(window_.sum(kRetries)));
}

bool RetryBudget::try_spend() {
  if (remaining() <= 0) return false;
  window_.add(kRetries);
  return true;
}

// ---- policy -----------------------------------------------------------------------------------

std::string_view give_up_reason_name(GiveUpReason reason) {
  switch (reason) {
    case GiveUpReason::none: return "none";
    case GiveUpReason::committed: return "committed";
    case GiveUpReason::not_retryable: return "not_retryable";
    case GiveUpReason::attempts_exhausted: return "attempts_exhausted";
    case GiveUpReason::retry_after_too_long: return "retry_after_too_long";
    case GiveUpReason::budget_spent: return "budget_spent";
  }
  return "unknown";
}

RetryPolicy::RetryPolicy(RetryConfig config, const Clock& clock, UniformRandom random)
    : config_(config), clock_(&clock), random_(std::move(random)), budget_(config_, clock) {}

Millis RetryPolicy::backoff_ceiling(int retry) const {
  double ceiling = double(config_.base_delay.count()) * std::pow(config_.multiplier, std::max(0, retry - 1));
  return Millis(int64_t(std::min(ceiling, double(config_.max_delay.count()))));
}

Millis RetryPolicy::backoff(int retry) {
  double unit = std::clamp(random_(), 0.0, 1.0);
  // Rounded so both ends of [0, ceiling] are reachable.
  return Millis(std::llround(unit * double(backoff_ceiling(retry).count())));
}

SteadyTime RequestAttempts::begin_attempt() {
  if (attempts_++ == 0) policy_->budget().record_request();
  return policy_->clock().now() + policy_->config().attempt_timeout;
}

RetryDecision RequestAttempts::after_failure(const CallOutcome& outcome) {
  const RetryConfig& config = policy_->config();
  auto give_up = [](GiveUpReason reason, std::string detail) {
    return RetryDecision{false, Millis{0}, reason, std::move(detail)};
  };
  std::string kind(failure_kind_name(outcome.failure));
  if (committed_)
    return give_up(GiveUpReason::committed, kind + " after content reached the client: never retried");
  if (!is_retryable(outcome.failure)) return give_up(GiveUpReason::not_retryable, kind + " is not retryable");
  if (attempts_ >= config.max_attempts)
    return give_up(GiveUpReason::attempts_exhausted, kind + " on attempt " + std::to_string(attempts_) + " of " +
                                                         std::to_string(config.max_attempts));
  if (outcome.retry_after && *outcome.retry_after > config.max_retry_after)
    return give_up(GiveUpReason::retry_after_too_long,
                   "retry-after " + std::to_string(outcome.retry_after->count()) + " ms exceeds the cap of " +
                       std::to_string(config.max_retry_after.count()) + " ms");
  if (!policy_->budget().try_spend())
    return give_up(GiveUpReason::budget_spent, kind + ": the provider's retry budget is spent");
  Millis delay = outcome.retry_after ? *outcome.retry_after : policy_->backoff(attempts_);
  return RetryDecision{true, delay, GiveUpReason::none,
                       kind + ": retry " + std::to_string(attempts_) + " after " + std::to_string(delay.count()) +
                           " ms" + (outcome.retry_after ? " (retry-after)" : "")};
}

}  // namespace tandem::resilience
