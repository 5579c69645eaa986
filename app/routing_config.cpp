#include "app/routing_config.h"

#include <boost/json.hpp>

#include <fstream>
#include <sstream>

namespace tandem::app {

namespace {

boost::json::value read_config_file(const std::string& config_file) {
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
  return value;
}

}  // namespace

std::shared_ptr<const routing::RoutingRules> load_routing_rules(
    const std::string& config_file, const std::function<bool(std::string_view backend)>& is_known_backend) {
  if (config_file.empty()) return nullptr;
  auto value = read_config_file(config_file);
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

std::vector<std::string> startup_only_changes(const std::string& config_file, const boost::json::value& providers,
                                              const boost::json::value& model_aliases) {
  std::vector<std::string> changed;
  if (config_file.empty()) return changed;
  auto value = read_config_file(config_file);
  const auto& file = value.as_object();
  auto differs = [&](const char* key, const boost::json::value& in_force) {
    const auto* now = file.if_contains(key);
    return now ? *now != in_force : !in_force.is_null();
  };
  if (differs("providers", providers)) changed.emplace_back("providers");
  if (differs("model_aliases", model_aliases)) changed.emplace_back("model_aliases");
  return changed;
}

}  // namespace tandem::app
