// Wiring of the `tandem` server: the routes every build has (/health, /ready, /metrics and the
// test-only /debug/* routes) and the run loop main() calls when no subcommand is given.
#pragma once

#include "app/config.h"
#include "http/server.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace prometheus {
class Registry;
}

namespace tandem::app {

// What /ready asks: nullopt when at least one backend can serve, else the reason it cannot.
using ReadinessCheck = std::function<std::optional<std::string>()>;

struct AppServices {
  std::shared_ptr<prometheus::Registry> metrics;
  ReadinessCheck readiness;
};

// /ready's answer until backends exist.
std::optional<std::string> no_backend_yet();

void add_health_routes(http::Router& router, const AppServices& services);
// Test-only routes (enabled by the hidden --debug-routes flag):
//   GET /debug/slow?ms=N                      answers after N ms
//   GET /debug/sse?events=N&interval_ms=M     N events, M ms apart; logs when the client leaves
void add_debug_routes(http::Router& router);

http::ServerOptions server_options(const AppConfig& config);
// Sets the spdlog level and pattern; the default logger writes to stdout, flushed per line.
void configure_logging(const std::string& level, const std::string& format = "text");

// Runs the server until SIGINT/SIGTERM and the drain; returns the process exit code.
int run_server(const AppConfig& config);

}  // namespace tandem::app
