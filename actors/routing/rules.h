// The router's ordered rules: which backends serve a requested model name, in which order, and
// when to move on to the next one.
//
// A rule matches the requested model by exact name, prefix or PCRE2 regex (searched anywhere in
// the name: anchor it with ^...$ to match whole names) and names a chain of targets: "local"
// (a local model) or a provider, each with an optional model rewrite and, for local targets, an
// SLO condition (see ttft_predictor.h). The first matching rule wins; then the default rule, if
// any. A failure at one target moves to the next only when the rule's `fallback_on` lists its
// trigger (all of them by default). Parsing validates everything and names the rule index and
// field in its error, so a hot reload can reject a bad file and keep the rules it had.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "actors/routing/ttft_predictor.h"

namespace tandem::routing {

struct RulesError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Why the router may move from one target of a chain to the next.
enum class FallbackTrigger : uint8_t {
  unavailable,       // target unknown or its model not loaded
  breaker_open,      // the provider's circuit breaker refused the call
  queue_full,        // the local scheduler's queue is full (today's 429 / 529)
  context_too_long,  // prompt + max_tokens beyond the local model's context
  upstream_failure,  // the provider failed before the commit point (retries spent)
};
inline constexpr FallbackTrigger kAllFallbackTriggers[] = {
    FallbackTrigger::unavailable, FallbackTrigger::breaker_open, FallbackTrigger::queue_full,
    FallbackTrigger::context_too_long, FallbackTrigger::upstream_failure};
std::string_view fallback_trigger_name(FallbackTrigger trigger);

inline constexpr std::string_view kLocalBackend = "local";

struct RouteTarget {
  std::string backend;               // "local" or a provider's name
  std::optional<std::string> model;  // rewrite; none = the requested name as it came
  SloCondition slo;                  // local targets only; empty = always local

  bool is_local() const { return backend == kLocalBackend; }
  std::string model_for(std::string_view requested) const { return model ? *model : std::string(requested); }
};

enum class MatchKind { exact, prefix, regex, any };
std::string_view match_kind_name(MatchKind kind);

class CompiledRegex;

struct RoutingRule {
  std::string name;  // for logs and metrics (routed{rule,target}); "rules[i]" or "default" if unnamed
  MatchKind match_kind = MatchKind::any;
  std::string pattern;
  std::shared_ptr<const CompiledRegex> regex;  // for MatchKind::regex
  std::vector<RouteTarget> targets;            // never empty
  uint32_t fallback_mask = 0;                  // bit per FallbackTrigger

  bool matches(std::string_view model) const;
  bool falls_back_on(FallbackTrigger trigger) const { return fallback_mask & (1u << unsigned(trigger)); }
  // After target `failed_index` failed with `trigger`: is there a next target to try?
  bool has_fallback_after(size_t failed_index, FallbackTrigger trigger) const {
    return falls_back_on(trigger) && failed_index + 1 < targets.size();
  }
};

class RoutingRules {
 public:
  RoutingRules() = default;
  // A JSON object {"rules": [...], "default": {...}} (both optional). Throws RulesError whose
  // message starts with `where` and names the rule index and field.
  static RoutingRules parse(const boost::json::value& value, std::string_view where = "routing");
  // The same from a file's text; comments and trailing commas allowed.
  static RoutingRules parse_text(std::string_view text, std::string_view where = "routing");

  // The first rule that matches, else the default rule, else nullptr.
  const RoutingRule* match(std::string_view model) const;

  // Throws RulesError naming the first target whose backend `is_known` rejects: for a reload
  // that must not reference a provider the server does not have.
  template <class Predicate>
  void check_backends(Predicate is_known) const {
    for_each_target([&](const RouteTarget& target, const std::string& where) {
      if (!is_known(std::string_view(target.backend)))
        throw RulesError(where + ".backend: unknown backend \"" + target.backend + "\"");
    });
  }

  const std::vector<RoutingRule>& rules() const { return rules_; }
  const RoutingRule* default_rule() const { return default_ ? &*default_ : nullptr; }

 private:
  template <class Visit>
  void for_each_target(Visit visit) const {
    for (size_t r = 0; r < rules_.size(); ++r)
      for (size_t t = 0; t < rules_[r].targets.size(); ++t)
        visit(rules_[r].targets[t], where_ + ".rules[" + std::to_string(r) + "].targets[" + std::to_string(t) + "]");
    if (default_)
      for (size_t t = 0; t < default_->targets.size(); ++t)
        visit(default_->targets[t], where_ + ".default.targets[" + std::to_string(t) + "]");
  }

  std::string where_ = "routing";
  std::vector<RoutingRule> rules_;
  std::optional<RoutingRule> default_;
};

}  // namespace tandem::routing
