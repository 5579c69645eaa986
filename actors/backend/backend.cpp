#include "actors/backend/backend.h"

namespace tandem::backend {

bool EventSink::push(BackendEvent event) const {
  if (local_) return local_.try_push(std::move(event));
  if (!remote_) return false;
  caf::anon_send(remote_, std::move(event));
  return true;
}

void EventSink::close() const {
  if (local_) local_.close();
  if (remote_) caf::anon_send(remote_, caf::close_atom::value);
}

void EventSink::fail(schemas::ApiError error) const {
  push(schemas::StreamEvent(schemas::StreamError{std::move(error)}));
  close();
}

void EventSink::on_cancel(std::function<void()> callback) const {
  if (local_) local_.on_cancel([callback = std::move(callback)](actors::BridgeErrc) { callback(); });
}

bool EventSink::consumer_gone() const {
  if (local_) return local_.consumer_gone();
  return !remote_;
}

}  // namespace tandem::backend
