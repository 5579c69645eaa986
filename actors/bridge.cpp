#include "actors/bridge.h"

#include <caf/actor_companion.hpp>
#include <caf/default_attachable.hpp>

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

// ---------------------------------------------------------------- AskGate

namespace {

caf::actor_companion* companion_of(const caf::strong_actor_ptr& handle) {
  return static_cast<caf::actor_companion*>(caf::actor_cast<caf::abstract_actor*>(handle));
}

}  // namespace

std::shared_ptr<AskGate> AskGate::make(caf::actor_system& system) {
  std::shared_ptr<AskGate> gate(new AskGate());
  // Hidden: the system's shutdown does not wait for it (ActorRuntime::shutdown closes it once
  // the other actors are gone).
  bool caf_thread = caf::logger::current_logger() != nullptr;
  auto companion = system.spawn<caf::actor_companion, caf::hidden>();
  if (!caf_thread) ActorRuntime::release_calling_thread();
  gate->companion_ = caf::actor_cast<caf::strong_actor_ptr>(companion);
  std::weak_ptr<AskGate> weak = gate;
  companion_of(gate->companion_)->on_enqueue([weak](caf::mailbox_element_ptr element) {
    if (auto live = weak.lock()) live->on_message(std::move(element));
  });
  return gate;
}

std::uint64_t AskGate::send(const caf::actor& target, caf::message request, Completion done) {
  caf::message none;
  if (!target) {
    done(make_bridge_error(BridgeErrc::actor_down, "invalid actor handle"), none);
    return 0;
  }
  caf::strong_actor_ptr companion;
  std::uint64_t id = 0;
  bool watch = false;
  {
    std::lock_guard lock(mutex_);
    companion = companion_;
    if (companion) {
      id = next_id_++;
      pending_.emplace(id, Pending{target.address(), std::move(done)});
      watch = watched_.insert(target.address()).second;
    }
  }
  if (!companion) {
    done(make_bridge_error(BridgeErrc::runtime_stopped, "actor system stopped"), none);
    return 0;
  }
  // Outside the lock: attaching to an actor that is already gone, or enqueueing into its closed
  // mailbox, answers at once on this thread (a down message, a bounced request).
  if (watch) {
    target->attach(caf::default_attachable::make_monitor(target.address(), companion->address()));
  }
  target->enqueue(caf::make_mailbox_element(std::move(companion), caf::make_message_id(id), {}, std::move(request)),
                  nullptr);
  return id;
}

bool AskGate::forget(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  return pending_.erase(id) > 0;
}

std::size_t AskGate::pending() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

void AskGate::on_message(caf::mailbox_element_ptr element) {
  caf::message content = element->move_content_to_message();
  if (!element->mid.is_response()) {
    if (content.match_elements<caf::down_msg>()) on_down(content.get_as<caf::down_msg>(0));
    return;  // nothing else is addressed to the gate
  }
  Completion done;
  {
    std::lock_guard lock(mutex_);
    auto found = pending_.find(element->mid.request_id().integer_value() & caf::message_id::request_id_mask);
    if (found == pending_.end()) return;  // timed out or cancelled meanwhile
    done = std::move(found->second.done);
    pending_.erase(found);
  }
  if (content.match_elements<caf::error>()) {
    done(ask_failure(content.get_as<caf::error>(0)), content);
  } else {
    done(nullptr, content);
  }
}

void AskGate::on_down(const caf::down_msg& down) {
  std::vector<Completion> failed;
  {
    std::lock_guard lock(mutex_);
    watched_.erase(down.source);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.target == down.source) {
        failed.push_back(std::move(it->second.done));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  caf::message none;
  for (auto& done : failed) done(target_down(down.reason), none);
}

void AskGate::close() {
  caf::strong_actor_ptr companion;
  std::unordered_map<std::uint64_t, Pending> pending;
  {
    std::lock_guard lock(mutex_);
    companion = std::move(companion_);
    pending.swap(pending_);
    watched_.clear();
  }
  if (companion) {
    // What actor_companion::disconnect() does (libcaf_core 0.17.6 does not export it): drop the
    // handler, then terminate the companion.
    auto* self = companion_of(companion);
    self->on_enqueue({});
    self->cleanup(caf::make_error(caf::exit_reason::user_shutdown), nullptr);
  }
  // Every actor that counts is gone by now, but one may not have run its monitors yet (CAF
  // counts it gone before it notifies them): its asks fail as its down message would have.
  caf::message none;
  for (auto& [id, ask] : pending) {
    ask.done(make_bridge_error(BridgeErrc::actor_down, "actor terminated: the actor system shut down"), none);
  }
}

}  // namespace detail
}  // namespace tandem::actors
