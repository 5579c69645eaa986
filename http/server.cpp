// Server lifecycle: bind, the acceptor coroutine, I/O threads, signals and the graceful drain.
#include "http/detail/connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <thread>

namespace tandem::http {

using detail::Connection;
using detail::tcp;

struct Server::Impl {
  // Declared before the io_context: coroutine frames the io_context still holds when it is
  // destroyed refer to this state.
  detail::ServerState state;
  asio::io_context io{};
  detail::Executor acceptor_strand = asio::make_strand(io);
  tcp::acceptor acceptor{acceptor_strand};
  asio::signal_set signals{acceptor_strand};
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::size_t next_shard = 0;  // the accept loop's, on acceptor_strand

  asio::awaitable<void> accept_loop();
  void begin_shutdown();
  // Strong references to the connections still open, taken under the lock. Act on them outside
  // it: dropping the last reference runs ~Connection, which takes the same lock to unregister.
  std::vector<std::shared_ptr<Connection>> open_connections();
};

namespace {

void log_coroutine_failure(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("connection coroutine failed: {}", e.what());
  }
}

}  // namespace

asio::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    // A connection on the server's own threads needs a strand; on a shard, whose io_context one
    // thread runs, its handlers are serialized already (and a strand would cost on every handler).
    auto& shards = state.options.io_contexts;
    asio::any_io_executor executor = shards.empty()
                                         ? asio::any_io_executor(asio::make_strand(io))
                                         : asio::any_io_executor(shards[next_shard++ % shards.size()]->get_executor());
    auto [ec, socket] = co_await acceptor.async_accept(executor, asio::as_tuple(asio::use_awaitable));
    if (state.shutting_down || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer pause(acceptor_strand, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::use_awaitable);
      continue;
    }
    // Responses and SSE events are small writes: Nagle would hold each back for the client's ACK.
    boost::system::error_code no_delay_ignored;
    socket.set_option(tcp::no_delay(true), no_delay_ignored);
    std::shared_ptr<Connection> connection;
    {
      std::lock_guard lock(state.mutex);
      if (state.open_connections < state.options.max_connections) {
        ++state.open_connections;
        connection = std::make_shared<Connection>(std::move(socket), state, true);
        connection->registration = state.connections.insert(state.connections.end(), connection);
      }
    }
    if (connection) {
      asio::co_spawn(connection->executor(), connection->run(),
                     [connection](std::exception_ptr e) { log_coroutine_failure(e); });
    } else {
      auto rejected = std::make_shared<Connection>(std::move(socket), state, false);
      asio::co_spawn(rejected->executor(), rejected->reject_over_limit(),
                     [rejected](std::exception_ptr e) { log_coroutine_failure(e); });
    }
  }
}

void Server::Impl::begin_shutdown() {
  if (state.shutting_down.exchange(true)) return;
  asio::post(acceptor_strand, [this] {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
  });
  {
    std::lock_guard lock(state.mutex);
    state.changed.notify_all();
  }
  for (auto& connection : open_connections()) connection->close_if_idle();
}

std::vector<std::shared_ptr<Connection>> Server::Impl::open_connections() {
  std::vector<std::shared_ptr<Connection>> open;
  std::lock_guard lock(state.mutex);
  for (auto& weak : state.connections) {
    if (auto connection = weak.lock()) open.push_back(std::move(connection));
  }
  return open;
}

Server::Server(ServerOptions options, Router router) : impl_(std::make_unique<Impl>()) {
  impl_->state.options = std::move(options);
  impl_->state.router = std::move(router);
  if (impl_->state.options.metrics) {
    impl_->state.metrics = std::make_unique<HttpMetrics>(*impl_->state.options.metrics);
  }
}

Server::~Server() {
  if (!impl_->threads.empty()) {
    shutdown();
    wait();
  }
}

void Server::start() {
  auto& options = impl_->state.options;
  tcp::endpoint endpoint;
  try {
    tcp::resolver resolver(impl_->io);
    auto results = resolver.resolve(options.host, std::to_string(options.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service);
    endpoint = results.begin()->endpoint();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot resolve listen address " + options.host + ": " + e.what());
  }
  try {
    auto& acceptor = impl_->acceptor;
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    impl_->port = acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + options.host + ":" +
                             std::to_string(options.port) + ": " + e.what());
  }

  if (options.handle_signals) {
    impl_->signals.add(SIGINT);
    impl_->signals.add(SIGTERM);
    impl_->signals.async_wait([impl = impl_.get()](boost::system::error_code ec, int signal) {
      if (ec) return;
      spdlog::info("received signal {}: shutting down (drain timeout {} ms)", signal,
                   impl->state.options.drain_timeout.count());
      impl->begin_shutdown();
    });
  }
  asio::co_spawn(impl_->acceptor_strand, impl_->accept_loop(), log_coroutine_failure);
  // With external io_contexts, one thread for the acceptor and the signals.
  int thread_count = options.io_contexts.empty() ? std::max(1, options.io_threads) : 1;
  for (int i = 0; i < thread_count; ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] { impl->io.run(); });
  }
}

std::uint16_t Server::port() const { return impl_->port; }

void Server::shutdown() { impl_->begin_shutdown(); }

void Server::wait() {
  auto& state = impl_->state;
  {
    std::unique_lock lock(state.mutex);
    state.changed.wait(lock, [&] { return state.shutting_down.load(); });
    auto deadline = std::chrono::steady_clock::now() + state.options.drain_timeout;
    bool drained =
        state.changed.wait_until(lock, deadline, [&] { return state.open_connections == 0; });
    if (!drained) {
      spdlog::warn("drain timeout: closing {} connection(s) still open",
                   state.open_connections);
    }
  }
  if (!state.options.io_contexts.empty()) {
    // Their io_contexts go on after this returns: close what the drain left open (own threads
    // simply stop below).
    for (auto& connection : impl_->open_connections()) connection->close_now();
  }
  impl_->io.stop();
  for (auto& thread : impl_->threads) thread.join();
  impl_->threads.clear();
}

}  // namespace tandem::http
