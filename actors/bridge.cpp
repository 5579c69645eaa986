#include "actors/bridge.h"

namespace tandem::actors {

ActorErrorReply::ActorErrorReply(caf::error error)
    : BridgeError(BridgeErrc::error_reply, caf::to_string(error)), error_(std::move(error)) {}

namespace detail {

std::exception_ptr ask_failure(const caf::error& error) {
  if (error == caf::sec::request_timeout) {
    return make_bridge_error(BridgeErrc::timeout, "no reply before the deadline");
  }
  // request_receiver_down: the request bounced off a dead actor's mailbox. runtime_error: CAF's
  // default exception handler answers the current request with it and then kills the actor.
  if (error == caf::sec::request_receiver_down || error == caf::sec::runtime_error) {
    return make_bridge_error(BridgeErrc::actor_down, caf::to_string(error));
  }
  return std::make_exception_ptr(ActorErrorReply(error));
}

std::exception_ptr target_down(const caf::error& exit_reason) {
  return make_bridge_error(BridgeErrc::actor_down, "actor terminated: " + caf::to_string(exit_reason));
}

}  // namespace detail
}  // namespace tandem::actors
