// Per-actor Prometheus metrics, one label scheme for every actor (`actor` = "router",
// "scheduler:<model>", "cloud:<provider>", ...):
//   tandem_actor_messages_total{actor,type}      messages handled; type = the leading atom
//                                                 ("generate", "count", ...), "response", "down",
//                                                 "exit" or "other"
//   tandem_actor_mailbox_depth{actor}            messages waiting behind the one being handled
//   tandem_actor_queue_wait_seconds{actor}       enqueue -> handling starts
//   tandem_actor_handling_seconds{actor}         the handler's synchronous run
//
// An actor opts in by declaring its self pointer as a metered one and naming itself:
//
//   [](actors::metered_pointer<router_actor, RouterState> self, ...) -> router_actor::behavior_type {
//     self->meter("router");
//     return {...};   // handlers unchanged
//   }
//
// metered_actor is a caf::stateful_actor that stamps each message in enqueue() and measures it in
// consume(), so handlers need no edits. The families live in the registry attached to the actor
// system (attach_actor_metrics, done by the server at startup); with none attached (unit tests,
// tools) meter() is a no-op and the cost is one timestamp per message.
#pragma once

#include <caf/all.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace prometheus {
class Registry;
}

namespace tandem::actors {

// Registers the tandem_actor_* families in `registry` for every actor of `system` that calls
// meter(). Call before spawning the metered actors; detach before the registry goes.
void attach_actor_metrics(caf::actor_system& system, std::shared_ptr<prometheus::Registry> registry);
void detach_actor_metrics(caf::actor_system& system);

// One actor's series. Owned by the actor; record() runs on the actor's own thread of control.
class ActorMeter {
 public:
  // nullptr when `system` has no registry attached.
  static std::unique_ptr<ActorMeter> create(caf::actor_system& system, const std::string& actor);
  ~ActorMeter();

  // Before the handler runs (it may move the message's content away): counts the message.
  void count(caf::mailbox_element& message);
  // After it ran.
  // queue_wait is unknown for a message that arrived before the stamps (or came back after a
  // skip): then only the handling is observed.
  void observe(std::optional<std::chrono::nanoseconds> queue_wait, std::chrono::nanoseconds handling,
               std::size_t waiting_behind);

  // The `type` label a message is counted under.
  static std::string message_type(caf::mailbox_element& message);

 private:
  struct Series;
  explicit ActorMeter(std::unique_ptr<Series> series);
  std::unique_ptr<Series> series_;
};

template <class State, class Base>
class metered_actor : public caf::stateful_actor<State, Base> {
 public:
  using super = caf::stateful_actor<State, Base>;
  using clock = std::chrono::steady_clock;

  explicit metered_actor(caf::actor_config& config) : super(config) {}

  ~metered_actor() override { delete meter_.load(std::memory_order_acquire); }

  // Names this actor's series; call once, first thing in the behaviour function.
  void meter(const std::string& actor_label) {
    auto created = ActorMeter::create(this->system(), actor_label);
    delete meter_.exchange(created.release(), std::memory_order_acq_rel);
  }

  void enqueue(caf::mailbox_element_ptr message, caf::execution_unit* host) override {
    if (message) {
      std::lock_guard lock(stamps_mutex_);
      // A message never consumed (the actor quit first) must not grow this without bound.
      if (stamps_.size() >= kMaxStamps) stamps_.pop_front();
      stamps_.emplace_back(message.get(), clock::now());
    }
    super::enqueue(std::move(message), host);
  }

  caf::invoke_message_result consume(caf::mailbox_element& message) override {
    const auto started = clock::now();
    auto [enqueued, waiting_behind] = take_stamp(&message);
    auto* meter = meter_.load(std::memory_order_acquire);
    if (meter) meter->count(message);
    auto result = super::consume(message);
    if (meter) {
      std::optional<std::chrono::nanoseconds> wait;
      if (enqueued) wait = started - *enqueued;
      meter->observe(wait, clock::now() - started, waiting_behind);
    }
    return result;
  }

 private:
  static constexpr std::size_t kMaxStamps = 1 << 16;

  // The enqueue time of `message` (nullopt if it came in before the stamps, or was skipped and
  // comes back) and how many messages wait behind it.
  std::pair<std::optional<clock::time_point>, std::size_t> take_stamp(const caf::mailbox_element* message) {
    std::lock_guard lock(stamps_mutex_);
    for (auto it = stamps_.begin(); it != stamps_.end(); ++it) {
      if (it->first != message) continue;
      auto when = it->second;
      stamps_.erase(it);
      return {when, stamps_.size()};
    }
    return {std::nullopt, stamps_.size()};
  }

  std::mutex stamps_mutex_;
  std::deque<std::pair<const caf::mailbox_element*, clock::time_point>> stamps_;
  std::atomic<ActorMeter*> meter_{nullptr};
};

// The self pointer of a metered actor with handle type `Handle` (a caf::typed_actor) and `State`.
template <class Handle, class State>
using metered_pointer = metered_actor<State, typename Handle::base>*;

// For an actor without state of its own.
struct NoState {};

}  // namespace tandem::actors
