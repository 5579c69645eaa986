// A bounded, single-consumer event stream from any thread into an Asio coroutine.
//
// Built for per-request output (text deltas, finish, error) travelling from a producer — a CAF
// actor, or a scheduler's dedicated engine thread — to the request's HTTP coroutine:
//  - the producer never blocks: try_push() returns false when the consumer is gone or its
//    buffer is full. A full buffer ends the stream with BridgeErrc::overflow (a slow client loses
//    its own request; other requests are unaffected), so the producer just cancels that request;
//  - the consumer never blocks its thread: `co_await rx.next()` suspends the coroutine;
//  - a client disconnect reaches the producer: destroying the EventReceiver (the session
//    coroutine ends) or calling cancel() makes try_push() return false and fires on_cancel once;
//  - a producer that dies never leaves the consumer hanging: when the last EventSender copy is
//    destroyed without close(), the consumer sees BridgeErrc::producer_gone.
//
// Example (HTTP side):
//   auto [tx, rx] = make_event_stream<Delta>(256);
//   co_await ask<caf::ok_atom>(runtime, scheduler, 5s, submit_atom::value, request, tx);
//   while (auto delta = co_await rx.next()) co_await write_sse(*delta);   // throws BridgeError
// Example (producer side, any thread):
//   tx.on_cancel([flag](BridgeErrc) { flag->store(true); });   // keep it short, see on_cancel
//   if (!tx.try_push(Delta{...})) abandon_request();
//   tx.close();   // or tx.close_with_error(BridgeErrc::..., "why") / close_with_error(exception_ptr)
//
// Capacity counts items the consumer has not taken yet; size it for the longest burst a
// healthy client may lag behind (e.g. a few hundred tokens), not for the whole response.
// EventSender<T> may be sent in CAF messages (bridge.h whitelists it, local actors only).
#pragma once

#include "actors/async_completion.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <deque>
#include <vector>

namespace tandem::actors {

template <class T>
class EventSender;
template <class T>
class EventReceiver;
template <class T>
std::pair<EventSender<T>, EventReceiver<T>> make_event_stream(std::size_t capacity);

namespace detail {

template <class T>
class StreamState {
 public:
  using Waiter = std::shared_ptr<ResultOp<std::optional<T>>>;
  using CancelCallback = std::function<void(BridgeErrc)>;

  explicit StreamState(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  bool try_push(T&& item) {
    std::unique_lock lock(mutex_);
    if (producer_done_ || consumer_gone_) return false;
    if (waiter_ && waiter_->claim()) {
      auto waiter = std::move(waiter_);
      lock.unlock();
      waiter->deliver(nullptr, std::optional<T>(std::move(item)));
      return true;
    }
    waiter_.reset();  // already completed by a cancellation signal
    if (buffer_.size() >= capacity_) {
      producer_done_ = true;
      end_error_ = make_bridge_error(BridgeErrc::overflow,
                                     "consumer fell behind by " + std::to_string(capacity_) + " events");
      auto callbacks = take_callbacks_locked(BridgeErrc::overflow);
      lock.unlock();
      for (auto& callback : callbacks) callback(BridgeErrc::overflow);
      return false;
    }
    buffer_.push_back(std::move(item));
    return true;
  }

  // Ends the stream from the producer side; buffered items are still delivered first.
  void finish(std::exception_ptr error) {
    std::unique_lock lock(mutex_);
    if (producer_done_) return;
    producer_done_ = true;
    end_error_ = std::move(error);
    if (waiter_ && waiter_->claim()) {
      auto waiter = std::move(waiter_);
      auto end_error = end_error_;
      lock.unlock();
      waiter->deliver(std::move(end_error), std::nullopt);
    }
  }

  void cancel_by_consumer() {
    std::unique_lock lock(mutex_);
    if (consumer_gone_) return;
    consumer_gone_ = true;
    buffer_.clear();
    auto callbacks = producer_done_ ? std::vector<CancelCallback>{}
                                    : take_callbacks_locked(BridgeErrc::cancelled);
    auto waiter = std::move(waiter_);
    lock.unlock();
    if (waiter) waiter->try_complete(make_bridge_error(BridgeErrc::cancelled, "stream cancelled"), std::nullopt);
    for (auto& callback : callbacks) callback(BridgeErrc::cancelled);
  }

  // Completes `op` now if an item or the end is available, otherwise parks it as the waiter.
  void wait(const Waiter& op) {
    std::unique_lock lock(mutex_);
    if (waiter_ && !waiter_->claimed()) {
      lock.unlock();
      op->try_complete(make_bridge_error(BridgeErrc::misuse, "next() called while another next() is pending"),
                       std::nullopt);
      return;
    }
    if (!buffer_.empty()) {
      std::optional<T> item(std::move(buffer_.front()));
      buffer_.pop_front();
      lock.unlock();
      op->try_complete(nullptr, std::move(item));
    } else if (consumer_gone_) {
      lock.unlock();
      op->try_complete(make_bridge_error(BridgeErrc::cancelled, "stream cancelled"), std::nullopt);
    } else if (producer_done_) {
      auto end_error = end_error_;
      lock.unlock();
      op->try_complete(std::move(end_error), std::nullopt);
    } else {
      waiter_ = op;
    }
  }

  // An item, or the end (an empty item) when the stream ended without an error; nothing when
  // next() has to wait or report an error.
  std::optional<std::optional<T>> try_next() {
    std::lock_guard lock(mutex_);
    if (waiter_ && !waiter_->claimed()) return std::nullopt;
    if (!buffer_.empty()) {
      std::optional<T> item(std::move(buffer_.front()));
      buffer_.pop_front();
      return item;
    }
    if (producer_done_ && !consumer_gone_ && !end_error_) return std::optional<std::optional<T>>(std::in_place);
    return std::nullopt;
  }

  std::optional<T> try_pop() {
    std::lock_guard lock(mutex_);
    if (buffer_.empty()) return std::nullopt;
    std::optional<T> item(std::move(buffer_.front()));
    buffer_.pop_front();
    return item;
  }

  void on_cancel(CancelCallback callback) {
    std::unique_lock lock(mutex_);
    if (!cancel_reason_) {
      callbacks_.push_back(std::move(callback));
      return;
    }
    auto reason = *cancel_reason_;
    lock.unlock();
    callback(reason);
  }

  bool accepting() const {
    std::lock_guard lock(mutex_);
    return !producer_done_ && !consumer_gone_;
  }

  bool consumer_gone() const {
    std::lock_guard lock(mutex_);
    return consumer_gone_;
  }

 private:
  std::vector<CancelCallback> take_callbacks_locked(BridgeErrc reason) {
    cancel_reason_ = reason;
    return std::exchange(callbacks_, {});
  }

  mutable std::mutex mutex_;
  const std::size_t capacity_;
  std::deque<T> buffer_;
  bool producer_done_ = false;  // closed, failed, overflowed, or every sender dropped
  bool consumer_gone_ = false;
  std::exception_ptr end_error_;  // reported once the buffer is drained; null = clean end
  Waiter waiter_;
  std::optional<BridgeErrc> cancel_reason_;
  std::vector<CancelCallback> callbacks_;
};

// Shared by all copies of one EventSender; its destruction means "no producer left".
template <class T>
struct SenderLifetime {
  explicit SenderLifetime(std::shared_ptr<StreamState<T>> s) : state(std::move(s)) {}
  ~SenderLifetime() {
    state->finish(make_bridge_error(BridgeErrc::producer_gone, "stream producer went away without closing"));
  }
  std::shared_ptr<StreamState<T>> state;
};

}  // namespace detail

// Producer handle: cheap to copy, usable from any thread.
template <class T>
class EventSender {
 public:
  EventSender() = default;

  // Non-blocking. False when the stream no longer accepts items: consumer gone, buffer overflow
  // (the stream then ends with BridgeErrc::overflow), or already closed. On false, stop producing
  // for this request.
  bool try_push(T item) const { return life_ && life_->state->try_push(std::move(item)); }

  void close() const {
    if (life_) life_->state->finish(nullptr);
  }
  void close_with_error(std::exception_ptr error) const {
    if (life_) life_->state->finish(std::move(error));
  }
  void close_with_error(BridgeErrc code, const std::string& detail) const {
    close_with_error(make_bridge_error(code, detail));
  }

  // `callback(reason)` runs once when the stream stops accepting items for a reason other than
  // the producer's own close: BridgeErrc::cancelled (consumer cancelled or destroyed) or
  // BridgeErrc::overflow. It runs immediately if that already happened. It may run on any
  // thread — the consumer's I/O thread, or inside the producer's try_push — so only set a flag or
  // send a message from it.
  void on_cancel(std::function<void(BridgeErrc)> callback) const {
    if (life_) life_->state->on_cancel(std::move(callback));
  }

  bool consumer_gone() const { return !life_ || life_->state->consumer_gone(); }
  bool accepting() const { return life_ && life_->state->accepting(); }
  explicit operator bool() const { return static_cast<bool>(life_); }

 private:
  template <class U>
  friend std::pair<EventSender<U>, EventReceiver<U>> make_event_stream(std::size_t);

  explicit EventSender(std::shared_ptr<detail::SenderLifetime<T>> life) : life_(std::move(life)) {}

  std::shared_ptr<detail::SenderLifetime<T>> life_;
};

// Consumer handle: owned by one coroutine. Destroying it cancels the stream.
template <class T>
class EventReceiver {
 public:
  EventReceiver() = default;
  EventReceiver(EventReceiver&&) noexcept = default;
  EventReceiver& operator=(EventReceiver&& other) noexcept {
    if (this != &other) {
      cancel();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~EventReceiver() { cancel(); }

  // The next item, std::nullopt after close(); throws BridgeError (overflow, producer_gone,
  // cancelled) or the producer's close_with_error exception. Completion signature
  // void(std::exception_ptr, std::optional<T>); any Asio completion token works.
  template <class CompletionToken = const boost::asio::use_awaitable_t<>&>
  auto next(CompletionToken&& token = boost::asio::use_awaitable) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, std::optional<T>)>(
        [state = state_](auto handler) {
          auto op = detail::start_op<std::optional<T>>(std::move(handler));
          if (state) {
            state->wait(op);
          } else {
            op->try_complete(make_bridge_error(BridgeErrc::misuse, "next() on an empty EventReceiver"),
                             std::nullopt);
          }
        },
        token);
  }

  // A buffered item if one is ready right now (to batch several into one write); never waits and
  // never reports the end — use next() for that.
  std::optional<T> try_pop() { return state_ ? state_->try_pop() : std::nullopt; }

  // What next() would complete with, when that is known right now without an error: a buffered
  // item, or the end (an empty item). Saves the round through the executor that next()'s
  // completion takes (a reactor poll per event). Nothing when next() must be awaited.
  std::optional<std::optional<T>> try_next() { return state_ ? state_->try_next() : std::nullopt; }

  // The client is gone: producers see try_push() == false and their on_cancel callbacks fire.
  void cancel() {
    if (state_) state_->cancel_by_consumer();
  }

  explicit operator bool() const { return static_cast<bool>(state_); }

 private:
  template <class U>
  friend std::pair<EventSender<U>, EventReceiver<U>> make_event_stream(std::size_t);

  explicit EventReceiver(std::shared_ptr<detail::StreamState<T>> state) : state_(std::move(state)) {}

  std::shared_ptr<detail::StreamState<T>> state_;
};

template <class T>
std::pair<EventSender<T>, EventReceiver<T>> make_event_stream(std::size_t capacity) {
  auto state = std::make_shared<detail::StreamState<T>>(capacity);
  auto life = std::make_shared<detail::SenderLifetime<T>>(state);
  return {EventSender<T>(std::move(life)), EventReceiver<T>(std::move(state))};
}

}  // namespace tandem::actors
