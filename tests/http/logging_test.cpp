// The two log line formats (http/logging.h), through a logger that writes into a string.
#include "http/logging.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <regex>
#include <sstream>

namespace tandem::http {
namespace {

class LoggingTest : public ::testing::Test {
 protected:
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();

  void SetUp() override {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("logging-test", sink));
    spdlog::set_level(spdlog::level::info);
  }
  void TearDown() override {
    set_log_format(LogFormat::text);
    spdlog::set_default_logger(previous);
  }
};

const std::vector<LogField> kFields = {LogField::text("backend", "local"), LogField::num("tokens_out", "12"),
                                       LogField::null("ttft_ms"), LogField::text("model", "my model \"x\"")};

TEST_F(LoggingTest, JsonLinesAreObjectsWithTimeLevelRequestIdMessageAndFields) {
  set_log_format(LogFormat::json);
  log_with_fields(spdlog::level::info, "req_42", "POST /v1/messages 200 \"quoted\"\ttab", kFields);
  spdlog::warn("[req_43] plain line");
  spdlog::info("no request here");
  std::istringstream lines(out.str());
  std::string line;
  std::vector<boost::json::object> objects;
  while (std::getline(lines, line)) objects.push_back(boost::json::parse(line).as_object());
  ASSERT_EQ(objects.size(), 3u) << out.str();

  const auto& access = objects[0];
  EXPECT_TRUE(std::regex_match(std::string(access.at("time").as_string()),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << access.at("time");
  EXPECT_EQ(access.at("level").as_string(), "info");
  EXPECT_EQ(access.at("request_id").as_string(), "req_42");
  EXPECT_EQ(access.at("message").as_string(), "POST /v1/messages 200 \"quoted\"\ttab");
  const auto& fields = access.at("fields").as_object();
  EXPECT_EQ(fields.at("backend").as_string(), "local");
  EXPECT_EQ(fields.at("tokens_out").as_int64(), 12);
  EXPECT_TRUE(fields.at("ttft_ms").is_null());
  EXPECT_EQ(fields.at("model").as_string(), "my model \"x\"");

  EXPECT_EQ(objects[1].at("level").as_string(), "warning");
  EXPECT_EQ(objects[1].at("request_id").as_string(), "req_43");
  EXPECT_EQ(objects[1].at("message").as_string(), "plain line");
  EXPECT_TRUE(objects[1].at("fields").as_object().empty());
  EXPECT_TRUE(objects[2].at("request_id").is_null());
  EXPECT_EQ(objects[2].at("message").as_string(), "no request here");
}

TEST_F(LoggingTest, TextLinesAppendFieldsAsKeyValuePairs) {
  set_log_format(LogFormat::text);
  auto fields = kFields;
  fields.push_back(LogField::num("status", "200"));
  fields.back().json_only = true;
  log_with_fields(spdlog::level::info, "req_42", "POST /v1/messages 200", fields);
  EXPECT_NE(out.str().find("info [req_42] POST /v1/messages 200 backend=local tokens_out=12 ttft_ms=- "
                           "model=\"my model \\\"x\\\"\"\n"),
            std::string::npos)
      << out.str();
}

TEST_F(LoggingTest, BelowTheLevelNothingIsWritten) {
  set_log_format(LogFormat::json);
  log_with_fields(spdlog::level::debug, "req_1", "hidden", kFields);
  EXPECT_EQ(out.str(), "");
}

TEST(LogFormat, ParsesTextAndJsonOnly) {
  EXPECT_EQ(parse_log_format("json"), LogFormat::json);
  EXPECT_EQ(parse_log_format("text"), LogFormat::text);
  EXPECT_FALSE(parse_log_format("JSON"));
}

}  // namespace
}  // namespace tandem::http
