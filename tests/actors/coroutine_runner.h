// Runs a coroutine on a private io_context and hands back its result or exception.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <thread>
#include <vector>

namespace tandem::actors::test {

namespace asio = boost::asio;

// A watchdog, not a speed check: a broken bridge would otherwise hang the test run forever.
inline constexpr auto kWatchdog = std::chrono::seconds(120);

inline void run_threads(asio::io_context& io, int threads) {
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run_for(kWatchdog); });
  io.run_for(kWatchdog);
  for (auto& thread : pool) thread.join();
}

// Returns the coroutine's value; rethrows its exception. Runs until the io_context has no work
// left (so coroutines it co_spawned finish too).
template <class T>
T run_coroutine(asio::awaitable<T> coroutine, int threads = 2) {
  asio::io_context io;
  std::exception_ptr error;
  std::optional<T> value;
  bool finished = false;
  asio::co_spawn(io, std::move(coroutine), [&](std::exception_ptr e, T v) {
    error = e;
    value = std::move(v);
    finished = true;
  });
  run_threads(io, threads);
  if (!finished) throw std::runtime_error("coroutine did not finish before the watchdog");
  if (error) std::rethrow_exception(error);
  return std::move(*value);
}

inline void run_coroutine(asio::awaitable<void> coroutine, int threads = 2) {
  asio::io_context io;
  std::exception_ptr error;
  bool finished = false;
  asio::co_spawn(io, std::move(coroutine), [&](std::exception_ptr e) {
    error = e;
    finished = true;
  });
  run_threads(io, threads);
  if (!finished) throw std::runtime_error("coroutine did not finish before the watchdog");
  if (error) std::rethrow_exception(error);
}

}  // namespace tandem::actors::test
