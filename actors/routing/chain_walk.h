// One request's walk along a rule's chain of targets: which target to try now, when to move on,
// and the record of every move (for the `x-tandem-fallbacks` header and the
// fallbacks{from,to,reason} counter).
//
// The router creates one per request, tries current(), and on a failure before the commit point
// calls fail(trigger): true means current() is now the next target, false means the walk is
// over and the caller answers with that failure's error (the last error, in its protocol).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/routing/rules.h"
#include "actors/routing/ttft_predictor.h"

namespace tandem::routing {

struct RouteStep {
  size_t index = 0;                  // position in the rule's chain
  const RouteTarget* target = nullptr;  // into the walk's own rule: valid while the walk lives
  std::string model;                 // the name to ask the backend for (rewrite applied)
};

struct FallbackRecord {
  std::string from;    // "backend/model" that did not serve
  std::string to;      // "backend/model" tried next
  std::string reason;  // a FallbackTrigger's name, or "slo"
  std::string detail;  // for the log
};

class ChainWalk {
 public:
  // Keeps its own copy of the rule (strings and a shared regex: cheap), so a hot reload that
  // replaces the rules never pulls the chain from under a request in flight.
  ChainWalk(RoutingRule rule, std::string requested_model);

  // The target to try now; nullopt once the walk has ended.
  std::optional<RouteStep> current() const;
  // The current target failed for `trigger` before anything reached the client.
  bool fail(FallbackTrigger trigger, std::string detail = {});
  // A local target's SLO verdict. When it says "not here" and a next target exists, the walk
  // moves on (true); the last target is tried whatever its SLO says (false: stay).
  bool skip_for_slo(const SloVerdict& verdict);

  bool ended() const { return ended_; }
  const RoutingRule& rule() const { return rule_; }
  const std::vector<FallbackRecord>& fallbacks() const { return fallbacks_; }
  // "local/qwen:queue_full,openai/gpt-4o-mini:breaker_open": each target left, and why.
  std::string fallbacks_header() const;

 private:
  bool move_on(std::string reason, std::string detail);
  std::string label(size_t index) const;

  RoutingRule rule_;
  std::string requested_;
  size_t index_ = 0;
  bool ended_ = false;
  std::vector<FallbackRecord> fallbacks_;
};

}  // namespace tandem::routing
