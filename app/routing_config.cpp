#include "app/routing_config.h"

#include <boost/json.hpp>

#include <fstream>
#include <sstream>

namespace tandem::app {

std::shared_ptr<const routing::RoutingRules> load_routing_rules(
    const std::string& config_file, const std::function<bool(std::string_view backend)>& is_known_backend) {
  if (config_file.empty()) return nullptr;
  std::ifstream in(config_file, std::ios::binary);
  if (!in) throw RoutingConfigError("cannot read config file '" + config_file + "'");
  std::stringstream text;
  text << in.rdbuf();
  boost::json::parse_options options;
  options.allow_comments = true;
  options.allow_trailing_commas = true;
  boost::system::error_code ec;
  auto value = boost::json::parse(text.str(), ec, {}, options);
  if (ec) throw RoutingConfigError("config file '" + config_file + "' is not valid JSON: " + ec.message());
  if (!value.is_object()) throw RoutingConfigError("config file '" + config_file + "' must hold a JSON object");
  const auto* section = value.as_object().if_contains("routing");
  if (!section) return nullptr;
  try {
    auto rules = std::make_shared<routing::RoutingRules>(routing::RoutingRules::parse(*section, "routing"));
    rules->check_backends(is_known_backend);
    return rules;
  } catch (const routing::RulesError& error) {
    throw RoutingConfigError("config file '" + config_file + "': " + error.what());
  }
}

}  // namespace tandem::app
