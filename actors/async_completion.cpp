#include "actors/async_completion.h"

#include <vector>

namespace tandem::actors {

const char* to_string(BridgeErrc code) {
  switch (code) {
    case BridgeErrc::timeout: return "timeout";
    case BridgeErrc::actor_down: return "actor_down";
    case BridgeErrc::error_reply: return "error_reply";
    case BridgeErrc::cancelled: return "cancelled";
    case BridgeErrc::overflow: return "overflow";
    case BridgeErrc::producer_gone: return "producer_gone";
    case BridgeErrc::runtime_stopped: return "runtime_stopped";
    case BridgeErrc::misuse: return "misuse";
  }
  return "unknown";
}

BridgeError::BridgeError(BridgeErrc code, const std::string& detail)
    : std::runtime_error(std::string(to_string(code)) + ": " + detail), code_(code) {}

std::exception_ptr make_bridge_error(BridgeErrc code, const std::string& detail) {
  return std::make_exception_ptr(BridgeError(code, detail));
}

namespace detail {
namespace {

// Lives inside the execution context so that destroying the context tells the registry.
class RegistryService : public boost::asio::execution_context::service {
 public:
  static boost::asio::execution_context::id id;

  explicit RegistryService(boost::asio::execution_context& context)
      : boost::asio::execution_context::service(context),
        registry_(std::make_shared<OpRegistry>()) {}

  std::shared_ptr<OpRegistry> registry() const { return registry_; }

 private:
  void shutdown() override { registry_->shutdown(); }

  std::shared_ptr<OpRegistry> registry_;
};

boost::asio::execution_context::id RegistryService::id;

}  // namespace

std::shared_ptr<OpRegistry> OpRegistry::of(boost::asio::execution_context& context) {
  return boost::asio::use_service<RegistryService>(context).registry();
}

void OpRegistry::add(const std::shared_ptr<PendingOp>& op) {
  {
    std::lock_guard lock(mutex_);
    if (!shut_down_) {
      op->position_ = ops_.insert(ops_.end(), op);
      op->registered_ = true;
      return;
    }
  }
  op->abandon();
}

void OpRegistry::complete(PendingOp& op) {
  std::shared_ptr<PendingOp> keep_alive;  // released after unlocking: the op may die with it
  std::lock_guard lock(mutex_);
  if (shut_down_ || !op.registered_) return;
  keep_alive = std::move(*op.position_);
  ops_.erase(op.position_);
  op.registered_ = false;
  // Posting under the lock: shutdown() must wait for it, because once the context is destroyed
  // its executor is a dangling reference.
  op.post_completion();
}

void OpRegistry::shutdown() {
  std::list<std::shared_ptr<PendingOp>> orphans;
  {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    orphans.swap(ops_);
    for (auto& op : orphans) op->registered_ = false;
  }
  // Outside the lock: destroying a handler destroys its coroutine frame, whose destructors
  // (e.g. an EventReceiver cancelling its stream) may complete other ops.
  for (auto& op : orphans) op->abandon();
}

}  // namespace detail
}  // namespace tandem::actors
