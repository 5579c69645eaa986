// EventStream without actors: producers on plain threads, consumers in coroutines.
#include "actors/event_stream.h"
#include "tests/actors/coroutine_runner.h"

#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <future>
#include <string>
#include <thread>

namespace tandem::actors {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_coroutine;

// Reads until the end; returns the items and the error code the stream ended with, if any.
struct Drained {
  std::vector<int> items;
  std::optional<BridgeErrc> error;
};

asio::awaitable<Drained> drain(EventReceiver<int>& receiver) {
  Drained result;
  try {
    while (auto item = co_await receiver.next()) result.items.push_back(*item);
  } catch (const BridgeError& error) {
    result.error = error.code();
  }
  co_return result;
}

std::vector<int> iota(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST(EventStream, ItemsFromAnotherThreadArriveInOrderThenTheEnd) {
  auto [sender, receiver] = make_event_stream<int>(2000);
  std::thread producer([sender = std::move(sender)] {
    for (int i = 0; i < 2000; ++i) ASSERT_TRUE(sender.try_push(i));
    sender.close();
  });
  auto drained = run_coroutine(drain(receiver));
  producer.join();
  EXPECT_EQ(drained.items, iota(2000));
  EXPECT_FALSE(drained.error);
}

TEST(EventStream, ProducerErrorArrivesAfterTheBufferedItems) {
  auto [sender, receiver] = make_event_stream<std::string>(8);
  sender.try_push("hello");
  sender.close_with_error(std::make_exception_ptr(std::runtime_error("engine failed: out of memory")));
  EXPECT_FALSE(sender.try_push("late")) << "a closed stream accepts nothing";
  std::string first, error;
  try {
    run_coroutine([&]() -> asio::awaitable<void> {
      first = *co_await receiver.next();
      co_await receiver.next();
    }());
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  EXPECT_EQ(first, "hello");
  EXPECT_EQ(error, "engine failed: out of memory");
}

TEST(EventStream, OverflowRefusesThePushCancelsOnceAndEndsTheStream) {
  auto [sender, receiver] = make_event_stream<int>(4);
  std::vector<BridgeErrc> cancellations;
  sender.on_cancel([&](BridgeErrc reason) { cancellations.push_back(reason); });
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(sender.try_push(i));
  EXPECT_FALSE(sender.try_push(4)) << "the fifth event overflows a capacity-4 buffer";
  EXPECT_FALSE(sender.try_push(5));
  EXPECT_FALSE(sender.accepting());
  EXPECT_EQ(cancellations, std::vector<BridgeErrc>{BridgeErrc::overflow});
  auto drained = run_coroutine(drain(receiver));
  EXPECT_EQ(drained.items, iota(4)) << "what was buffered before the overflow is still delivered";
  EXPECT_EQ(drained.error, BridgeErrc::overflow);
  receiver = EventReceiver<int>{};
  EXPECT_EQ(cancellations.size(), 1u) << "on_cancel fires at most once";
}

TEST(EventStream, DestroyingTheReceiverCancelsTheProducerOnce) {
  auto [sender, receiver] = make_event_stream<int>(4);
  int cancelled = 0;
  sender.on_cancel([&](BridgeErrc reason) {
    EXPECT_EQ(reason, BridgeErrc::cancelled);
    ++cancelled;
  });
  EXPECT_TRUE(sender.try_push(1));
  EXPECT_FALSE(sender.consumer_gone());
  { auto gone = std::move(receiver); }
  EXPECT_EQ(cancelled, 1);
  EXPECT_TRUE(sender.consumer_gone());
  EXPECT_FALSE(sender.try_push(2));
  int late = 0;
  sender.on_cancel([&](BridgeErrc) { ++late; });
  EXPECT_EQ(late, 1) << "a callback registered after the cancellation runs immediately";
  EXPECT_EQ(cancelled, 1);
}

TEST(EventStream, CancelFromAnotherCoroutineEndsAPendingNext) {
  auto [sender, receiver] = make_event_stream<int>(4);
  Drained drained;
  run_coroutine([&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    // co_spawn starts the reader inline, so it is parked in next() when cancel() runs.
    asio::co_spawn(executor, [&]() -> asio::awaitable<void> { drained = co_await drain(receiver); }, asio::detached);
    receiver.cancel();
    co_return;
  }(), 1);
  EXPECT_TRUE(drained.items.empty());
  EXPECT_EQ(drained.error, BridgeErrc::cancelled);
  EXPECT_FALSE(sender.try_push(1));
}

TEST(EventStream, DroppingEverySenderWithoutCloseEndsWithProducerGone) {
  auto [sender, receiver] = make_event_stream<int>(4);
  {
    auto copy = sender;
    sender = EventSender<int>{};
    copy.try_push(42);
    EXPECT_TRUE(copy.accepting()) << "one sender copy is still alive";
  }
  auto drained = run_coroutine(drain(receiver));
  EXPECT_EQ(drained.items, std::vector<int>{42});
  EXPECT_EQ(drained.error, BridgeErrc::producer_gone);
}

TEST(EventStream, ACancelledNextLosesNoItems) {
  using namespace asio::experimental::awaitable_operators;
  auto [sender, receiver] = make_event_stream<int>(4);
  auto result = run_coroutine([&]() -> asio::awaitable<std::pair<std::size_t, int>> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
    auto first = co_await (receiver.next() || timer.async_wait(asio::use_awaitable));
    sender.try_push(7);  // after the race: must not be swallowed by the cancelled next()
    auto item = co_await receiver.next();
    co_return std::pair{first.index(), item.value_or(-1)};
  }());
  EXPECT_EQ(result.first, 1u) << "the timer wins against an empty stream";
  EXPECT_EQ(result.second, 7);
}

TEST(EventStream, TwoConcurrentNextCallsAreRejected) {
  auto [sender, receiver] = make_event_stream<int>(4);
  int misuses = 0, ends = 0;
  auto reader = [&]() -> asio::awaitable<void> {
    try {
      if (!co_await receiver.next()) ++ends;
    } catch (const BridgeError& error) {
      EXPECT_EQ(error.code(), BridgeErrc::misuse);
      ++misuses;
      sender.close();  // releases the reader that got in first
    }
  };
  run_coroutine([&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(executor, reader(), asio::detached);
    asio::co_spawn(executor, reader(), asio::detached);
    co_return;
  }(), 1);
  EXPECT_EQ(misuses, 1);
  EXPECT_EQ(ends, 1);
}

TEST(EventStream, TryPopTakesOnlyWhatIsBuffered) {
  auto [sender, receiver] = make_event_stream<int>(4);
  EXPECT_EQ(receiver.try_pop(), std::nullopt);
  sender.try_push(1);
  sender.try_push(2);
  sender.close();
  EXPECT_EQ(receiver.try_pop(), 1);
  EXPECT_EQ(receiver.try_pop(), 2);
  EXPECT_EQ(receiver.try_pop(), std::nullopt);
  EXPECT_TRUE(run_coroutine(drain(receiver)).items.empty());
}

TEST(EventStream, TryNextGivesWhatNextWouldWithoutWaitingAndLeavesErrorsToNext) {
  auto [sender, receiver] = make_event_stream<int>(4);
  EXPECT_EQ(receiver.try_next(), std::nullopt);  // nothing yet: next() must wait
  sender.try_push(1);
  EXPECT_EQ(receiver.try_next(), std::optional<std::optional<int>>(1));
  sender.close();
  EXPECT_EQ(receiver.try_next(), std::optional<std::optional<int>>(std::optional<int>{}));  // the end

  auto [failing, failed] = make_event_stream<int>(4);
  failing.try_push(2);
  failing.close_with_error(std::make_exception_ptr(std::runtime_error("upstream cut off")));
  EXPECT_EQ(failed.try_next(), std::optional<std::optional<int>>(2));
  EXPECT_EQ(failed.try_next(), std::nullopt);  // the error is next()'s to throw
  EXPECT_THROW(run_coroutine([&]() -> asio::awaitable<void> { co_await failed.next(); }()), std::runtime_error);

  auto [gone, cancelled] = make_event_stream<int>(4);
  gone.try_push(3);
  cancelled.cancel();
  EXPECT_EQ(cancelled.try_next(), std::nullopt);
}

asio::awaitable<void> read_one(EventReceiver<int> receiver, bool& resumed) {
  co_await receiver.next();
  resumed = true;
}

TEST(EventStream, DestroyingTheIoContextWhileNextIsPendingCancelsTheProducer) {
  auto [sender, receiver] = make_event_stream<int>(4);
  std::promise<BridgeErrc> cancelled;
  sender.on_cancel([&](BridgeErrc reason) { cancelled.set_value(reason); });
  bool resumed = false;
  {
    asio::io_context io;
    asio::co_spawn(io, read_one(std::move(receiver), resumed), asio::detached);
    io.poll();  // runs the coroutine until it is parked in next()
    EXPECT_FALSE(sender.consumer_gone());
  }  // destroys the suspended coroutine, and with it the receiver
  auto reason = cancelled.get_future();
  ASSERT_EQ(reason.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(reason.get(), BridgeErrc::cancelled);
  EXPECT_FALSE(sender.try_push(1));
  sender.close();
  EXPECT_FALSE(resumed);
}

}  // namespace
}  // namespace tandem::actors
