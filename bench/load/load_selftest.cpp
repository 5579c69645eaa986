// tandem-load against an in-process fake server: counts, tokens, latencies and error kinds.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "bench/load/fake_server.h"
#include "bench/load/internal.h"

namespace tandem::load {
namespace {

using test::FakeServer;
using test::FakeServerOptions;

Config config_for(const FakeServer& server) {
  Config c;
  c.url = server.url();
  c.model = "fake-model";
  c.concurrency = 3;
  c.requests = 7;
  c.max_tokens = 16;
  c.timeout_s = 10;
  return c;
}

TEST(Percentiles, InterpolatesBetweenRanks) {
  const auto p = percentiles({5, 1, 4, 2, 3, 6, 7, 8, 9, 10});
  EXPECT_EQ(p.count, 10u);
  EXPECT_DOUBLE_EQ(p.mean, 5.5);
  EXPECT_DOUBLE_EQ(p.p50, 5.5);
  EXPECT_DOUBLE_EQ(p.p90, 9.1);
  EXPECT_NEAR(p.p99, 9.91, 1e-9);
  EXPECT_EQ(percentiles({}).count, 0u);
  EXPECT_DOUBLE_EQ(percentiles({42}).p99, 42);
}

TEST(Config, RejectsUnboundedOrNonsenseRuns) {
  Config c;
  c.requests = 0;
  EXPECT_THROW(validate(c), std::invalid_argument);
  c.duration_s = 1;
  EXPECT_NO_THROW(validate(c));
  c.concurrency = 0;
  EXPECT_THROW(validate(c), std::invalid_argument);
  Config anthropic_legacy;
  anthropic_legacy.protocol = Protocol::anthropic;
  anthropic_legacy.endpoint = Endpoint::completions;
  EXPECT_THROW(validate(anthropic_legacy), std::invalid_argument);
  Config bad_url;
  bad_url.url = "https://example.invalid";
  EXPECT_THROW(run_load(bad_url), std::invalid_argument);
}

TEST(LoadTool, OpenAIChatStreamCountsRequestsTokensAndLatencies) {
  FakeServer server({.chunks = 5, .tokens_per_chunk = 2});
  const Report r = run_load(config_for(server));
  EXPECT_EQ(r.requests_ok, 7);
  EXPECT_EQ(r.requests_failed, 0);
  EXPECT_TRUE(r.errors.empty()) << format_text(r);
  EXPECT_EQ(server.posts_received(), 7);
  EXPECT_EQ(r.requests_with_usage, 7);
  EXPECT_EQ(r.output_tokens, 7 * 10);  // from usage, not the 5 deltas
  EXPECT_EQ(r.ttft_ms.count, 7u);
  EXPECT_GT(r.ttft_ms.p50, 0.0);
  EXPECT_EQ(r.itl_ms.count, 7u * 4);  // 5 deltas -> 4 gaps per request
  EXPECT_GT(r.requests_per_s, 0.0);
  EXPECT_GT(r.output_tokens_per_s, 0.0);
  EXPECT_GE(r.latency_ms.p50, r.ttft_ms.p50);
  EXPECT_EQ(r.endpoint, "/v1/chat/completions");

  const auto body = boost::json::parse(server.last_post_body()).as_object();
  EXPECT_EQ(server.last_post_target(), "/v1/chat/completions");
  EXPECT_EQ(body.at("model").as_string(), "fake-model");
  EXPECT_EQ(body.at("max_tokens").as_int64(), 16);
  EXPECT_TRUE(body.at("stream").as_bool());
  EXPECT_TRUE(body.at("stream_options").as_object().at("include_usage").as_bool());
  EXPECT_EQ(body.at("messages").as_array().size(), 1u);
}

// The fake pauses `delay` before each delta, so every latency has a known floor: TTFT and each
// inter-token gap at least one delay, the whole request at least five. The ceilings are 50x the
// floor (load on the machine cannot reach them); together they catch a wrong unit (seconds or
// microseconds reported as milliseconds) or a gap measured from the wrong event.
TEST(LoadTool, LatenciesFollowTheFakesPacingInMilliseconds) {
  FakeServerOptions options{.chunks = 5, .tokens_per_chunk = 1};
  options.delay = std::chrono::milliseconds(20);
  FakeServer server(options);
  Config c = config_for(server);
  c.concurrency = 2;
  c.requests = 4;
  const Report r = run_load(c);
  ASSERT_EQ(r.requests_ok, 4) << format_text(r);
  ASSERT_EQ(r.itl_ms.count, 4u * 4);
  for (const Percentiles* p : {&r.ttft_ms, &r.itl_ms}) {
    EXPECT_GE(p->p50, 19.0) << format_text(r);  // 1 ms of slack for clock granularity
    EXPECT_LT(p->p50, 1000.0) << format_text(r);
    EXPECT_GE(p->mean, 19.0) << format_text(r);
  }
  EXPECT_GE(r.latency_ms.p50, 5 * 19.0) << format_text(r);
  EXPECT_LT(r.latency_ms.p50, 5 * 1000.0) << format_text(r);
}

TEST(LoadTool, FallsBackToOneTokenPerDeltaWithoutUsage) {
  FakeServer server({.chunks = 4, .tokens_per_chunk = 3, .honor_include_usage = false});
  const Report r = run_load(config_for(server));
  EXPECT_EQ(r.requests_ok, 7);
  EXPECT_EQ(r.requests_with_usage, 0);
  EXPECT_EQ(r.output_tokens, 7 * 4);
}

TEST(LoadTool, LegacyCompletionsEndpoint) {
  FakeServer server({.chunks = 3, .tokens_per_chunk = 1});
  Config c = config_for(server);
  c.endpoint = Endpoint::completions;
  c.requests = 4;
  const Report r = run_load(c);
  EXPECT_EQ(r.requests_ok, 4) << format_text(r);
  EXPECT_EQ(r.output_tokens, 4 * 3);
  EXPECT_EQ(server.last_post_target(), "/v1/completions");
  EXPECT_TRUE(boost::json::parse(server.last_post_body()).as_object().contains("prompt"));
}

TEST(LoadTool, AnthropicMessagesStreamWithPingsAndCrlf) {
  FakeServer server({.chunks = 6, .tokens_per_chunk = 2});
  Config c = config_for(server);
  c.protocol = Protocol::anthropic;
  c.temperature = 0.5;
  c.threads = 2;
  const Report r = run_load(c);
  EXPECT_EQ(r.requests_ok, 7) << format_text(r);
  EXPECT_EQ(r.output_tokens, 7 * 12);  // message_delta usage, not message_start's 1
  EXPECT_EQ(r.requests_with_usage, 7);
  EXPECT_EQ(r.itl_ms.count, 7u * 5);
  EXPECT_EQ(server.last_post_target(), "/v1/messages");
  const auto body = boost::json::parse(server.last_post_body()).as_object();
  EXPECT_FALSE(body.contains("stream_options"));
  EXPECT_DOUBLE_EQ(body.at("temperature").as_double(), 0.5);
}

TEST(LoadTool, NonStreamingRequests) {
  for (Protocol protocol : {Protocol::openai, Protocol::anthropic}) {
    FakeServer server({.chunks = 2, .tokens_per_chunk = 5});
    Config c = config_for(server);
    c.protocol = protocol;
    c.stream = false;
    const Report r = run_load(c);
    EXPECT_EQ(r.requests_ok, 7) << format_text(r);
    EXPECT_EQ(r.output_tokens, 7 * 10);
    EXPECT_EQ(r.ttft_ms.count, 7u);  // the whole reply is the first content
    EXPECT_EQ(r.itl_ms.count, 0u);
    EXPECT_FALSE(boost::json::parse(server.last_post_body()).as_object().contains("stream"));
  }
}

TEST(LoadTool, PicksTheFirstListedModelWhenNoneIsGiven) {
  FakeServer server({.chunks = 1, .model = "listed-model"});
  Config c = config_for(server);
  c.model.clear();
  c.requests = 1;
  const Report r = run_load(c);
  EXPECT_EQ(r.model, "listed-model");
  EXPECT_EQ(boost::json::parse(server.last_post_body()).as_object().at("model").as_string(), "listed-model");
}

TEST(LoadTool, AcceptsSdkStyleBaseUrlEndingInV1) {
  FakeServer server({.chunks = 1});
  Config c = config_for(server);
  c.url = server.url() + "/v1/";
  c.requests = 2;
  const Report r = run_load(c);
  EXPECT_EQ(r.requests_ok, 2) << format_text(r);
  EXPECT_EQ(server.last_post_target(), "/v1/chat/completions");
}

TEST(LoadTool, RetriesOnceWhenAKeptAliveConnectionWasClosed) {
  FakeServer server({.chunks = 2, .hang_up_after_reply = true});
  Config c = config_for(server);
  c.concurrency = 1;
  c.requests = 5;
  const Report r = run_load(c);
  EXPECT_EQ(r.requests_ok, 5) << format_text(r);
  EXPECT_EQ(server.posts_received(), 5);
}

TEST(LoadTool, ErrorStatusesAreCountedByKind) {
  FakeServer openai_server({.status = 429});
  Report r = run_load(config_for(openai_server));
  EXPECT_EQ(r.requests_ok, 0);
  EXPECT_EQ(r.requests_failed, 7);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors.at("http_429"), 7);
  ASSERT_EQ(r.error_samples.size(), 1u);  // identical messages are kept once
  EXPECT_NE(r.error_samples[0].find("rate_limit_error"), std::string::npos) << r.error_samples[0];
  EXPECT_EQ(r.output_tokens, 0);
  EXPECT_EQ(r.ttft_ms.count, 0u);

  FakeServer anthropic_server({.status = 529});
  Config c = config_for(anthropic_server);
  c.protocol = Protocol::anthropic;
  r = run_load(c);
  EXPECT_EQ(r.errors.at("http_529"), 7);
  EXPECT_NE(r.error_samples[0].find("overloaded_error"), std::string::npos) << r.error_samples[0];
}

TEST(LoadTool, InBandStreamErrorsCountAsFailures) {
  for (Protocol protocol : {Protocol::openai, Protocol::anthropic}) {
    FakeServer server({.chunks = 3, .error_after_first_delta = true});
    Config c = config_for(server);
    c.protocol = protocol;
    const Report r = run_load(c);
    EXPECT_EQ(r.requests_ok, 0);
    EXPECT_EQ(r.errors.at("stream_error"), 7) << format_text(r);
  }
}

TEST(LoadTool, RefusedConnectionsAreConnectionErrors) {
  std::string url;
  {
    FakeServer closed({});
    url = closed.url();
  }  // port now closed
  Config c;
  c.url = url;
  c.model = "m";
  c.requests = 3;
  const Report r = run_load(c);
  EXPECT_EQ(r.requests_failed, 3);
  EXPECT_EQ(r.errors.at("connection"), 3);
}

TEST(LoadTool, SlowRepliesHitTheTimeout) {
  FakeServer server({.chunks = 2, .delay = std::chrono::milliseconds(3000)});
  Config c = config_for(server);
  c.requests = 2;
  c.concurrency = 2;
  c.timeout_s = 0.2;
  const Report r = run_load(c);
  EXPECT_EQ(r.errors.at("timeout"), 2) << format_text(r);
}

TEST(LoadTool, DurationCapStopsAnUnlimitedRun) {
  FakeServer server({.chunks = 2, .delay = std::chrono::milliseconds(5)});
  Config c = config_for(server);
  c.requests = 0;
  c.duration_s = 0.3;
  const Report r = run_load(c);
  EXPECT_GT(r.requests_ok, 0);
  EXPECT_EQ(r.requests_failed, 0);
}

// Open loop: request k is due at k / rate. Lower bounds only (they hold on any machine): with
// enough clients the offered schedule sets the wall time; with one client the queue behind a
// slow server shows as latency counted from when each request was due.
TEST(LoadTool, OpenLoopPacesStartsAndCountsLatencyFromTheDueTime) {
  FakeServer server({.chunks = 5, .delay = std::chrono::milliseconds(20)});  // >= 100 ms a request
  Config c = config_for(server);
  c.requests = 10;
  c.rate = 50;  // due every 20 ms: the last at 180 ms
  c.concurrency = 10;
  const Report paced = run_load(c);
  ASSERT_EQ(paced.requests_ok, 10) << format_text(paced);
  EXPECT_GE(paced.wall_s, 0.18 + 0.1) << format_text(paced);  // closed loop would take ~0.1 s
  EXPECT_EQ(paced.rate, 50);

  c.concurrency = 1;  // request k cannot end before (k + 1) * 100 ms but was due at k * 20 ms
  const Report queued = run_load(c);
  ASSERT_EQ(queued.requests_ok, 10) << format_text(queued);
  EXPECT_GE(queued.latency_ms.p99, 0.9 * (100 + 80 * 9)) << format_text(queued);
  EXPECT_GE(queued.ttft_ms.p99, 0.9 * (20 + 80 * 9)) << format_text(queued);
}

TEST(Config, RejectsANegativeRate) {
  Config c;
  c.rate = -1;
  EXPECT_THROW(validate(c), std::invalid_argument);
}

TEST(Report, JsonCarriesTheNumbers) {
  FakeServer server({.chunks = 2});
  const Report r = run_load(config_for(server));
  const auto j = boost::json::parse(format_json(r)).as_object();
  EXPECT_EQ(j.at("requests_ok").as_int64(), 7);
  EXPECT_EQ(j.at("output_tokens").as_int64(), r.output_tokens);
  EXPECT_EQ(j.at("ttft_ms").as_object().at("count").as_int64(), 7);
  EXPECT_TRUE(j.at("errors").as_object().empty());
  EXPECT_NE(format_text(r).find("7 ok, 0 failed"), std::string::npos) << format_text(r);
}

TEST(Prompts, LoadsJsonArraysAndLineFiles) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto json_path = dir / "tandem_load_prompts.json";
  const auto text_path = dir / "tandem_load_prompts.txt";
  std::ofstream(json_path) << R"(["one", "two \"quoted\""])";
  std::ofstream(text_path) << "first line\r\n\n  \nsecond line\n";
  EXPECT_EQ(load_prompts_file(json_path.string()), (std::vector<std::string>{"one", "two \"quoted\""}));
  EXPECT_EQ(load_prompts_file(text_path.string()), (std::vector<std::string>{"first line", "second line"}));
  std::ofstream(json_path) << R"(["ok", 3])";
  try {
    load_prompts_file(json_path.string());
    FAIL() << "non-string element accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("[1]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_prompts_file((dir / "no_such_prompts_file").string()), std::runtime_error);
  std::filesystem::remove(json_path);
  std::filesystem::remove(text_path);
}

}  // namespace
}  // namespace tandem::load
