// The bridge between Asio coroutines (HTTP sessions) and CAF actors.
//
// 1. Request/response: `co_await ask<R>(runtime, actor, timeout, msg...)`
//      auto models = co_await ask<ModelList>(runtime, router, 5s, list_atom::value);
//    Never blocks the I/O thread or a CAF worker. Through a runtime, the request goes straight
//    into the target's mailbox from the runtime's AskGate (one long-lived companion actor that
//    monitors each target once) and the reply completes the coroutine from the replying thread:
//    no actor is spawned per ask and no CAF timer thread is woken (the timeout is an Asio timer
//    on the coroutine's executor). `ask(system, ...)` spawns a short-lived helper actor that
//    sends the request and monitors the target instead. Both post the outcome back to the
//    coroutine's executor. Throws
//    BridgeError: timeout; actor_down (target dead, died, or threw before replying — noticed
//    through the monitor, not only at the timeout); ActorErrorReply (code error_reply) when the
//    actor answered with a caf::error; cancelled on Asio cancellation. R is the single value the
//    handler returns (reply `caf::ok_atom::value` when there is nothing to say).
//
// 2. Streams: see event_stream.h. Either pass the EventSender<T> itself in the request (fastest;
//    the actor or its engine thread pushes directly), or, for a producer that can only send
//    messages (e.g. a remote node), a feeder actor:
//      auto [tx, rx] = make_event_stream<Delta>(256);
//      auto feeder = spawn_stream_feeder(runtime.system(), tx);
//      co_await ask<caf::ok_atom>(runtime, cloud, 10s, generate_atom::value, prompt, feeder);
//      while (auto delta = co_await rx.next()) ...
//    The feeder accepts `T` (push), `close_atom` (end) and `(close_atom, caf::error)` (fail). It
//    monitors the first actor that feeds it, so a producer that dies mid-stream fails the stream
//    with actor_down; and it exits when the consumer cancels or overflows.
//
// CAF 0.17 message rules (also in actors/README.md): every message element must be inspectable
// (a free `inspect(Inspector&, T&)`) or whitelisted with CAF_ALLOW_UNSAFE_MESSAGE_TYPE(T) at
// global scope, otherwise make_message fails a static_assert. Whitelisted types work only between
// local actors. Types crossing nodes need inspect() and cfg.add_message_type<T>("name")
// (RuntimeOptions::configure). Atoms: `using foo_atom = caf::atom_constant<caf::atom("foo")>;`
// (at most 10 characters); reuse CAF's predefined ones (caf::ok_atom, get_atom, close_atom...).
#pragma once

#include "actors/async_completion.h"
#include "actors/event_stream.h"
#include "actors/runtime.h"

#include <caf/all.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>

// A sender handle is a shared pointer to an in-process stream: fine between local actors,
// meaningless on another node.
namespace caf {
template <class T>
struct allowed_unsafe_message_type<tandem::actors::EventSender<T>> : std::true_type {};
}  // namespace caf

namespace tandem::actors {

// The actor answered the request with an error; code() == BridgeErrc::error_reply.
class ActorErrorReply : public BridgeError {
 public:
  explicit ActorErrorReply(caf::error error);
  const caf::error& error() const noexcept { return error_; }

 private:
  caf::error error_;
};

namespace detail {

// Maps a request's error outcome (timeout, bounced, error reply) to the exception we throw.
std::exception_ptr ask_failure(const caf::error& error);
// The monitored target went down before replying.
std::exception_ptr target_down(const caf::error& exit_reason);

// Spawns on behalf of an I/O thread without leaving CAF state in it (ActorRuntime::shutdown).
template <class... Ts>
caf::actor spawn_from_any_thread(caf::actor_system& system, Ts&&... spawn_args) {
  bool caf_thread = caf::logger::current_logger() != nullptr;
  auto actor = system.spawn(std::forward<Ts>(spawn_args)...);
  if (!caf_thread) ActorRuntime::release_calling_thread();
  return actor;
}

// The actor-side half of one ask. If the helper actor is destroyed without answering (system
// shutdown), the coroutine still resumes, with runtime_stopped.
template <class R>
struct AskCall {
  explicit AskCall(std::shared_ptr<ResultOp<std::optional<R>>> o) : op(std::move(o)) {}
  ~AskCall() {
    if (op) op->try_complete(make_bridge_error(BridgeErrc::runtime_stopped, "actor system stopped"), std::nullopt);
  }

  std::shared_ptr<ResultOp<std::optional<R>>> op;
  std::mutex mutex;
  caf::actor_addr helper;  // weak (the helper owns this call); lets Asio cancellation stop it early
};

template <class R>
void spawn_ask_helper(caf::actor_system& system, const caf::actor& target, caf::duration timeout,
                      caf::message request, const std::shared_ptr<AskCall<R>>& call) {
  auto helper = spawn_from_any_thread(system, [call, target, timeout, request](caf::event_based_actor* self) {
    if (!target) {
      call->op->try_complete(make_bridge_error(BridgeErrc::actor_down, "invalid actor handle"), std::nullopt);
      return;
    }
    self->monitor(target);
    self->set_down_handler([call, self, target](caf::down_msg& down) {
      if (down.source != target) return;
      call->op->try_complete(target_down(down.reason), std::nullopt);
      self->quit();
    });
    self->request(target, timeout, request)
        .then(
            [call, self](R& reply) {
              call->op->try_complete(nullptr, std::optional<R>(std::move(reply)));
              self->quit();
            },
            [call, self](caf::error& error) {
              call->op->try_complete(ask_failure(error), std::nullopt);
              self->quit();
            });
  });
  std::lock_guard lock(call->mutex);
  call->helper = helper.address();
}

// The Asio operation: completes with the reply or the failure. Not a coroutine itself.
template <class R>
auto async_ask(caf::actor_system& system, caf::actor target, caf::duration timeout, caf::message request) {
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                     void(std::exception_ptr, std::optional<R>)>(
      [&system, target = std::move(target), timeout, request = std::move(request)](auto handler) {
        auto call = std::make_shared<AskCall<R>>(nullptr);
        std::weak_ptr<AskCall<R>> weak_call = call;
        call->op = start_op<std::optional<R>>(std::move(handler), [weak_call] {
          if (auto c = weak_call.lock()) {
            std::lock_guard lock(c->mutex);
            if (auto helper = caf::actor_cast<caf::actor>(c->helper)) {
              caf::anon_send_exit(helper, caf::exit_reason::user_shutdown);
            }
          }
        });
        spawn_ask_helper<R>(system, target, timeout, request, call);
      },
      boost::asio::use_awaitable);
}

template <class R>
boost::asio::awaitable<R> ask_message(caf::actor_system& system, caf::actor target, caf::duration timeout,
                                      caf::message request) {
  // Kept out of the co_await expression: g++ 12 mishandles non-trivial temporaries there.
  auto operation = async_ask<R>(system, std::move(target), timeout, std::move(request));
  std::optional<R> reply = co_await std::move(operation);
  co_return std::move(*reply);
}

// Asks on behalf of non-actor threads, through one long-lived caf::actor_companion: send()
// enqueues the request into the target's mailbox with the companion as sender; the companion's
// enqueue handler runs on the replying thread and completes the ask there. Each target is
// monitored once (not per ask), so a target that dies with asks pending fails them with
// actor_down; a request to a dead actor bounces and fails the same way. Thread-safe.
class AskGate : public std::enable_shared_from_this<AskGate> {
 public:
  // Runs exactly once per send(), on any thread, unless forget() took the ask back first:
  // with the error, or with the reply message.
  using Completion = std::function<void(std::exception_ptr, caf::message&)>;

  static std::shared_ptr<AskGate> make(caf::actor_system& system);
  AskGate(const AskGate&) = delete;
  AskGate& operator=(const AskGate&) = delete;

  // Returns the ask's id (0 when `done` already ran: invalid target, gate closed).
  std::uint64_t send(const caf::actor& target, caf::message request, Completion done);
  // Takes a pending ask back (its timeout fired, its waiter was cancelled): true when it was
  // still pending, so its completion will never run and the caller answers it.
  bool forget(std::uint64_t id);
  // Stops the companion (ActorRuntime::shutdown, once every other actor is gone) and fails the
  // asks still pending with actor_down; later sends fail with runtime_stopped.
  void close();
  std::size_t pending() const;

 private:
  struct Pending {
    caf::actor_addr target;
    Completion done;
  };

  AskGate() = default;
  void on_message(caf::mailbox_element_ptr element);
  void on_down(const caf::down_msg& down);

  mutable std::mutex mutex_;
  caf::strong_actor_ptr companion_;  // null once closed
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::unordered_set<caf::actor_addr> watched_;
};

// The Asio side of one gate ask: the operation completes with the reply or the failure.
template <class R>
struct GateAsk {
  std::shared_ptr<ResultOp<std::optional<R>>> op;
  std::atomic<std::uint64_t> id{0};
};

template <class R>
void complete_gate_ask(ResultOp<std::optional<R>>& op, std::exception_ptr error, caf::message& reply) {
  if (error) {
    op.try_complete(std::move(error), std::nullopt);
  } else if (reply.match_elements<R>()) {
    op.try_complete(nullptr, std::optional<R>(std::move(reply.get_mutable_as<R>(0))));
  } else {
    op.try_complete(ask_failure(caf::make_error(caf::sec::unexpected_response)), std::nullopt);
  }
}

// Not a coroutine itself; with use_awaitable the initiation runs when the result is awaited.
template <class R>
auto async_gate_ask(std::shared_ptr<AskGate> gate, caf::actor target, caf::message request,
                    std::shared_ptr<GateAsk<R>> ask) {
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                     void(std::exception_ptr, std::optional<R>)>(
      [gate = std::move(gate), ask = std::move(ask), target = std::move(target),
       request = std::move(request)](auto handler) mutable {
        std::weak_ptr<AskGate> weak_gate = gate;
        std::weak_ptr<GateAsk<R>> weak_ask = ask;
        ask->op = start_op<std::optional<R>>(std::move(handler), [weak_gate, weak_ask] {
          auto live_gate = weak_gate.lock();
          auto live_ask = weak_ask.lock();
          if (live_gate && live_ask) live_gate->forget(live_ask->id.load());
        });
        auto op = ask->op;
        ask->id = gate->send(target, std::move(request), [op](std::exception_ptr error, caf::message& reply) {
          complete_gate_ask<R>(*op, std::move(error), reply);
        });
      },
      boost::asio::use_awaitable);
}

template <class R>
boost::asio::awaitable<R> ask_through_gate(std::shared_ptr<AskGate> gate, caf::actor target,
                                           std::chrono::nanoseconds timeout, caf::message request) {
  auto ask = std::make_shared<GateAsk<R>>();
  auto executor = co_await boost::asio::this_coro::executor;
  boost::asio::steady_timer deadline(executor);
  // Kept out of the co_await expression: g++ 12 mishandles non-trivial temporaries there.
  auto operation = async_gate_ask<R>(gate, std::move(target), std::move(request), ask);
  deadline.expires_after(timeout);
  std::weak_ptr<AskGate> weak_gate = gate;
  deadline.async_wait([weak_gate, ask](boost::system::error_code ec) {
    if (ec) return;
    auto live = weak_gate.lock();
    if (live && live->forget(ask->id.load())) {
      ask->op->try_complete(make_bridge_error(BridgeErrc::timeout, "no reply before the deadline"), std::nullopt);
    }
  });
  std::optional<R> reply = co_await std::move(operation);
  deadline.cancel();
  co_return std::move(*reply);
}

template <class T>
struct FeederState {
  EventSender<T> sender;
  caf::actor_addr upstream;  // the first actor that fed us; its death fails the stream
  static inline const char* name = "tandem.stream_feeder";
};

template <class T>
caf::behavior stream_feeder(caf::stateful_actor<FeederState<T>>* self, EventSender<T> sender) {
  self->state.sender = std::move(sender);
  self->set_down_handler([self](caf::down_msg& down) {
    if (down.source != self->state.upstream) return;
    self->state.sender.close_with_error(target_down(down.reason));
    self->quit(down.reason);
  });
  auto watch_upstream = [self] {
    if (self->state.upstream || !self->current_sender()) return;
    self->state.upstream = caf::actor_cast<caf::actor_addr>(self->current_sender());
    self->monitor(self->state.upstream);
  };
  return {
      [self, watch_upstream](T& item) {
        watch_upstream();
        if (!self->state.sender.try_push(std::move(item))) self->quit(caf::exit_reason::user_shutdown);
      },
      [self](caf::close_atom) {
        self->state.sender.close();
        self->quit();
      },
      [self](caf::close_atom, caf::error& error) {
        self->state.sender.close_with_error(std::make_exception_ptr(ActorErrorReply(std::move(error))));
        self->quit();
      },
  };
}

}  // namespace detail

template <class R, class Rep, class Period, class... Ts>
boost::asio::awaitable<R> ask(caf::actor_system& system, const caf::actor& target,
                              std::chrono::duration<Rep, Period> timeout, Ts&&... request) {
  return detail::ask_message<R>(system, target, caf::duration{timeout},
                                caf::make_message(std::forward<Ts>(request)...));
}

template <class R, class Rep, class Period, class... Ts>
boost::asio::awaitable<R> ask(ActorRuntime& runtime, const caf::actor& target,
                              std::chrono::duration<Rep, Period> timeout, Ts&&... request) {
  return detail::ask_through_gate<R>(runtime.ask_gate(), target,
                                     std::chrono::duration_cast<std::chrono::nanoseconds>(timeout),
                                     caf::make_message(std::forward<Ts>(request)...));
}

// An actor that pushes every `T` it receives into `sender` (see the header comment).
template <class T>
caf::actor spawn_stream_feeder(caf::actor_system& system, EventSender<T> sender) {
  auto feeder = detail::spawn_from_any_thread(system, detail::stream_feeder<T>, sender);
  sender.on_cancel([address = feeder.address()](BridgeErrc) {
    if (auto alive = caf::actor_cast<caf::actor>(address)) {
      caf::anon_send_exit(alive, caf::exit_reason::user_shutdown);
    }
  });
  return feeder;
}

}  // namespace tandem::actors
