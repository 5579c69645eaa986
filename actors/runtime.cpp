#include "actors/runtime.h"

#include "actors/actor_metrics.h"
#include "actors/bridge.h"
#include "actors/io_coordinator.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace tandem::actors {

struct ActorRuntime::Impl {
  // With share_io_thread: created before the system and stopped after it.
  std::vector<std::unique_ptr<boost::asio::io_context>> io;
  std::vector<boost::asio::io_context*> io_pointers;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> io_work;
  std::vector<std::thread> io_threads;
  IoCoordinatorConfig config;

  ~Impl() { stop_io(); }  // also when the constructor threw after starting the threads
  void stop_io() {
    io_work.clear();
    for (auto& context : io) context->stop();
    for (auto& thread : io_threads) thread.join();
    io_threads.clear();
    io_pointers.clear();
    io.clear();
  }
  std::unique_ptr<caf::actor_system> system;
  std::mutex mutex;  // guards tracked and system against concurrent track()/shutdown()
  std::vector<caf::actor> tracked;
  std::shared_ptr<detail::AskGate> gate;
};

ActorRuntime::ActorRuntime(const RuntimeOptions& options) : impl_(std::make_unique<Impl>()) {
  auto& cfg = impl_->config;
  cfg.set("scheduler.max-threads", options.worker_threads == 0 ? std::size_t{1} : options.worker_threads);
  // Idle workers spin briefly, then sleep on their condition variable (woken by the next
  // message). CAF's default polls 500 more times with a 50 µs sleep in between: on this 2-core
  // target those wake-ups took ~25% of the gateway's CPU and stole cores from the engine threads.
  cfg.set("work-stealing.moderate-poll-attempts", std::size_t{0});
  if (options.share_io_thread) {
    cfg.set("scheduler.max-threads", std::size_t{1});
    for (std::size_t i = 0; i < std::max<std::size_t>(1, options.io_threads); ++i) {
      auto& context = impl_->io.emplace_back(std::make_unique<boost::asio::io_context>(1));
      impl_->io_pointers.push_back(context.get());
      impl_->io_work.push_back(boost::asio::make_work_guard(*context));
    }
    for (auto* context : impl_->io_pointers) impl_->io_threads.emplace_back([context] { context->run(); });
    cfg.io = impl_->io_pointers;
    cfg.load<IoCoordinator>();
  }
  if (options.enable_networking) cfg.load<caf::io::middleman>();
  if (options.configure) options.configure(cfg);
  impl_->system = std::make_unique<caf::actor_system>(cfg);
  impl_->gate = detail::AskGate::make(*impl_->system);
}

ActorRuntime::~ActorRuntime() { shutdown(); }

const std::vector<boost::asio::io_context*>& ActorRuntime::io_contexts() { return impl_->io_pointers; }

caf::actor_system& ActorRuntime::system() {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->system) throw std::logic_error("ActorRuntime::system() called after shutdown()");
  return *impl_->system;
}

std::size_t ActorRuntime::worker_threads() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->system ? impl_->system->scheduler().num_workers() : 0;
}

std::shared_ptr<detail::AskGate> ActorRuntime::ask_gate() {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->system) throw std::logic_error("ActorRuntime::ask_gate() called after shutdown()");
  return impl_->gate;
}

void ActorRuntime::track(const caf::actor& actor) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->system && actor) impl_->tracked.push_back(actor);
}

void ActorRuntime::release_calling_thread() { caf::logger::set_current_actor_system(nullptr); }

void ActorRuntime::shutdown() {
  std::unique_ptr<caf::actor_system> system;
  std::shared_ptr<detail::AskGate> gate;
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->system) return;
    for (auto& actor : impl_->tracked) caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    impl_->tracked.clear();
    system = std::move(impl_->system);
    gate = std::move(impl_->gate);
  }
  // The gate's companion is hidden, so this waits for every other actor; asks still pending to
  // one of them then fail with actor_down (its down message may still be on its way).
  system->registry().await_running_count_equal(0);
  gate->close();
  gate.reset();
  // A later system could get this one's address: it must not inherit its metrics registry
  // (meters already made keep their registry alive).
  detach_actor_metrics(*system);
  // The destructor blocks until every (non-hidden) actor has terminated.
  system.reset();
  impl_->stop_io();
}

}  // namespace tandem::actors
