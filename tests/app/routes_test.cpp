// The app's own routes over a real socket; /ready is driven through its readiness seam.
#include "app/server.h"
#include "tests/common/http_client.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

namespace tandem::app {
namespace {

namespace json = boost::json;

class RoutesTest : public ::testing::Test {
 protected:
  void start(ReadinessCheck readiness) {
    services_.metrics = std::make_shared<prometheus::Registry>();
    services_.readiness = std::move(readiness);
    http::Router router;
    add_health_routes(router, services_);
    http::ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.metrics = services_.metrics;
    server_ = std::make_unique<http::Server>(options, std::move(router));
    server_->start();
  }
  void TearDown() override {
    server_->shutdown();
    server_->wait();
  }
  test::HttpResponse get(const std::string& target) {
    return test::http_request(server_->port(), "GET", target);
  }

  AppServices services_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(RoutesTest, HealthIsOk) {
  start(no_backend_yet);
  auto response = get("/health");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(json::parse(response.body), json::parse(R"({"status":"ok"})"));
}

TEST_F(RoutesTest, ReadyIs503WithAReasonWithoutBackends) {
  start(no_backend_yet);
  auto response = get("/ready");
  EXPECT_EQ(response.status, 503);
  auto body = json::parse(response.body);
  EXPECT_EQ(body.at("status"), "unavailable");
  EXPECT_FALSE(body.at("reason").as_string().empty());
}

TEST_F(RoutesTest, ReadyIs200OnceABackendCanServe) {
  std::atomic<bool> backend_up{false};
  start([&]() -> std::optional<std::string> {
    if (backend_up) return std::nullopt;
    return "loading";
  });
  EXPECT_EQ(get("/ready").status, 503);
  backend_up = true;
  auto response = get("/ready");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(json::parse(response.body).at("status"), "ready");
}

TEST_F(RoutesTest, MetricsUsePrometheusTextFormat) {
  start(no_backend_yet);
  get("/health");
  auto response = get("/metrics");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(response.body.find("# TYPE tandem_http_requests_total counter"), std::string::npos);
}

TEST(ServerOptionsFromConfig, CarriesLimitsAndKeys) {
  auto config = parse_config({"tandem", "--max-connections", "3", "--body-limit", "1K",
                              "--read-timeout", "1.5", "--drain-timeout", "2", "--io-threads", "2"},
                             [](const std::string& name) -> std::optional<std::string> {
                               if (name == "TANDEM_API_KEYS") return "a,b";
                               return std::nullopt;
                             });
  auto options = server_options(config);
  EXPECT_EQ(options.max_connections, 3u);
  EXPECT_EQ(options.body_limit, 1024u);
  EXPECT_EQ(options.read_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(options.drain_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(options.io_threads, 2);
  EXPECT_EQ(options.api_keys, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace tandem::app
