// ActorRuntime: the knobs main relies on.
#include "actors/runtime.h"

#include <gtest/gtest.h>

#include <caf/all.hpp>

#include <future>
#include <stdexcept>
#include <thread>

namespace tandem::actors {
namespace {

TEST(ActorRuntime, UsesTheConfiguredNumberOfWorkerThreads) {
  ActorRuntime two(RuntimeOptions{.worker_threads = 2});
  EXPECT_EQ(two.worker_threads(), 2u);
  EXPECT_EQ(two.system().scheduler().num_workers(), 2u);
  ActorRuntime defaults;
  EXPECT_EQ(defaults.worker_threads(), 1u);
}

TEST(ActorRuntime, ShutdownIsIdempotentAndEndsAccessToTheSystem) {
  ActorRuntime runtime;
  runtime.track(runtime.system().spawn([]() -> caf::behavior { return {[](int x) { return x; }}; }));
  runtime.shutdown();  // would hang if the tracked actor were not told to exit
  runtime.shutdown();
  EXPECT_THROW(runtime.system(), std::logic_error);
  EXPECT_EQ(runtime.worker_threads(), 0u);
}

TEST(ActorRuntime, ConfigureHookAndNetworkingOption) {
  bool configured = false;
  RuntimeOptions options;
  options.enable_networking = true;
  options.configure = [&](caf::actor_system_config&) { configured = true; };
  ActorRuntime runtime(options);
  EXPECT_TRUE(configured);
  EXPECT_TRUE(runtime.system().has_middleman());
}

TEST(ActorRuntime, ShutdownDoesNotWaitForALiveThreadThatReleasedItself) {
  ActorRuntime runtime;
  std::promise<void> spawned, may_exit, shut_down;
  std::thread spawner([&] {
    auto actor = runtime.system().spawn([]() -> caf::behavior { return {[](int x) { return x; }}; });
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    ActorRuntime::release_calling_thread();
    spawned.set_value();
    may_exit.get_future().wait();
  });
  spawned.get_future().wait();
  bool shutdown_was_stuck = false;
  std::thread watchdog([&] {
    shutdown_was_stuck = shut_down.get_future().wait_for(std::chrono::seconds(60)) != std::future_status::ready;
    may_exit.set_value();  // lets a broken shutdown finish too, so the test ends either way
  });
  runtime.shutdown();
  shut_down.set_value();
  watchdog.join();
  spawner.join();
  EXPECT_FALSE(shutdown_was_stuck) << "shutdown waited for the spawning thread to exit";
}

}  // namespace
}  // namespace tandem::actors
