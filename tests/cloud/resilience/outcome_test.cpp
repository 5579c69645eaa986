#include "cloud/resilience/outcome.h"

#include <gtest/gtest.h>

using namespace tandem::resilience;

TEST(OutcomeTest, StatusClassification) {
  EXPECT_EQ(classify_status(200), FailureKind::none);
  EXPECT_EQ(classify_status(304), FailureKind::none);
  for (int status : {400, 401, 403, 404, 409, 413, 422}) EXPECT_EQ(classify_status(status), FailureKind::caller_error) << status;
  EXPECT_EQ(classify_status(408), FailureKind::timeout);
  EXPECT_EQ(classify_status(429), FailureKind::throttled);
  EXPECT_EQ(classify_status(529), FailureKind::throttled);
  for (int status : {500, 502, 503, 504}) EXPECT_EQ(classify_status(status), FailureKind::server_error) << status;
}

TEST(OutcomeTest, WhatCountsAgainstTheProvider) {
  for (auto kind : {FailureKind::connect_error, FailureKind::timeout, FailureKind::server_error, FailureKind::stream_cut})
    EXPECT_TRUE(counts_against_provider(CallOutcome::failed(kind))) << failure_kind_name(kind);
  for (auto kind : {FailureKind::none, FailureKind::caller_error, FailureKind::cancelled})
    EXPECT_FALSE(counts_against_provider(CallOutcome::failed(kind))) << failure_kind_name(kind);
  EXPECT_TRUE(counts_against_provider(CallOutcome::failed(FailureKind::throttled, std::nullopt, true)));
  EXPECT_FALSE(counts_against_provider(CallOutcome::failed(FailureKind::throttled, std::nullopt, false)));
}

TEST(OutcomeTest, WhatIsRetryable) {
  for (auto kind : {FailureKind::connect_error, FailureKind::timeout, FailureKind::server_error, FailureKind::throttled,
                    FailureKind::stream_cut})
    EXPECT_TRUE(is_retryable(kind)) << failure_kind_name(kind);
  for (auto kind : {FailureKind::none, FailureKind::caller_error, FailureKind::cancelled})
    EXPECT_FALSE(is_retryable(kind)) << failure_kind_name(kind);
}
