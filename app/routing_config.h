// The config file's "routing" section (actors/routing/rules.h), read at startup and again on
// SIGHUP: the whole file is re-read, the rules parsed and every target's backend checked against
// the backends this server has, so a reload either applies a complete, valid rule set or
// changes nothing.
#pragma once

#include "actors/routing/rules.h"

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tandem::app {

struct RoutingConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Null when the file has no "routing" key (or there is no file). Throws RoutingConfigError
// naming the file and the rule / field at fault.
std::shared_ptr<const routing::RoutingRules> load_routing_rules(
    const std::string& config_file, const std::function<bool(std::string_view backend)>& is_known_backend);

}  // namespace tandem::app
