// Completing a suspended Asio operation from any thread (a CAF worker, an engine step thread).
//
// This is the plumbing under ask() and EventReceiver::next(); later code normally uses those and
// only needs BridgeError. The guarantees every bridge operation inherits from here:
//  - the completion handler runs on the handler's associated executor (never inline on the
//    producing thread), exactly once;
//  - work is tracked on that executor while the operation is pending, like any Asio I/O;
//  - if the execution context (io_context) is destroyed first, the handler is destroyed with it
//    (which destroys the suspended coroutine) and a late completion from the CAF side is a no-op;
//  - an Asio cancellation signal (e.g. `co_await (rx.next() || timer.async_wait())`) completes the
//    operation with BridgeErrc::cancelled.
// Only Asio is included: the HTTP side and the engine step thread must not need CAF headers.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>

#include <atomic>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace tandem::actors {

// Why a bridge operation failed. HTTP code maps these to status codes / SSE error events.
enum class BridgeErrc {
  timeout,          // the actor did not answer within the ask's timeout
  actor_down,       // the target was already dead, or died or threw before replying
  error_reply,      // the actor answered with an error (thrown as ActorErrorReply, bridge.h)
  cancelled,        // the awaiting operation was cancelled (Asio cancellation, EventReceiver::cancel)
  overflow,         // the consumer fell behind and the stream's bounded buffer overflowed
  producer_gone,    // every EventSender was destroyed without close() (e.g. its actor died)
  runtime_stopped,  // the actor side dropped the operation without answering (system shutdown)
  misuse,           // API misuse, e.g. two concurrent next() calls on one stream
};

const char* to_string(BridgeErrc code);

class BridgeError : public std::runtime_error {
 public:
  BridgeError(BridgeErrc code, const std::string& detail);
  BridgeErrc code() const noexcept { return code_; }

 private:
  BridgeErrc code_;
};

std::exception_ptr make_bridge_error(BridgeErrc code, const std::string& detail);

namespace detail {

// A pending operation as seen by the registry of its execution context.
class PendingOp {
 public:
  PendingOp() = default;
  PendingOp(const PendingOp&) = delete;
  PendingOp& operator=(const PendingOp&) = delete;
  virtual ~PendingOp() = default;

 private:
  friend class OpRegistry;
  // Posts the stored result to the handler's executor. Called once, with the registry lock held.
  virtual void post_completion() = 0;
  // The execution context is being destroyed: drop the handler and the work guard.
  virtual void abandon() noexcept = 0;

  std::list<std::shared_ptr<PendingOp>>::iterator position_;
  bool registered_ = false;
};

// One per execution context (kept alive by its pending ops, so a completion arriving after the
// context died still finds a valid mutex and the `shut_down_` flag).
class OpRegistry {
 public:
  static std::shared_ptr<OpRegistry> of(boost::asio::execution_context& context);

  void add(const std::shared_ptr<PendingOp>& op);
  void complete(PendingOp& op);
  void shutdown();

 private:
  std::mutex mutex_;
  bool shut_down_ = false;
  std::list<std::shared_ptr<PendingOp>> ops_;
};

// The result side of an operation with completion signature void(std::exception_ptr, V).
// Thread-safe: claim() picks the single winner among racing completers (reply, timeout, down
// message, cancellation); only the winner calls deliver().
template <class V>
class ResultOp : public PendingOp {
 public:
  bool claim() noexcept { return !claimed_.exchange(true, std::memory_order_acq_rel); }
  bool claimed() const noexcept { return claimed_.load(std::memory_order_acquire); }

  void deliver(std::exception_ptr error, V value) {
    error_ = std::move(error);
    value_ = std::move(value);
    registry_->complete(*this);
  }

  bool try_complete(std::exception_ptr error, V value) {
    if (!claim()) return false;
    deliver(std::move(error), std::move(value));
    return true;
  }

 protected:
  explicit ResultOp(std::shared_ptr<OpRegistry> registry) : registry_(std::move(registry)) {}

  std::exception_ptr error_;
  V value_{};

 private:
  std::shared_ptr<OpRegistry> registry_;
  std::atomic<bool> claimed_{false};
};

template <class V, class Handler>
class HandlerOp final : public ResultOp<V> {
  using Executor = boost::asio::associated_executor_t<Handler>;
  using WorkExecutor = std::decay_t<decltype(boost::asio::prefer(
      std::declval<Executor>(), boost::asio::execution::outstanding_work.tracked))>;

 public:
  HandlerOp(std::shared_ptr<OpRegistry> registry, Handler handler, const Executor& executor)
      : ResultOp<V>(std::move(registry)),
        handler_(std::move(handler)),
        work_(boost::asio::prefer(executor, boost::asio::execution::outstanding_work.tracked)) {}

  Handler& handler() { return *handler_; }

 private:
  void post_completion() override {
    WorkExecutor work = std::move(*work_);
    work_.reset();
    boost::asio::post(work, [handler = std::move(*handler_), error = std::move(this->error_),
                             value = std::move(this->value_)]() mutable {
      // Asio's rule: the slot is cleared before the handler runs.
      boost::asio::get_associated_cancellation_slot(handler).clear();
      std::move(handler)(std::move(error), std::move(value));
    });
    handler_.reset();
  }

  void abandon() noexcept override {
    handler_.reset();
    work_.reset();
  }

  std::optional<Handler> handler_;
  std::optional<WorkExecutor> work_;
};

template <class V>
class CancelOnSignal {
 public:
  CancelOnSignal(std::weak_ptr<ResultOp<V>> op, std::function<void()> on_cancelled)
      : op_(std::move(op)), on_cancelled_(std::move(on_cancelled)) {}

  void operator()(boost::asio::cancellation_type) {
    // Take everything out of *this first: once the op is completed, the handler may run on
    // another I/O thread and clear the slot, destroying this object.
    auto op = op_.lock();
    auto on_cancelled = std::move(on_cancelled_);
    if (op && op->try_complete(make_bridge_error(BridgeErrc::cancelled, "operation cancelled"), V{})) {
      if (on_cancelled) on_cancelled();
    }
  }

 private:
  std::weak_ptr<ResultOp<V>> op_;
  std::function<void()> on_cancelled_;
};

// Wraps an Asio completion handler for signature void(std::exception_ptr, V) into an op that any
// thread may complete. Call from the initiation function, before handing the op to other threads.
// `on_cancelled` runs (on the cancelling thread) after a cancellation signal completed the op.
template <class V, class Handler>
std::shared_ptr<ResultOp<V>> start_op(Handler&& handler, std::function<void()> on_cancelled = {}) {
  using H = std::decay_t<Handler>;
  auto executor = boost::asio::get_associated_executor(handler);
  auto registry =
      OpRegistry::of(boost::asio::query(executor, boost::asio::execution::context));
  auto op = std::make_shared<HandlerOp<V, H>>(registry, std::forward<Handler>(handler), executor);
  auto slot = boost::asio::get_associated_cancellation_slot(op->handler());
  if (slot.is_connected()) {
    slot.template emplace<CancelOnSignal<V>>(std::weak_ptr<ResultOp<V>>(op), std::move(on_cancelled));
  }
  registry->add(op);
  return op;
}

}  // namespace detail
}  // namespace tandem::actors
