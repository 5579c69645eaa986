// Integration tests: the real `tandem` binary on an ephemeral port, spoken to over HTTP.
#include "tests/common/http_client.h"
#include "tests/common/tandem_process.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

namespace tandem::test {
namespace {

namespace json = boost::json;

std::string temp_file(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("tandem_it_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(TandemBinary, ServesHealthReadyAndMetrics) {
  TandemProcess server(TandemProcess::server_arguments());
  auto port = server.port();
  ASSERT_NE(port, 0);
  auto health = http_request(port, "GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(json::parse(health.body), json::parse(R"({"status":"ok"})"));

  auto ready = http_request(port, "GET", "/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_FALSE(json::parse(ready.body).at("reason").as_string().empty());

  auto missing = http_request(port, "POST", "/nowhere");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body).at("error").at("type"), "invalid_request_error");
  auto wrong_method = http_request(port, "POST", "/health");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.header("allow"), "GET");

  server.terminate();
  EXPECT_EQ(server.wait_exit(), 0);
}

TEST(TandemBinary, MetricsPassPromtool) {
#ifndef PROMTOOL
  GTEST_FAIL() << "promtool not found at configure time (Debian package `prometheus`)";
#else
  TandemProcess server(TandemProcess::server_arguments());
  auto port = server.port();
  ASSERT_NE(port, 0);
  http_request(port, "GET", "/health");
  http_request(port, "GET", "/ready");
  http_request(port, "GET", "/nope");
  // Requests are counted after their response is written: poll until the last one shows.
  HttpResponse metrics;
  for (int attempt = 0; attempt < 200; ++attempt) {
    metrics = http_request(port, "GET", "/metrics");
    if (metrics.body.find(R"(route="unmatched",status="404"} 1)") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find(R"(tandem_http_requests_total{method="GET",route="/ready",status="503"} 1)"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("tandem_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.body.find("# TYPE tandem_http_open_connections gauge"), std::string::npos);

  auto path = temp_file("metrics.txt", metrics.body);
  std::string command = std::string(PROMTOOL) + " check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string report;
  char line[512];
  while (fgets(line, sizeof line, pipe) != nullptr) report += line;
  int status = pclose(pipe);
  EXPECT_EQ(status, 0) << "promtool check metrics:\n" << report << "\n" << metrics.body;
#endif
}

TEST(TandemBinary, SigtermLetsAnInFlightSlowResponseFinishThenExitsZero) {
  TandemProcess server(TandemProcess::server_arguments({"--debug-routes", "--drain-timeout", "30"}));
  auto port = server.port();
  ASSERT_NE(port, 0);
  HttpResponse response;
  std::string failure;
  std::thread client([&] {
    try {
      response = http_request(port, "GET", "/debug/slow?ms=1500");
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  ASSERT_TRUE(server.wait_for_output("debug: sleeping 1500 ms"));
  server.terminate();
  client.join();
  EXPECT_EQ(failure, "");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(json::parse(response.body).at("slept_ms"), 1500);
  EXPECT_EQ(server.wait_exit(), 0);
  auto log = server.output();
  EXPECT_NE(log.find("received signal 15"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
}

TEST(TandemBinary, SseStreamAndSigintDrain) {
  TandemProcess server(TandemProcess::server_arguments({"--debug-routes"}));
  auto port = server.port();
  ASSERT_NE(port, 0);
  HttpClient client("127.0.0.1", port);
  auto header = client.start_request("GET", "/debug/sse?events=4&interval_ms=200");
  EXPECT_EQ(header.status, 200);
  EXPECT_EQ(header.header("content-type"), "text/event-stream");
  bool done = false;
  std::string body = client.read_more(done);
  server.signal(SIGINT);  // the stream is in flight: it finishes before the process exits
  while (!done) body = client.read_more(done);
  EXPECT_NE(body.find("event: tick\ndata: {\"index\":3}\n\n"), std::string::npos) << body;
  EXPECT_NE(body.find("data: [DONE]\n\n"), std::string::npos) << body;
  EXPECT_EQ(server.wait_exit(), 0);
}

TEST(TandemBinary, AccessLogCarriesTheRequestId) {
  TandemProcess server(TandemProcess::server_arguments());
  auto port = server.port();
  ASSERT_NE(port, 0);
  auto echoed = http_request(port, "GET", "/health", "", {{"x-request-id", "it-req-42"}});
  EXPECT_EQ(echoed.header("x-request-id"), "it-req-42");
  EXPECT_EQ(echoed.header("request-id"), "it-req-42");
  EXPECT_TRUE(server.wait_for_output("[it-req-42] GET /health 200")) << server.output();

  auto generated = http_request(port, "GET", "/ready");
  auto id = generated.header("x-request-id");
  ASSERT_TRUE(id.starts_with("req_")) << id;
  EXPECT_TRUE(server.wait_for_output("[" + id + "] GET /ready 503")) << server.output();
}

TEST(TandemBinary, ApiKeysFromTheEnvironmentGuardV1AndNeverReachTheLog) {
  TandemProcess server(TandemProcess::server_arguments({"--log-level", "trace"}),
                       {{"TANDEM_API_KEYS", "sk-secret-one,sk-secret-two"}});
  auto port = server.port();
  ASSERT_NE(port, 0);

  auto none = http_request(port, "GET", "/v1/models");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(json::parse(none.body).at("error").at("code"), "invalid_api_key");

  auto wrong = http_request(port, "POST", "/v1/messages", "{}", {{"x-api-key", "sk-wrong-key"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(json::parse(wrong.body).at("error").at("type"), "authentication_error");

  // A right key gets past the check to the endpoint itself: the model list (empty, no model
  // served), and the Anthropic parser's complaint about the empty body.
  auto bearer = http_request(port, "GET", "/v1/models", "", {{"Authorization", "Bearer sk-secret-two"}});
  EXPECT_EQ(bearer.status, 200) << bearer.body;
  EXPECT_EQ(json::parse(bearer.body).at("object"), "list") << bearer.body;
  auto x_api_key = http_request(port, "POST", "/v1/messages", "{}",
                                {{"x-api-key", "sk-secret-one"}, {"content-type", "application/json"}});
  EXPECT_EQ(x_api_key.status, 400) << x_api_key.body;
  EXPECT_EQ(json::parse(x_api_key.body).at("error").at("type"), "invalid_request_error") << x_api_key.body;

  EXPECT_EQ(http_request(port, "GET", "/health").status, 200);
  EXPECT_EQ(http_request(port, "GET", "/metrics").status, 200);

  server.terminate();
  EXPECT_EQ(server.wait_exit(), 0);
  auto log = server.output();
  EXPECT_EQ(log.find("sk-secret"), std::string::npos) << log;
  EXPECT_EQ(log.find("sk-wrong"), std::string::npos) << log;
  EXPECT_NE(log.find("2 API key(s)"), std::string::npos) << log;
}

TEST(TandemBinary, ConfigFileAppliesAndFlagsOverrideIt) {
  auto file = temp_file("limits.json", R"({"body_limit": 1024, "port": 0, "host": "127.0.0.1"})");
  {
    TandemProcess server({"--config", file});
    auto port = server.port();
    ASSERT_NE(port, 0);
    EXPECT_EQ(http_request(port, "POST", "/health", std::string(2000, 'x')).status, 413);
  }
  {
    TandemProcess server({"--config", file, "--body-limit", "4K"});
    auto port = server.port();
    ASSERT_NE(port, 0);
    EXPECT_EQ(http_request(port, "POST", "/health", std::string(2000, 'x')).status, 405);
  }
}

TEST(TandemBinary, ConfigErrorsExitWithCode2AndNameTheKey) {
  auto unknown = temp_file("unknown.json", R"({"prot": 8080})");
  auto [unknown_code, unknown_output] = run_tandem({"--config", unknown});
  EXPECT_EQ(unknown_code, 2);
  EXPECT_NE(unknown_output.find("unknown key \"prot\""), std::string::npos) << unknown_output;

  auto invalid = temp_file("invalid.json", R"({"max_connections": "many"})");
  auto [invalid_code, invalid_output] = run_tandem({"--config", invalid});
  EXPECT_EQ(invalid_code, 2);
  EXPECT_NE(invalid_output.find("\"max_connections\""), std::string::npos) << invalid_output;

  auto [flag_code, flag_output] = run_tandem({"--port", "99999"});
  EXPECT_EQ(flag_code, 2);
  EXPECT_NE(flag_output.find("--port"), std::string::npos) << flag_output;
}

TEST(TandemBinary, HelpDocumentsEveryOption) {
  auto [code, help] = run_tandem({"--help"});
  EXPECT_EQ(code, 0);
  for (const char* option :
       {"--host", "--port", "-m,--model", "--alias", "-c,--ctx-size", "--parallel", "-t,--threads",
        "--io-threads", "--actor-threads", "--max-connections", "--body-limit", "--read-timeout",
        "--drain-timeout", "--max-queue", "--batch-tokens", "--responses-store", "--responses-ttl", "--api-keys", "--log-level",
        "--config"}) {
    EXPECT_NE(help.find(option), std::string::npos) << option << " missing from --help:\n" << help;
  }
}

TEST(TandemBinary, PortInUseIsAClearError) {
  TandemProcess first(TandemProcess::server_arguments());
  auto port = first.port();
  ASSERT_NE(port, 0);
  auto [code, output] = run_tandem({"--host", "127.0.0.1", "--port", std::to_string(port)});
  EXPECT_NE(code, 0);
  EXPECT_NE(output.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << output;
}

// `make run` must work from a clone alone (no ../shared beside it): the Makefile's default
// MODEL is a file inside the repository, with its license beside it, and tandem serves it.
TEST(TandemBinary, MakeRunsDefaultModelShipsWithTheRepositoryAndAnswersAChat) {
  const std::filesystem::path source(TANDEM_SOURCE_DIR);
  std::ifstream makefile(source / "Makefile");
  ASSERT_TRUE(makefile) << "no Makefile in " << source;
  std::string line, model;
  while (std::getline(makefile, line)) {
    if (line.rfind("MODEL ?= ", 0) == 0) model = line.substr(9);
  }
  ASSERT_FALSE(model.empty()) << "the Makefile has no 'MODEL ?= ' default";
  EXPECT_EQ(model.find(".."), std::string::npos) << "the default model must not be outside the repository: " << model;
  EXPECT_FALSE(std::filesystem::path(model).is_absolute()) << model;
  const auto model_path = source / model;
  ASSERT_TRUE(std::filesystem::exists(model_path)) << model_path;
  EXPECT_TRUE(std::filesystem::exists(model_path.parent_path() / "LICENSE")) << "license beside " << model_path;

  TandemProcess server(TandemProcess::server_arguments({"--model", model_path.string()}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();
  auto response = http_request(port, "POST", "/v1/chat/completions",
                               R"({"model":"stories260K","max_tokens":8,"temperature":0,)"
                               R"("messages":[{"role":"user","content":"Once upon a time"}]})",
                               {{"content-type", "application/json"}});
  ASSERT_EQ(response.status, 200) << response.body;
  auto body = json::parse(response.body);
  EXPECT_EQ(body.at("model"), "stories260K");
  EXPECT_FALSE(body.at("choices").at(0).at("message").at("content").as_string().empty()) << response.body;
  const auto generated = body.at("usage").at("completion_tokens").as_int64();
  EXPECT_GE(generated, 1) << response.body;
  EXPECT_LE(generated, 8) << response.body;
  server.terminate();
  EXPECT_EQ(server.wait_exit(), 0);
}

}  // namespace
}  // namespace tandem::test
