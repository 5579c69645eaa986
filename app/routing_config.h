// The config file's "routing" section (actors/routing/rules.h), read at startup and again on
// SIGHUP: the whole file is re-read, the rules parsed and every target's backend checked against
// the backends this server has, so a reload either applies a complete, valid rule set or
// changes nothing. Providers (their entries, breaker and retry settings) and model_aliases are
// read at startup only: a reload compares those sections with the ones in force and says in the
// log whether they changed (then a restart applies them) or not.
#pragma once

#include "actors/routing/rules.h"

#include <boost/json/value.hpp>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::app {

struct RoutingConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Null when the file has no "routing" key (or there is no file). Throws RoutingConfigError
// naming the file and the rule / field at fault.
std::shared_ptr<const routing::RoutingRules> load_routing_rules(
    const std::string& config_file, const std::function<bool(std::string_view backend)>& is_known_backend);

// The sections a reload does not apply ("providers", "model_aliases") whose text in the file now
// differs from the values in force (null = absent). Throws RoutingConfigError when the file
// cannot be read or parsed.
std::vector<std::string> startup_only_changes(const std::string& config_file, const boost::json::value& providers,
                                              const boost::json::value& model_aliases);

}  // namespace tandem::app
