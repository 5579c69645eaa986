// The real tandem binary with routing rules in its config file, two fake upstreams as providers
// and the local stories260K model: a failing provider falls back to the next target of the
// chain (x-tandem-backend / x-tandem-fallbacks say so), a full local queue falls back to the
// cloud, GET /v1/backends reports every backend behind the API keys, and SIGHUP reloads the rules
// (a bad file is logged naming the problem and the rules in force stay).
#include "tests/common/http_client.h"
#include "tests/common/tandem_process.h"
#include "tests/fakes/fake_answers.h"
#include "tests/fakes/fake_upstream.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>
#include <unistd.h>

namespace tandem::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kClientKey = "tandem-routing-key";

std::string providers_json(const fakes::FakeUpstream& primary, const fakes::FakeUpstream& backup) {
  return R"("providers": [
      {"name": "primary", "protocol": "openai", "base_url": ")" + primary.base_url() + R"(/v1", "models": ["m1"],
       "retry": {"max_attempts": 1}, "breaker": {"consecutive_failures": 2, "cooldown_ms": 60000}},
      {"name": "backup", "protocol": "openai", "base_url": ")" + backup.base_url() + R"(/v1", "models": ["m2"]},
    ],)";
}

constexpr const char* kChainRules = R"("routing": {"rules": [
      {"name": "assistant", "match": {"exact": "assistant"},
       "targets": [{"backend": "primary", "model": "m1"}, {"backend": "backup", "model": "m2"}]},
      {"name": "story", "match": {"exact": "story"},
       "targets": [{"backend": "local", "model": "stories260K"}, {"backend": "backup", "model": "m2"}]},
    ]})";

class GatewayRouting : public ::testing::Test {
 protected:
  void SetUp() override {
    config_path_ = std::filesystem::temp_directory_path() /
                   ("tandem-routing-" + std::to_string(::getpid()) + "-" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonc");
    write_config(kChainRules);
    backup_.set_script([](const fakes::RecordedRequest&) {
      return fakes::json_response(200, fakes::openai_chat_json(fakes::FakeAnswer{}));
    });
    primary_.set_script([](const fakes::RecordedRequest&) {
      return fakes::json_response(500, fakes::openai_error_json("server_error", "primary is down"));
    });
    tandem_ = std::make_unique<TandemProcess>(
        TandemProcess::server_arguments({"--model", std::string(TANDEM_SOURCE_DIR) + "/models/stories260K.gguf",
                                         "--parallel", "1", "--max-queue", "1", "--debug-step-delay", "100",
                                         "--config", config_path_.string()}),
        std::map<std::string, std::string>{{"TANDEM_API_KEYS", kClientKey}});
    port_ = tandem_->port();
    ASSERT_NE(port_, 0) << tandem_->output();
  }

  void TearDown() override { std::filesystem::remove(config_path_); }

  void write_config(const std::string& routing) {
    std::ofstream out(config_path_);
    out << "{\n  // rules under test\n  " << providers_json(primary_, backup_) << "\n  " << routing << ",\n}\n";
  }

  HttpResponse chat(const std::string& model, int max_tokens = 8) {
    std::string body = R"({"model":")" + model + R"(","max_tokens":)" + std::to_string(max_tokens) +
                       R"(,"messages":[{"role":"user","content":"hi"}]})";
    return http_request(port_, "POST", "/v1/chat/completions", body,
                        {{"authorization", std::string("Bearer ") + kClientKey}, {"content-type", "application/json"}});
  }

  fakes::FakeUpstream primary_;
  fakes::FakeUpstream backup_;
  std::filesystem::path config_path_;
  std::unique_ptr<TandemProcess> tandem_;
  std::uint16_t port_ = 0;
};

TEST_F(GatewayRouting, AFailingProviderFallsBackAndTheHeadersSaySo) {
  auto response = chat("assistant");

  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.header("x-tandem-backend"), "backup");
  EXPECT_EQ(response.header("x-tandem-fallbacks"), "primary/m1");
  EXPECT_EQ(json::parse(response.body).at("choices").at(0).at("message").at("content").as_string(),
            fakes::FakeAnswer{}.text);
  ASSERT_EQ(backup_.requests().size(), 1u);
  EXPECT_EQ(json::parse(backup_.requests()[0].body).at("model").as_string(), "m2");

  // Two failures open primary's breaker: the next request skips it without calling it.
  chat("assistant");
  std::size_t primary_calls = primary_.request_count();
  auto skipped = chat("assistant");
  EXPECT_EQ(skipped.header("x-tandem-backend"), "backup");
  EXPECT_EQ(primary_.request_count(), primary_calls);

  auto metrics = http_request(port_, "GET", "/metrics");
  EXPECT_NE(metrics.body.find(R"(tandem_breaker_state{provider="primary"} 2)"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find(R"(tandem_router_fallbacks_total{from="primary",reason="breaker_open",to="backup"} 1)"),
            std::string::npos);
  EXPECT_NE(metrics.body.find(R"(tandem_upstream_requests_total{provider="primary",status="500"} 2)"), std::string::npos);
  // The usage of the three passed-through answers (12 in, 7 out each), counted after each was sent.
  EXPECT_NE(metrics.body.find(R"(tandem_upstream_tokens_total{direction="input",model="m2",provider="backup"} 36)"),
            std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find(R"(tandem_upstream_tokens_total{direction="output",model="m2",provider="backup"} 21)"),
            std::string::npos);
}

TEST_F(GatewayRouting, AFullLocalQueueFallsBackToTheCloud) {
  // --parallel 1 --max-queue 1: one request generates, one waits, the next finds the queue full.
  // Each is sent once the one before holds its place (two at once could race for the queue).
  auto until = [this](const char* running, const char* waiting) {
    for (int i = 0; i < 1000; ++i) {
      auto body = http_request(port_, "GET", "/metrics").body;
      if (body.find(std::string(R"(tandem_scheduler_running_sequences{model="stories260K"} )") + running) != std::string::npos &&
          body.find(std::string(R"(tandem_scheduler_waiting_requests{model="stories260K"} )") + waiting) != std::string::npos)
        return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  };
  auto running = std::async(std::launch::async, [this] { return chat("story", 30); });
  ASSERT_TRUE(until("1", "0"));
  auto waiting = std::async(std::launch::async, [this] { return chat("story", 30); });
  ASSERT_TRUE(until("1", "1"));
  auto third = chat("story", 4);
  EXPECT_EQ(third.status, 200) << third.body;
  EXPECT_EQ(third.header("x-tandem-backend"), "backup");
  EXPECT_EQ(third.header("x-tandem-fallbacks"), "local/stories260K");
  EXPECT_EQ(running.get().header("x-tandem-backend"), "local");
  EXPECT_EQ(waiting.get().header("x-tandem-backend"), "local");
}

TEST_F(GatewayRouting, BackendsAreListedBehindTheApiKeys) {
  chat("assistant");
  auto refused = http_request(port_, "GET", "/v1/backends");
  EXPECT_EQ(refused.status, 401);

  auto response = http_request(port_, "GET", "/v1/backends", "", {{"authorization", std::string("Bearer ") + kClientKey}});

  ASSERT_EQ(response.status, 200) << response.body;
  auto body = json::parse(response.body).as_object();
  EXPECT_EQ(body.at("object").as_string(), "list");
  const auto& data = body.at("data").as_array();
  ASSERT_EQ(data.size(), 3u) << response.body;
  EXPECT_EQ(data[0].at("name").as_string(), "local");
  EXPECT_EQ(data[0].at("kind").as_string(), "local");
  EXPECT_EQ(data[0].at("state").as_string(), "ready");
  EXPECT_TRUE(data[0].at("queue").is_int64());
  EXPECT_TRUE(data[0].at("latency_p50_ms").is_null());
  EXPECT_EQ(data[1].at("name").as_string(), "primary");
  EXPECT_EQ(data[1].at("kind").as_string(), "cloud");
  EXPECT_EQ(data[1].at("state").as_string(), "closed");
  EXPECT_GT(data[1].at("error_rate").as_double(), 0.0);  // its one call failed
  EXPECT_TRUE(data[1].at("queue").is_null());
  EXPECT_EQ(data[2].at("name").as_string(), "backup");
  EXPECT_EQ(data[2].at("error_rate").as_double(), 0.0);
  EXPECT_TRUE(data[2].at("latency_p50_ms").is_number());
}

// Names only rules define are models to clients, in both list shapes, owned by the rule's first
// target (a local target's like local models: "tandem"), and each can be fetched by id.
TEST_F(GatewayRouting, RuleOnlyNamesAreListedAsModels) {
  const HeaderList key = {{"authorization", std::string("Bearer ") + kClientKey}};
  auto openai = http_request(port_, "GET", "/v1/models", "", key);
  ASSERT_EQ(openai.status, 200) << openai.body;
  std::map<std::string, std::string> owners;
  const auto openai_list = json::parse(openai.body);
  for (const auto& model : openai_list.at("data").as_array())
    owners[std::string(model.at("id").as_string())] = std::string(model.at("owned_by").as_string());
  EXPECT_EQ(owners["assistant"], "primary");
  EXPECT_EQ(owners["story"], "tandem");
  EXPECT_EQ(owners["stories260K"], "tandem");

  auto anthropic_headers = key;
  anthropic_headers.emplace_back("anthropic-version", "2023-06-01");
  auto anthropic = http_request(port_, "GET", "/v1/models", "", anthropic_headers);
  ASSERT_EQ(anthropic.status, 200) << anthropic.body;
  std::vector<std::string> ids;
  const auto anthropic_list = json::parse(anthropic.body);
  for (const auto& model : anthropic_list.at("data").as_array())
    ids.emplace_back(model.at("id").as_string());
  EXPECT_NE(std::find(ids.begin(), ids.end(), "assistant"), ids.end()) << anthropic.body;
  EXPECT_NE(std::find(ids.begin(), ids.end(), "story"), ids.end()) << anthropic.body;

  auto one = http_request(port_, "GET", "/v1/models/assistant", "", key);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json::parse(one.body).at("owned_by").as_string(), "primary");
}

TEST_F(GatewayRouting, SighupReloadsTheRulesAndABadFileKeepsThem) {
  write_config(R"("routing": {"rules": [{"match": {"regex": "(unclosed"}, "targets": [{"backend": "backup"}]}]})");
  tandem_->signal(SIGHUP);
  ASSERT_TRUE(tandem_->wait_for_output("reload on SIGHUP rejected")) << tandem_->output();
  EXPECT_TRUE(tandem_->wait_for_output("routing.rules[0].match.regex", 1s)) << tandem_->output();
  EXPECT_EQ(chat("assistant").header("x-tandem-fallbacks"), "primary/m1");  // the old rules

  write_config(R"("routing": {"rules": [{"match": {"exact": "assistant"}, "targets": [{"backend": "nowhere"}]}]})");
  tandem_->signal(SIGHUP);
  ASSERT_TRUE(tandem_->wait_for_output("unknown backend \"nowhere\"")) << tandem_->output();

  write_config(R"("routing": {"rules": [{"match": {"exact": "assistant"}, "targets": [{"backend": "backup", "model": "m2"}]}]})");
  tandem_->signal(SIGHUP);
  ASSERT_TRUE(tandem_->wait_for_output("reloaded 1 rule(s)")) << tandem_->output();
  auto response = chat("assistant");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("x-tandem-backend"), "backup");
  EXPECT_EQ(response.header("x-tandem-fallbacks"), "");
}

// Providers are read at startup only: a reload that leaves them as they were says so, and one
// that changes them says a restart applies it, while the providers in force keep serving.
TEST_F(GatewayRouting, SighupLeavesProvidersAsTheyWereAndSaysSo) {
  tandem_->signal(SIGHUP);
  ASSERT_TRUE(tandem_->wait_for_output("providers: unchanged on SIGHUP (in force: primary, backup)")) << tandem_->output();

  {
    // primary now points at backup's fake, and a third provider appears.
    std::ofstream out(config_path_);
    out << R"({"providers": [
      {"name": "primary", "protocol": "openai", "base_url": ")" << backup_.base_url() << R"(/v1", "models": ["m1"]},
      {"name": "backup", "protocol": "openai", "base_url": ")" << backup_.base_url() << R"(/v1", "models": ["m2"]},
      {"name": "third", "protocol": "openai", "base_url": ")" << backup_.base_url() << R"(/v1", "models": ["m3"]},
    ], )" << kChainRules << "}\n";
  }
  tandem_->signal(SIGHUP);
  ASSERT_TRUE(tandem_->wait_for_output("providers: providers changed in")) << tandem_->output();
  EXPECT_TRUE(tandem_->wait_for_output("restart tandem to apply it (in force, unchanged: primary, backup)", 1s))
      << tandem_->output();

  // Still the old primary (its fake fails): tried first, then the fallback.
  const std::size_t primary_calls = primary_.request_count();
  auto response = chat("assistant");
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.header("x-tandem-fallbacks"), "primary/m1");
  EXPECT_EQ(primary_.request_count(), primary_calls + 1);
  // And no provider "third" exists.
  EXPECT_EQ(chat("third/m3").status, 404);
}

}  // namespace
}  // namespace tandem::test
