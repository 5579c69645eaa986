#include "cloud/resilience/retry_policy.h"

#include <gtest/gtest.h>

using namespace tandem::resilience;
using namespace std::chrono;

namespace {
// 1994-11-06 08:49:07 UTC: 30 s before the RFC's example date.
const system_clock::time_point kNow = sys_days(year(1994) / November / 6) + hours(8) + minutes(49) + seconds(7);
}  // namespace

TEST(RetryAfterTest, DelaySeconds) {
  EXPECT_EQ(parse_retry_after("120", kNow), Millis(120'000));
  EXPECT_EQ(parse_retry_after("0", kNow), Millis(0));
  EXPECT_EQ(parse_retry_after("  7 ", kNow), Millis(7'000));
  // Absurdly large values clamp to ten years instead of overflowing.
  EXPECT_EQ(parse_retry_after("99999999999999999999999", kNow), Millis(10LL * 365 * 86400 * 1000));
}

TEST(RetryAfterTest, HttpDateInAllThreeForms) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kNow), Millis(30'000));
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", kNow), Millis(30'000));
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", kNow), Millis(30'000));
  EXPECT_EQ(parse_retry_after("Mon, 07 Nov 1994 08:49:07 GMT", kNow), Millis(86'400'000));
}

TEST(RetryAfterTest, DateInThePastMeansNow) {
  EXPECT_EQ(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", kNow), Millis(0));
}

TEST(RetryAfterTest, GarbageIsNothing) {
  for (const char* text : {"", "soon", "-5", "1.5", "12abc", "Sun, 32 Nov 1994 08:49:37 GMT",
                           "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
                           "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 06 Nov 1994 08:49:37 GMT trailing"})
    EXPECT_FALSE(parse_retry_after(text, kNow).has_value()) << text;
}

TEST(RetryAfterTest, Milliseconds) {
  EXPECT_EQ(parse_retry_after_ms("250"), Millis(250));
  EXPECT_EQ(parse_retry_after_ms("250.0"), Millis(250));
  EXPECT_EQ(parse_retry_after_ms("250.2"), Millis(251));  // a fraction rounds up
  EXPECT_EQ(parse_retry_after_ms(" 0 "), Millis(0));
  for (const char* text : {"", "x", "-1", "1e3", ".5", "5.", "1,5"})
    EXPECT_FALSE(parse_retry_after_ms(text).has_value()) << text;
}

TEST(RetryAfterTest, MillisecondsHeaderWinsWhenValid) {
  EXPECT_EQ(parse_retry_headers("3", "1500", kNow), Millis(1500));
  EXPECT_EQ(parse_retry_headers("3", "garbage", kNow), Millis(3000));
  EXPECT_EQ(parse_retry_headers("", "", kNow), std::nullopt);
  EXPECT_EQ(parse_retry_headers("Sun, 06 Nov 1994 08:49:37 GMT", "", kNow), Millis(30'000));
}
