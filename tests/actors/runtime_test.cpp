// ActorRuntime: the knobs main relies on.
#include "actors/runtime.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <caf/all.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <set>
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

// Which thread runs this, as something a message can carry.
uint64_t thread_tag() { return std::hash<std::thread::id>{}(std::this_thread::get_id()); }

TEST(ActorRuntime, SharedIoThreadRunsEveryActorOnTheIoContextsThread) {
  ActorRuntime runtime(RuntimeOptions{.share_io_thread = true});
  ASSERT_EQ(runtime.io_contexts().size(), 1u);
  EXPECT_EQ(runtime.worker_threads(), 1u);
  std::promise<uint64_t> io_thread;
  boost::asio::post(*runtime.io_contexts()[0], [&] { io_thread.set_value(thread_tag()); });
  const uint64_t io_id = io_thread.get_future().get();

  // An actor that asks another (a request from inside a handler, and its reply) and answers
  // with the threads both ran on.
  auto inner = runtime.system().spawn([]() -> caf::behavior {
    return {[](int x) { return std::make_pair(x * 2, thread_tag()); }};
  });
  auto outer = runtime.system().spawn([inner](caf::event_based_actor* self) -> caf::behavior {
    return {[self, inner](int x) -> caf::result<uint64_t, uint64_t, int> {
      auto promise = self->make_response_promise<uint64_t, uint64_t, int>();
      const uint64_t outer_id = thread_tag();
      self->request(inner, caf::infinite, x).then([promise, outer_id](std::pair<int, uint64_t> reply) mutable {
        promise.deliver(outer_id, reply.second, reply.first);
      });
      return promise;
    }};
  });
  {
    caf::scoped_actor caller(runtime.system());
    caller->request(outer, std::chrono::seconds(30), 21)
        .receive(
            [&](uint64_t outer_id, uint64_t inner_id, int doubled) {
              EXPECT_EQ(outer_id, io_id);
              EXPECT_EQ(inner_id, io_id);
              EXPECT_EQ(doubled, 42);
            },
            [&](caf::error& error) { ADD_FAILURE() << to_string(error); });
  }
  caf::anon_send_exit(inner, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(outer, caf::exit_reason::user_shutdown);
  runtime.shutdown();  // would hang if a job were still counted or the io thread never stopped
  EXPECT_TRUE(runtime.io_contexts().empty());
}

// Jobs a shard schedules for itself are drained in one handler, but in bounded slices: an actor
// that never runs out of messages (it sends itself one per message) still leaves the shard free
// for the sockets and handlers queued behind it.
TEST(ActorRuntime, SharedIoThreadIsNotStarvedByAnActorThatKeepsItselfBusy) {
  ActorRuntime runtime(RuntimeOptions{.share_io_thread = true});
  auto& io = *runtime.io_contexts()[0];
  std::atomic<long> ticks{0};
  auto spinner = runtime.system().spawn([&ticks](caf::event_based_actor* self) -> caf::behavior {
    return {[self, &ticks](int) {
      ++ticks;
      self->send(self, 0);
    }};
  });
  caf::anon_send(spinner, 0);
  // A second actor scheduled from the shard while the spinner runs gets its turn too.
  std::promise<void> other_ran;
  auto other = runtime.system().spawn([&other_ran]() -> caf::behavior {
    return {[&other_ran](int) { other_ran.set_value(); }};
  });
  while (ticks.load() < 1000) std::this_thread::yield();
  std::promise<void> handler_ran;
  boost::asio::post(io, [&] {
    handler_ran.set_value();
    caf::anon_send(other, 1);  // from the shard's own thread: its local queue
  });
  EXPECT_EQ(handler_ran.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(other_ran.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  caf::anon_send_exit(spinner, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(other, caf::exit_reason::user_shutdown);
  runtime.shutdown();
}

// With several shared threads (the HTTP server's shards), an actor runs on the thread that
// scheduled it, so a request that starts on one shard stays there; other threads' messages go to
// the shards in turn.
TEST(ActorRuntime, SharedIoThreadsRunAnActorOnTheThreadThatSentToIt) {
  ActorRuntime runtime(RuntimeOptions{.share_io_thread = true, .io_threads = 2});
  const auto contexts = runtime.io_contexts();
  ASSERT_EQ(contexts.size(), 2u);
  std::vector<uint64_t> shard_threads;
  for (auto* io : contexts) {
    std::promise<uint64_t> tag;
    boost::asio::post(*io, [&] { tag.set_value(thread_tag()); });
    shard_threads.push_back(tag.get_future().get());
  }
  ASSERT_NE(shard_threads[0], shard_threads[1]);

  std::mutex mutex;
  std::optional<std::promise<uint64_t>> ran_on;
  auto recorder = runtime.system().spawn([&]() -> caf::behavior {
    return {[&](int) {
      std::lock_guard lock(mutex);
      ran_on->set_value(thread_tag());
    }};
  });
  auto run_once = [&](auto send) {
    std::future<uint64_t> tag;
    {
      std::lock_guard lock(mutex);
      ran_on.emplace();
      tag = ran_on->get_future();
    }
    send();
    const uint64_t ran = tag.get();
    // The handler has answered, but its job may still be running: once a handler posted after it
    // has run on every shard, the actor is idle, and the next send schedules it afresh.
    for (auto* io : contexts) {
      std::promise<void> drained;
      boost::asio::post(*io, [&] { drained.set_value(); });
      drained.get_future().wait();
    }
    return ran;
  };
  for (int round = 0; round < 3; ++round) {
    for (std::size_t shard = 0; shard < contexts.size(); ++shard) {
      const uint64_t tag = run_once([&] { boost::asio::post(*contexts[shard], [&] { caf::anon_send(recorder, 1); }); });
      EXPECT_EQ(tag, shard_threads[shard]) << "round " << round << ", sent from shard " << shard;
    }
  }
  std::set<uint64_t> from_outside;
  for (int i = 0; i < 4; ++i) from_outside.insert(run_once([&] { caf::anon_send(recorder, 1); }));
  EXPECT_EQ(from_outside, std::set<uint64_t>(shard_threads.begin(), shard_threads.end()))
      << "messages from other threads go to every shard in turn";
  caf::anon_send_exit(recorder, caf::exit_reason::user_shutdown);
  runtime.shutdown();
  EXPECT_TRUE(runtime.io_contexts().empty());
}

TEST(ActorRuntime, SharedIoThreadKeepsTimeoutsAndDelayedMessages) {
  ActorRuntime runtime(RuntimeOptions{.share_io_thread = true});
  // CAF's clock thread still fires request timeouts and delayed sends into the io thread.
  auto silent = runtime.system().spawn([]() -> caf::behavior { return {[](int) -> caf::result<int> { return caf::skip(); }}; });
  auto waiter = runtime.system().spawn([silent](caf::event_based_actor* self) -> caf::behavior {
    return {[self, silent](int x) -> caf::result<std::string> {
      auto promise = self->make_response_promise<std::string>();
      self->request(silent, std::chrono::milliseconds(50), x)
          .then([promise](int) mutable { promise.deliver(std::string("answered")); },
                [self, promise](caf::error& error) mutable {
                  // Then a delayed message to itself, through the same clock.
                  self->delayed_send(self, std::chrono::milliseconds(20), std::string(to_string(error)));
                  self->become(caf::keep_behavior, [promise](const std::string& text) mutable { promise.deliver(text); });
                });
      return promise;
    }};
  });
  {
    caf::scoped_actor caller(runtime.system());
    caller->request(waiter, std::chrono::seconds(30), 1)
        .receive([&](const std::string& text) { EXPECT_NE(text.find("timeout"), std::string::npos) << text; },
                 [&](caf::error& error) { ADD_FAILURE() << to_string(error); });
  }
  caf::anon_send_exit(silent, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(waiter, caf::exit_reason::user_shutdown);
  runtime.shutdown();
}

}  // namespace
}  // namespace tandem::actors
