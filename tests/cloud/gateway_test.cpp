// The real tandem binary in front of the fake upstream, over HTTP: byte-exact passthrough both
// ways, translation with upstream errors in the caller's protocol, the client's keys never
// forwarded and no key in tandem's output. (A client that leaves while the upstream stalls is
// not noticed by the HTTP session until it writes: see the report; the provider side of it is
// tested in provider_actor_test.) Each test runs with the actors on CAF's workers, on the
// thread they share with libcurl and the HTTP sessions (--actor-threads 0), and on two such
// threads (--io-threads 2: two shards), and ends with a clean SIGTERM exit.
#include "tests/common/http_client.h"
#include "tests/common/tandem_process.h"
#include "tests/fakes/fake_answers.h"
#include "tests/fakes/fake_upstream.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <numeric>

namespace tandem::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kAnthropicKey = "sk-ant-gateway-secret";
constexpr const char* kOpenAiKey = "sk-oai-gateway-secret";
constexpr const char* kClientKey = "tandem-client-key-789";

struct Threads {
  const char* actor_threads;
  const char* io_threads;
  const char* name;
};

class CloudGateway : public ::testing::TestWithParam<Threads> {
 protected:
  void SetUp() override {
    tandem_ = std::make_unique<TandemProcess>(
        TandemProcess::server_arguments({"--actor-threads", GetParam().actor_threads, "--io-threads", GetParam().io_threads}),
        std::map<std::string, std::string>{{"ANTHROPIC_API_KEY", kAnthropicKey},
                                           {"ANTHROPIC_BASE_URL", fake_.base_url()},
                                           {"OPENAI_API_KEY", kOpenAiKey},
                                           {"OPENAI_BASE_URL", fake_.base_url() + "/v1"},
                                           {"TANDEM_API_KEYS", kClientKey}});
    port_ = tandem_->port();
    ASSERT_NE(port_, 0) << tandem_->output();
  }

  void TearDown() override {
    tandem_->terminate();
    EXPECT_EQ(tandem_->wait_exit(), 0) << tandem_->output();
    std::string output = tandem_->output();
    EXPECT_EQ(output.find(kAnthropicKey), std::string::npos) << output;
    EXPECT_EQ(output.find(kOpenAiKey), std::string::npos) << output;
    EXPECT_EQ(output.find(kClientKey), std::string::npos) << output;
    for (const auto& request : fake_.requests())
      for (const auto& [name, value] : request.headers) EXPECT_EQ(value.find(kClientKey), std::string::npos) << name;
  }

  fakes::FakeUpstream fake_;
  std::unique_ptr<TandemProcess> tandem_;
  std::uint16_t port_ = 0;
};

TEST_P(CloudGateway, AnthropicPassthroughIsByteExactOverHttp) {
  std::string body = "{\"model\":\"claude-sonnet-4-5\",  \"max_tokens\": 1e3, \"messages\":[{\"role\":\"user\",\"content\":"
                     "[{\"type\":\"text\",\"text\":\"hi\",\"cache_control\":{\"type\":\"ephemeral\"}}]}],"
                     "\"context_management\":{\"edits\":[]}}";
  std::string answer = fakes::anthropic_message_json(fakes::FakeAnswer{});
  fake_.enqueue(fakes::json_response(200, answer, {{"anthropic-ratelimit-requests-remaining", "41"}}));

  auto response = http_request(port_, "POST", "/v1/messages", body,
                               {{"x-api-key", kClientKey}, {"anthropic-version", "2023-06-01"},
                                {"anthropic-beta", "brand-new-beta"}, {"content-type", "application/json"}});

  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(std::hash<std::string>{}(response.body), std::hash<std::string>{}(answer));
  EXPECT_EQ(response.header("anthropic-ratelimit-requests-remaining"), "41");
  EXPECT_FALSE(response.header("x-request-id").empty());
  auto requests = fake_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(std::hash<std::string>{}(requests[0].body), std::hash<std::string>{}(body));
  EXPECT_EQ(requests[0].header("x-api-key"), kAnthropicKey);
  EXPECT_EQ(requests[0].header("anthropic-beta"), "brand-new-beta");
  EXPECT_FALSE(requests[0].has_header("authorization"));
}

TEST_P(CloudGateway, OpenAiStreamPassthroughIsByteExactOverHttp) {
  auto frames = fakes::openai_stream_frames(fakes::FakeAnswer{}, true);
  fake_.enqueue(fakes::sse_response(frames));
  std::string body = R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})";

  auto response = http_request(port_, "POST", "/v1/chat/completions", body,
                               {{"authorization", std::string("Bearer ") + kClientKey}, {"content-type", "application/json"}});

  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, std::accumulate(frames.begin(), frames.end(), std::string()));
  ASSERT_EQ(fake_.requests().size(), 1u);
  EXPECT_EQ(fake_.requests()[0].body, body);
  EXPECT_EQ(fake_.requests()[0].header("authorization"), std::string("Bearer ") + kOpenAiKey);
}

TEST_P(CloudGateway, UpstreamErrorsComeBackInTheCallersProtocol) {
  fake_.enqueue(fakes::json_response(429, fakes::anthropic_error_json("rate_limit_error", "Number of requests has exceeded your rate limit"),
                                     {{"retry-after", "120"}}));  // beyond max_retry_after: no retry

  auto response = http_request(port_, "POST", "/v1/chat/completions",
                               R"({"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]})",
                               {{"authorization", std::string("Bearer ") + kClientKey}, {"content-type", "application/json"}});

  EXPECT_EQ(response.status, 429) << response.body;
  EXPECT_EQ(response.header("retry-after"), "120");
  EXPECT_EQ(fake_.request_count(), 1u);
  auto error = json::parse(response.body).at("error");
  EXPECT_EQ(error.at("type").as_string(), "rate_limit_error");
  EXPECT_EQ(error.at("message").as_string(), "Number of requests has exceeded your rate limit");
}

INSTANTIATE_TEST_SUITE_P(ActorThreads, CloudGateway,
                         ::testing::Values(Threads{"2", "1", "CafWorkers"}, Threads{"0", "1", "SharedIoThread"},
                                           Threads{"0", "2", "TwoIoShards"}),
                         [](const ::testing::TestParamInfo<Threads>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tandem::test
