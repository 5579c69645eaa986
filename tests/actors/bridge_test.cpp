// ask() and actor-fed streams: the 1,000-coroutine test and the failure paths.
#include "actors/bridge.h"
#include "tests/actors/coroutine_runner.h"

#include <gtest/gtest.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <future>

namespace tandem::actors {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_coroutine;

using generate_atom = caf::atom_constant<caf::atom("generate")>;
using count_atom = caf::atom_constant<caf::atom("count")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using hold_atom = caf::atom_constant<caf::atom("hold")>;

constexpr int kClients = 1000;
constexpr int kEventsPerStream = 100;

// Holds every generate request until `release`, so all clients are provably in flight at once,
// then answers each with `n` and streams 0..n-1 into its sink.
struct GateState {
  struct Held {
    caf::response_promise promise;
    int n;
    EventSender<int> direct;  // set when the client passed its sender
    caf::actor feeder;        // set when the client passed a feeder actor
  };
  std::vector<Held> held;
};

caf::behavior gate_actor(caf::stateful_actor<GateState>* self) {
  return {
      [self](generate_atom, int n, EventSender<int> sink) {
        auto promise = self->make_response_promise();
        self->state.held.push_back({promise, n, std::move(sink), caf::actor{}});
        return promise;
      },
      [self](generate_atom, int n, caf::actor feeder) {
        auto promise = self->make_response_promise();
        self->state.held.push_back({promise, n, EventSender<int>{}, std::move(feeder)});
        return promise;
      },
      [self](count_atom) { return static_cast<int>(self->state.held.size()); },
      [self](release_atom) {
        for (auto& held : self->state.held) {
          for (int i = 0; i < held.n; ++i) {
            if (held.feeder) {
              self->send(held.feeder, i);
            } else if (!held.direct.try_push(i)) {
              held.promise.deliver(caf::make_error(caf::sec::runtime_error));
              break;
            }
          }
          if (held.feeder) self->send(held.feeder, caf::close_atom::value);
          held.direct.close();
          held.promise.deliver(held.n);
        }
        self->state.held.clear();
        return caf::ok_atom::value;
      },
  };
}

// One client: ask, then read the whole stream; returns how many events arrived in order.
asio::awaitable<int> stream_client(ActorRuntime& runtime, caf::actor gate, bool via_feeder) {
  auto [sender, receiver] = make_event_stream<int>(kEventsPerStream + 28);
  int announced = 0;
  if (via_feeder) {
    auto feeder = spawn_stream_feeder(runtime.system(), std::move(sender));
    announced = co_await ask<int>(runtime, gate, 60s, generate_atom::value, kEventsPerStream, feeder);
  } else {
    announced = co_await ask<int>(runtime, gate, 60s, generate_atom::value, kEventsPerStream, std::move(sender));
  }
  int in_order = 0;
  while (auto event = co_await receiver.next()) {
    if (*event == in_order) ++in_order;
  }
  co_return announced == kEventsPerStream ? in_order : -1;
}

void run_thousand_clients(bool via_feeder) {
  ActorRuntime runtime(RuntimeOptions{.worker_threads = 1});
  ASSERT_EQ(runtime.worker_threads(), 1u);
  auto gate = runtime.system().spawn(gate_actor);
  std::atomic<int> complete{0}, failed{0};
  int polls = 0;
  run_coroutine([&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    for (int i = 0; i < kClients; ++i) {
      asio::co_spawn(executor, stream_client(runtime, gate, via_feeder), [&](std::exception_ptr error, int events) {
        (!error && events == kEventsPerStream ? complete : failed)++;
      });
    }
    // This coroutine shares the two I/O threads with the 1,000 suspended clients; it can only
    // reach the release if none of them holds a thread.
    asio::steady_timer timer(executor);
    while (co_await ask<int>(runtime, gate, 60s, count_atom::value) < kClients) {
      ++polls;
      timer.expires_after(1ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    EXPECT_EQ(complete + failed, 0) << "a client finished before the gate opened";
    co_await ask<caf::ok_atom>(runtime, gate, 60s, release_atom::value);
  }());
  EXPECT_EQ(complete, kClients);
  EXPECT_EQ(failed, 0);
  caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
}

TEST(Bridge, ThousandClientsAwaitReplyAndStreamFromSender) { run_thousand_clients(false); }

TEST(Bridge, ThousandClientsAwaitReplyAndStreamThroughFeederActors) { run_thousand_clients(true); }

// Expects `coroutine` to throw BridgeError with `code`.
void expect_bridge_error(asio::awaitable<void> coroutine, BridgeErrc code) {
  try {
    run_coroutine(std::move(coroutine));
    ADD_FAILURE() << "expected BridgeError " << to_string(code) << ", got success";
  } catch (const BridgeError& error) {
    EXPECT_EQ(error.code(), code) << error.what();
  }
}

// Generous: if down-monitoring failed, these tests would end with `timeout` instead.
constexpr auto kLongTimeout = 60s;

TEST(Bridge, ActorQuittingWithAPendingPromiseFailsTheAskWithActorDown) {
  ActorRuntime runtime;
  auto quitter = runtime.system().spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {[self](hold_atom) {
      auto promise = self->make_response_promise();
      self->quit();
      return promise;
    }};
  });
  expect_bridge_error(
      [&]() -> asio::awaitable<void> { co_await ask<int>(runtime, quitter, kLongTimeout, hold_atom::value); }(),
      BridgeErrc::actor_down);
}

TEST(Bridge, ActorThrowingInItsHandlerFailsTheAskWithActorDown) {
  ActorRuntime runtime;
  auto thrower = runtime.system().spawn([](caf::event_based_actor* self) -> caf::behavior {
    // Without this, CAF's default handler prints the exception; the outcome is the same.
    self->set_exception_handler([](std::exception_ptr&) -> caf::error { return caf::sec::runtime_error; });
    return {[](hold_atom) -> int { throw std::runtime_error("engine exploded"); }};
  });
  expect_bridge_error(
      [&]() -> asio::awaitable<void> { co_await ask<int>(runtime, thrower, kLongTimeout, hold_atom::value); }(),
      BridgeErrc::actor_down);
}

caf::behavior silent_actor(caf::stateful_actor<std::vector<caf::response_promise>>* self,
                           std::shared_ptr<std::promise<void>> got_request) {
  return {[self, got_request](hold_atom) {
    self->state.push_back(self->make_response_promise());
    if (got_request) got_request->set_value();
    return self->state.back();
  }};
}

TEST(Bridge, AskToAnAlreadyDeadActorFailsWithActorDown) {
  ActorRuntime runtime;
  auto dead = runtime.system().spawn(silent_actor, nullptr);
  {
    caf::scoped_actor waiter(runtime.system());
    waiter->send_exit(dead, caf::exit_reason::user_shutdown);
    waiter->wait_for(dead);
  }
  expect_bridge_error(
      [&]() -> asio::awaitable<void> { co_await ask<int>(runtime, dead, kLongTimeout, hold_atom::value); }(),
      BridgeErrc::actor_down);
  expect_bridge_error(
      [&]() -> asio::awaitable<void> { co_await ask<int>(runtime, caf::actor{}, kLongTimeout, hold_atom::value); }(),
      BridgeErrc::actor_down);
}

TEST(Bridge, SilentActorFailsTheAskWithTimeout) {
  ActorRuntime runtime;
  auto silent = runtime.system().spawn(silent_actor, nullptr);
  expect_bridge_error(
      [&]() -> asio::awaitable<void> { co_await ask<int>(runtime, silent, 100ms, hold_atom::value); }(),
      BridgeErrc::timeout);
  caf::anon_send_exit(silent, caf::exit_reason::user_shutdown);
}

// ask(runtime, ...) goes through the runtime's AskGate: no helper actor per ask, and an ask that
// timed out leaves nothing pending behind.
TEST(Bridge, AskThroughTheRuntimeSpawnsNoActorAndForgetsATimedOutAsk) {
  ActorRuntime runtime;
  auto got_request = std::make_shared<std::promise<void>>();
  auto request_arrived = got_request->get_future();
  auto silent = runtime.system().spawn(silent_actor, got_request);
  const auto running_before = runtime.system().registry().running();
  std::optional<BridgeErrc> outcome;
  std::thread io_thread([&] {
    try {
      run_coroutine([&]() -> asio::awaitable<void> { co_await ask<int>(runtime, silent, 500ms, hold_atom::value); }());
    } catch (const BridgeError& error) {
      outcome = error.code();
    }
  });
  request_arrived.wait();
  EXPECT_EQ(runtime.system().registry().running(), running_before);
  EXPECT_EQ(runtime.ask_gate()->pending(), 1u);
  io_thread.join();
  EXPECT_EQ(outcome, BridgeErrc::timeout);
  EXPECT_EQ(runtime.ask_gate()->pending(), 0u);
  caf::anon_send_exit(silent, caf::exit_reason::user_shutdown);
}

TEST(Bridge, ErrorReplyReachesTheCoroutineWithItsCode) {
  ActorRuntime runtime;
  auto refuser = runtime.system().spawn([]() -> caf::behavior {
    return {[](hold_atom) -> caf::result<int> { return caf::make_error(caf::sec::invalid_argument); }};
  });
  try {
    run_coroutine([&]() -> asio::awaitable<void> { co_await ask<int>(runtime, refuser, kLongTimeout, hold_atom::value); }());
    ADD_FAILURE() << "expected ActorErrorReply";
  } catch (const ActorErrorReply& reply) {
    EXPECT_EQ(reply.code(), BridgeErrc::error_reply);
    EXPECT_TRUE(reply.error() == caf::sec::invalid_argument) << reply.what();
  }
  caf::anon_send_exit(refuser, caf::exit_reason::user_shutdown);
}

TEST(Bridge, RepliesOfAnyMessageTypeArrive) {
  ActorRuntime runtime;
  auto echo = runtime.system().spawn([]() -> caf::behavior {
    return {[](const std::string& text, int times) {
      std::string out;
      for (int i = 0; i < times; ++i) out += text;
      return out;
    }};
  });
  auto reply = run_coroutine([&]() -> asio::awaitable<std::string> {
    co_return co_await ask<std::string>(runtime, echo, kLongTimeout, std::string("ab"), 3);
  }());
  EXPECT_EQ(reply, "ababab");
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}

TEST(Bridge, AsioCancellationEndsTheAskEarly) {
  using namespace asio::experimental::awaitable_operators;
  ActorRuntime runtime;
  auto silent = runtime.system().spawn(silent_actor, nullptr);
  auto winner = run_coroutine([&]() -> asio::awaitable<std::size_t> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
    auto result = co_await (ask<int>(runtime, silent, kLongTimeout, hold_atom::value) ||
                            timer.async_wait(asio::use_awaitable));
    co_return result.index();
  }());
  EXPECT_EQ(winner, 1u) << "the timer should win against an actor that never answers";
  caf::anon_send_exit(silent, caf::exit_reason::user_shutdown);
}

TEST(Bridge, RuntimeShutdownFailsAsksToTrackedActorsWithActorDown) {
  ActorRuntime runtime;
  auto got_request = std::make_shared<std::promise<void>>();
  auto request_arrived = got_request->get_future();
  auto router = runtime.system().spawn(silent_actor, got_request);
  runtime.track(router);
  std::optional<BridgeErrc> outcome;
  std::thread io_thread([&] {
    try {
      run_coroutine([&]() -> asio::awaitable<void> { co_await ask<int>(runtime, router, kLongTimeout, hold_atom::value); }());
    } catch (const BridgeError& error) {
      outcome = error.code();
    }
  });
  request_arrived.wait();
  runtime.shutdown();  // as main does on SIGTERM, while the coroutine still waits
  io_thread.join();
  EXPECT_EQ(outcome, BridgeErrc::actor_down);
}

TEST(Bridge, DestroyingTheIoContextWhileAnAskIsPendingIsSafe) {
  ActorRuntime runtime;
  auto got_request = std::make_shared<std::promise<void>>();
  auto request_arrived = got_request->get_future();
  auto silent = runtime.system().spawn(silent_actor, got_request);
  bool resumed = false;
  {
    asio::io_context io;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await ask<int>(runtime, silent, kLongTimeout, hold_atom::value);
      resumed = true;
    }, asio::detached);
    std::thread runner([&] { io.run(); });
    request_arrived.wait();
    io.stop();
    runner.join();
  }  // the suspended coroutine is destroyed with the io_context
  // The helper now learns its target died and completes into a context that no longer exists.
  caf::scoped_actor self(runtime.system());
  self->send_exit(silent, caf::exit_reason::user_shutdown);
  self->wait_for(silent);
  EXPECT_FALSE(resumed);
}

// --- streams fed by actors ---

TEST(Bridge, FeederFailsTheStreamWhenItsProducerDies) {
  ActorRuntime runtime;
  auto [sender, receiver] = make_event_stream<int>(16);
  auto feeder = spawn_stream_feeder(runtime.system(), std::move(sender));
  runtime.system().spawn([feeder](caf::event_based_actor* self) {
    for (int i = 0; i < 3; ++i) self->send(feeder, i);
    self->quit(caf::exit_reason::user_shutdown);  // dies without closing
  });
  std::vector<int> seen;
  try {
    run_coroutine([&]() -> asio::awaitable<void> {
      while (auto event = co_await receiver.next()) seen.push_back(*event);
    }());
    ADD_FAILURE() << "expected actor_down";
  } catch (const BridgeError& error) {
    EXPECT_EQ(error.code(), BridgeErrc::actor_down) << error.what();
  }
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2}));
}

TEST(Bridge, FeederPassesAProducerErrorToTheConsumer) {
  ActorRuntime runtime;
  auto [sender, receiver] = make_event_stream<int>(16);
  auto feeder = spawn_stream_feeder(runtime.system(), std::move(sender));
  caf::anon_send(feeder, 7);
  caf::anon_send(feeder, caf::close_atom::value, caf::make_error(caf::sec::invalid_argument));
  std::vector<int> seen;
  try {
    run_coroutine([&]() -> asio::awaitable<void> {
      while (auto event = co_await receiver.next()) seen.push_back(*event);
    }());
    ADD_FAILURE() << "expected the producer's error";
  } catch (const ActorErrorReply& error) {
    EXPECT_TRUE(error.error() == caf::sec::invalid_argument) << error.what();
  }
  EXPECT_EQ(seen, std::vector<int>{7});
}

TEST(Bridge, FeederExitsWhenTheConsumerGoesAway) {
  ActorRuntime runtime;
  auto [sender, receiver] = make_event_stream<int>(16);
  auto feeder = spawn_stream_feeder(runtime.system(), std::move(sender));
  caf::scoped_actor self(runtime.system());
  self->monitor(feeder);
  receiver = EventReceiver<int>{};  // the client disconnected
  bool down = false;
  self->receive([&](caf::down_msg& msg) { down = msg.source == feeder.address(); },
                caf::after(kLongTimeout) >> [] {});
  EXPECT_TRUE(down);
}

}  // namespace
}  // namespace tandem::actors
