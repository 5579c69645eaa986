// An in-process tandem::http::Server on an ephemeral port, shut down after each test.
#pragma once

#include "http/metrics.h"
#include "http/server.h"
#include "tests/common/http_client.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <memory>

namespace tandem::http {

class ServerTest : public ::testing::Test {
 protected:
  void start(Router router, ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<Server>(std::move(options), std::move(router));
    server_->start();
    port_ = server_->port();
  }
  void TearDown() override {
    if (server_) {
      server_->shutdown();
      server_->wait();
    }
  }

  static asio::awaitable<void> sleep_ms(int ms) {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    co_await timer.async_wait(asio::use_awaitable);
  }

  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace tandem::http
