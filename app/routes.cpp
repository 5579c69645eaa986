#include "app/server.h"
#include "app/status_page.h"
#include "http/metrics.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace tandem::app {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// A query parameter as a bounded integer, or the fallback when absent or malformed.
long query_number(const http::Request& request, std::string_view name, long fallback, long max) {
  auto text = request.query_param(name);
  if (!text) return fallback;
  long value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < 0) return fallback;
  return std::min(value, max);
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

// JSON bodies are built outside the coroutines: GCC 12 rejects initializer lists held across
// co_await ("array used as initializer").
std::string object_body(std::string_view key, json::value value) {
  json::object object;
  object[key] = std::move(value);
  return json::serialize(object);
}

std::string unavailable_body(const std::string& reason) {
  json::object object;
  object["status"] = "unavailable";
  object["reason"] = reason;
  return json::serialize(object);
}

}  // namespace

std::optional<std::string> no_backend_yet() {
  return "no model backend is available: this build has no local model serving (built without the engine or schemas components)";
}

void add_health_routes(http::Router& router, const AppServices& services) {
  router.add("GET", "/health", [](http::RequestContext& ctx) -> asio::awaitable<void> {
    co_await ctx.respond(200, object_body("status", "ok"));
  });

  auto readiness = services.readiness ? services.readiness : ReadinessCheck(no_backend_yet);
  router.add("GET", "/ready", [readiness](http::RequestContext& ctx) -> asio::awaitable<void> {
    auto reason = readiness();
    if (!reason) {
      co_await ctx.respond(200, object_body("status", "ready"));
    } else {
      co_await ctx.respond(
          503, unavailable_body(*reason));
    }
  });

  // The status page: open like /health (it holds no data; its own calls to /v1/* send the key
  // the user types). Its CSP keeps it from loading or sending anything off this server.
  router.add("GET", "/", [](http::RequestContext& ctx) -> asio::awaitable<void> {
    http::Headers headers;
    headers.emplace_back("content-security-policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                         "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'");
    headers.emplace_back("cache-control", "no-store");
    co_await ctx.respond(200, std::string(status_page_html()), std::move(headers), "text/html; charset=utf-8");
  });

  if (auto registry = services.metrics) {
    router.add("GET", "/metrics", [registry](http::RequestContext& ctx) -> asio::awaitable<void> {
      co_await ctx.respond(200, http::serialize_metrics(*registry), {},
                           http::kMetricsContentType);
    });
  }
}

void add_debug_routes(http::Router& router) {
  router.add("GET", "/debug/slow", [](http::RequestContext& ctx) -> asio::awaitable<void> {
    auto ms = query_number(ctx.request(), "ms", 1000, 600'000);
    spdlog::info("{}debug: sleeping {} ms", ctx.log_prefix(), ms);
    co_await sleep_for(std::chrono::milliseconds(ms));
    co_await ctx.respond(200, object_body("slept_ms", ms));
  });

  router.add("GET", "/debug/sse", [](http::RequestContext& ctx) -> asio::awaitable<void> {
    auto events = query_number(ctx.request(), "events", 5, 100'000);
    auto interval = std::chrono::milliseconds(query_number(ctx.request(), "interval_ms", 100, 60'000));
    auto stream = co_await ctx.begin_sse();
    for (long i = 0; i < events; ++i) {
      if (i > 0) co_await sleep_for(interval);
      bool delivered = co_await stream.send("tick", object_body("index", i));
      if (!delivered) {
        spdlog::info("{}debug stream stopped: client gone after {} of {} events",
                     ctx.log_prefix(), i, events);
        co_return;
      }
    }
    co_await stream.send("", "[DONE]");
  });
}

}  // namespace tandem::app
