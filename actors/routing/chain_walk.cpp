#include "actors/routing/chain_walk.h"

namespace tandem::routing {

ChainWalk::ChainWalk(RoutingRule rule, std::string requested_model)
    : rule_(std::move(rule)), requested_(std::move(requested_model)), ended_(rule_.targets.empty()) {}

std::optional<RouteStep> ChainWalk::current() const {
  if (ended_) return std::nullopt;
  const RouteTarget& target = rule_.targets[index_];
  return RouteStep{index_, &target, target.model_for(requested_)};
}

std::string ChainWalk::label(size_t index) const {
  const RouteTarget& target = rule_.targets[index];
  return target.backend + "/" + target.model_for(requested_);
}

bool ChainWalk::move_on(std::string reason, std::string detail) {
  fallbacks_.push_back(FallbackRecord{label(index_), label(index_ + 1), std::move(reason), std::move(detail)});
  ++index_;
  return true;
}

bool ChainWalk::fail(FallbackTrigger trigger, std::string detail) {
  if (ended_) return false;
  if (!rule_.has_fallback_after(index_, trigger)) {
    ended_ = true;
    return false;
  }
  return move_on(std::string(fallback_trigger_name(trigger)), std::move(detail));
}

bool ChainWalk::skip_for_slo(const SloVerdict& verdict) {
  if (ended_ || verdict.stay_local || index_ + 1 >= rule_.targets.size()) return false;
  return move_on("slo", verdict.reason);
}

std::string ChainWalk::fallbacks_header() const {
  std::string header;
  for (const FallbackRecord& record : fallbacks_) {
    if (!header.empty()) header += ',';
    header += record.from + ":" + record.reason;
  }
  return header;
}

}  // namespace tandem::routing
