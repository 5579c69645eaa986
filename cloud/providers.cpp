#include "cloud/providers.h"

#include "schemas/json_sax.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

namespace json = boost::json;

namespace tandem::cloud {

namespace {

constexpr std::string_view kDefaultOpenAiBase = "https://api.openai.com/v1";
constexpr std::string_view kDefaultAnthropicBase = "https://api.anthropic.com";
constexpr std::string_view kDefaultAnthropicVersion = "2023-06-01";

std::string strip_trailing_slashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string require_string(const json::object& object, std::string_view key, const std::string& where,
                           bool required = true) {
  const auto* value = object.if_contains(key);
  if (!value) {
    if (required) throw CloudConfigError(where + "." + std::string(key) + ": required");
    return {};
  }
  if (!value->is_string() || value->as_string().empty())
    throw CloudConfigError(where + "." + std::string(key) + " must be a non-empty string (got " +
                           json::serialize(*value) + ")");
  return std::string(value->as_string());
}

std::chrono::milliseconds read_seconds(const json::value& value, const std::string& where) {
  if (!value.is_number() || value.to_number<double>() < 0 || value.to_number<double>() > 86400)
    throw CloudConfigError(where + " must be a number of seconds from 0 to 86400 (0: no limit; got " +
                           json::serialize(value) + ")");
  return std::chrono::milliseconds(static_cast<long long>(value.to_number<double>() * 1000));
}

UpstreamTimeouts read_timeouts(const json::value& value, const std::string& where) {
  if (!value.is_object()) throw CloudConfigError(where + " must be an object of seconds");
  UpstreamTimeouts timeouts;
  for (const auto& [key, seconds] : value.as_object()) {
    std::string at = where + "." + std::string(key);
    if (key == "connect") timeouts.connect = read_seconds(seconds, at);
    else if (key == "headers") timeouts.headers = read_seconds(seconds, at);
    else if (key == "idle") timeouts.idle = read_seconds(seconds, at);
    else if (key == "total") timeouts.total = read_seconds(seconds, at);
    else throw CloudConfigError(at + ": unknown timeout (known: connect, headers, idle, total)");
  }
  return timeouts;
}

bool valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

// {"model": {"input": USD per million input tokens, "output": USD per million output tokens}}
std::vector<std::pair<std::string, ModelPrice>> read_prices(const json::value& value, const std::string& where) {
  if (!value.is_object()) throw CloudConfigError(where + " must be an object of model name -> {\"input\", \"output\"}");
  std::vector<std::pair<std::string, ModelPrice>> prices;
  for (const auto& [model, price] : value.as_object()) {
    const std::string at = where + "." + std::string(model);
    if (!price.is_object()) throw CloudConfigError(at + " must be an object {\"input\": USD, \"output\": USD} per million tokens");
    ModelPrice parsed;
    for (const auto& [key, amount] : price.as_object()) {
      if (key != "input" && key != "output")
        throw CloudConfigError(at + "." + std::string(key) + ": unknown key (known: input, output)");
      if (!amount.is_number() || amount.to_number<double>() < 0)
        throw CloudConfigError(at + "." + std::string(key) + " must be a non-negative number of US dollars per million tokens");
      (key == "input" ? parsed.input_per_mtok : parsed.output_per_mtok) = amount.to_number<double>();
    }
    prices.emplace_back(std::string(model), parsed);
  }
  return prices;
}

ProviderConfig read_provider(const json::value& value, const std::string& where, const EnvLookup& env) {
  if (!value.is_object()) throw CloudConfigError(where + " must be an object");
  const auto& object = value.as_object();
  static const std::vector<std::string_view> known = {"name",   "protocol", "base_url", "api_key_env", "headers",
                                                      "timeouts", "models", "breaker", "retry", "prices"};
  for (const auto& [key, unused] : object)
    if (std::find(known.begin(), known.end(), std::string_view(key)) == known.end())
      throw CloudConfigError(where + "." + std::string(key) +
                             ": unknown key (known: name, protocol, base_url, api_key_env, headers, timeouts, models, breaker, retry, prices)");
  ProviderConfig provider;
  provider.name = require_string(object, "name", where);
  if (!valid_name(provider.name))
    throw CloudConfigError(where + ".name: use letters, digits, '-', '_' or '.' (got \"" + provider.name + "\")");
  std::string protocol = require_string(object, "protocol", where);
  if (protocol == "openai") provider.protocol = schemas::Protocol::openai;
  else if (protocol == "anthropic") provider.protocol = schemas::Protocol::anthropic;
  else throw CloudConfigError(where + ".protocol must be \"openai\" or \"anthropic\" (got \"" + protocol + "\")");
  provider.base_url = strip_trailing_slashes(require_string(object, "base_url", where));
  if (!provider.base_url.starts_with("http://") && !provider.base_url.starts_with("https://"))
    throw CloudConfigError(where + ".base_url must start with http:// or https://");
  provider.api_key_env = require_string(object, "api_key_env", where, false);
  if (!provider.api_key_env.empty()) {
    auto key = env(provider.api_key_env);
    if (!key || key->empty())
      throw CloudConfigError(where + ".api_key_env: the environment variable " + provider.api_key_env +
                             " is not set");
    provider.api_key = *key;
  }
  if (const auto* headers = object.if_contains("headers")) {
    if (!headers->is_object()) throw CloudConfigError(where + ".headers must be an object of strings");
    for (const auto& [name, header_value] : headers->as_object()) {
      if (!header_value.is_string())
        throw CloudConfigError(where + ".headers." + std::string(name) + " must be a string");
      provider.headers.emplace_back(std::string(name), std::string(header_value.as_string()));
    }
  }
  if (const auto* timeouts = object.if_contains("timeouts")) provider.timeouts = read_timeouts(*timeouts, where + ".timeouts");
  try {
    if (const auto* breaker = object.if_contains("breaker"))
      provider.breaker = resilience::parse_breaker_config(*breaker, where + ".breaker");
    if (const auto* retry = object.if_contains("retry"))
      provider.retry = resilience::parse_retry_config(*retry, where + ".retry");
  } catch (const resilience::ConfigError& error) {
    throw CloudConfigError(error.what());
  }
  if (const auto* prices = object.if_contains("prices")) provider.prices = read_prices(*prices, where + ".prices");
  if (const auto* models = object.if_contains("models")) {
    if (!models->is_array()) throw CloudConfigError(where + ".models must be an array of model names");
    for (std::size_t i = 0; i < models->as_array().size(); ++i) {
      const auto& model = models->as_array()[i];
      if (!model.is_string() || model.as_string().empty())
        throw CloudConfigError(where + ".models[" + std::to_string(i) + "] must be a non-empty string");
      provider.models.emplace_back(model.as_string());
    }
  }
  return provider;
}

std::optional<ProviderConfig> builtin(std::string name, schemas::Protocol protocol, const std::string& key_env,
                                      const std::string& url_env, std::string_view default_url, const EnvLookup& env) {
  auto key = env(key_env);
  if (!key || key->empty()) return std::nullopt;
  ProviderConfig provider;
  provider.name = std::move(name);
  provider.protocol = protocol;
  provider.api_key_env = key_env;
  provider.api_key = *key;
  auto url = env(url_env);
  provider.base_url = strip_trailing_slashes(url && !url->empty() ? *url : std::string(default_url));
  provider.builtin = true;
  return provider;
}

}  // namespace

const ProviderConfig* CloudConfig::find(std::string_view provider_name) const {
  for (const auto& provider : providers)
    if (provider.name == provider_name) return &provider;
  return nullptr;
}

CloudConfig load_cloud_config(const json::value* providers, const json::value* aliases, const EnvLookup& env) {
  CloudConfig config;
  if (providers) {
    if (!providers->is_array()) throw CloudConfigError("providers must be an array of provider objects");
    const auto& array = providers->as_array();
    for (std::size_t i = 0; i < array.size(); ++i) {
      ProviderConfig provider = read_provider(array[i], "providers[" + std::to_string(i) + "]", env);
      if (config.find(provider.name))
        throw CloudConfigError("providers[" + std::to_string(i) + "].name: \"" + provider.name + "\" appears twice");
      config.providers.push_back(std::move(provider));
    }
  }
  // The built-ins, unless the file defines a provider of the same name.
  if (!config.find("openai"))
    if (auto openai = builtin("openai", schemas::Protocol::openai, "OPENAI_API_KEY", "OPENAI_BASE_URL",
                              kDefaultOpenAiBase, env))
      config.providers.push_back(std::move(*openai));
  if (!config.find("anthropic"))
    if (auto anthropic = builtin("anthropic", schemas::Protocol::anthropic, "ANTHROPIC_API_KEY",
                                 "ANTHROPIC_BASE_URL", kDefaultAnthropicBase, env))
      config.providers.push_back(std::move(*anthropic));

  if (aliases) {
    if (!aliases->is_object())
      throw CloudConfigError("model_aliases must be an object: {\"name\": \"provider/model\", ...}");
    for (const auto& [name, target] : aliases->as_object()) {
      std::string where = "model_aliases." + std::string(name);
      if (!target.is_string()) throw CloudConfigError(where + " must be a string \"provider/model\"");
      std::string_view text = target.as_string();
      auto slash = text.find('/');
      if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size())
        throw CloudConfigError(where + " must be \"provider/model\" (got \"" + std::string(text) + "\")");
      ModelAlias alias{std::string(name), std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
      if (!config.find(alias.provider))
        throw CloudConfigError(where + ": no provider named \"" + alias.provider + "\" is configured");
      config.aliases.push_back(std::move(alias));
    }
  }
  return config;
}

std::vector<std::string> well_known_prefixes(const ProviderConfig& provider) {
  if (provider.name == "openai") return {"gpt-", "o1", "o3", "o4", "chatgpt-"};
  if (provider.name == "anthropic") return {"claude-"};
  return {};
}

std::vector<std::pair<std::string, std::string>> aliases_of(const CloudConfig& config, const ProviderConfig& provider) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& alias : config.aliases)
    if (alias.provider == provider.name) out.emplace_back(alias.name, alias.model);
  return out;
}

UpstreamRequest make_upstream_request(const ProviderConfig& provider, schemas::Endpoint endpoint, std::string body,
                                      bool stream, const ForwardedHeaders& forwarded) {
  UpstreamRequest request;
  request.timeouts = provider.timeouts;
  request.body = std::move(body);
  request.headers.reserve(6 + provider.headers.size());
  request.headers.emplace_back("content-type", "application/json");
  request.headers.emplace_back("accept", stream ? "text/event-stream" : "application/json");
  if (provider.protocol == schemas::Protocol::anthropic) {
    std::string path = endpoint == schemas::Endpoint::count_tokens ? "/v1/messages/count_tokens" : "/v1/messages";
    request.url = provider.base_url + path;
    if (!provider.api_key.empty()) request.headers.emplace_back("x-api-key", provider.api_key);
    request.headers.emplace_back("anthropic-version", forwarded.anthropic_version.empty()
                                                          ? std::string(kDefaultAnthropicVersion)
                                                          : forwarded.anthropic_version);
    if (!forwarded.anthropic_beta.empty()) request.headers.emplace_back("anthropic-beta", forwarded.anthropic_beta);
  } else {
    std::string path = endpoint == schemas::Endpoint::completions ? "/completions"
                       : endpoint == schemas::Endpoint::responses ? "/responses"
                                                                  : "/chat/completions";
    request.url = provider.base_url + path;
    if (!provider.api_key.empty()) request.headers.emplace_back("authorization", "Bearer " + provider.api_key);
  }
  for (const auto& header : provider.headers) request.headers.push_back(header);
  return request;
}

namespace {

void skip_space(std::string_view text, std::size_t& at) {
  while (at < text.size() && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r')) ++at;
}

// Past the string starting at `at` (a '"'); npos when it never ends.
std::size_t skip_string(std::string_view text, std::size_t at) {
  for (++at; at < text.size(); ++at) {
    if (text[at] == '\\') ++at;
    else if (text[at] == '"') return at + 1;
  }
  return std::string_view::npos;
}

// Past the value starting at `at`; npos when malformed.
std::size_t skip_value(std::string_view text, std::size_t at) {
  if (at >= text.size()) return std::string_view::npos;
  if (text[at] == '"') return skip_string(text, at);
  if (text[at] != '{' && text[at] != '[') {
    while (at < text.size() && text[at] != ',' && text[at] != '}' && text[at] != ']' && !std::isspace(static_cast<unsigned char>(text[at]))) ++at;
    return at;
  }
  int depth = 0;
  while (at < text.size()) {
    char c = text[at];
    if (c == '"') {
      at = skip_string(text, at);
      if (at == std::string_view::npos) return at;
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') {
      if (--depth == 0) return at + 1;
    }
    ++at;
  }
  return std::string_view::npos;
}

// Reads the top-level "model" while the body is validated, without building the document (a
// whole request's DOM per proxied request, only for this): a repeated key's last value is the
// one, as in Boost.JSON's parse.
class TopLevelModel : public schemas::JsonSaxReader<TopLevelModel> {
 public:
  bool root_is_object = false;
  std::optional<std::string> model;  // the last top-level "model", when it is a string

  bool on_string_part(string_view part, std::size_t, error_code&) {
    if (at_model_ && depth_ == 1) value_.append(part.data(), part.size());
    return true;
  }
  bool on_string(string_view part, std::size_t, error_code&) {
    if (at_model_ && depth_ == 1) {
      value_.append(part.data(), part.size());
      model = std::move(value_);
      value_.clear();
    }
    return scalar();
  }

 private:
  friend class schemas::JsonSaxReader<TopLevelModel>;

  void on_open(bool object) {
    if (depth_ == 0) root_is_object = object;
    on_scalar();  // "model" holding an object or array is not a string
    ++depth_;
  }
  void on_close() { --depth_; }
  void on_whole_key(std::string_view key) {
    if (depth_ != 1) return;
    at_model_ = key == "model";
    if (at_model_) {
      model.reset();
      value_.clear();
    }
  }
  void on_scalar() {
    if (depth_ == 1) at_model_ = false;
  }

  std::size_t depth_ = 0;
  bool at_model_ = false;
  std::string value_;
};

}  // namespace

std::optional<std::string> rewrite_model(std::string_view body, std::string_view model) {
  // Validate first so the scanner below only ever sees well-formed JSON.
  auto found = schemas::read_json_sax<TopLevelModel>(body);
  if (!found || !found->root_is_object || !found->model) return std::nullopt;
  if (*found->model == model) return std::string(body);
  boost::system::error_code ec;

  std::size_t at = 0;
  skip_space(body, at);
  if (at >= body.size() || body[at] != '{') return std::nullopt;
  ++at;
  // Duplicate keys: Boost.JSON keeps the last one, so the last "model" is the one to replace.
  std::optional<std::pair<std::size_t, std::size_t>> value_span;
  for (;;) {
    skip_space(body, at);
    if (at >= body.size() || body[at] == '}') break;
    if (body[at] != '"') return std::nullopt;
    std::size_t key_end = skip_string(body, at);
    if (key_end == std::string_view::npos) return std::nullopt;
    std::string_view raw_key = body.substr(at + 1, key_end - at - 2);
    bool is_model = raw_key == "model";
    if (!is_model && raw_key.find('\\') != std::string_view::npos) {  // decode escapes
      json::value key = json::parse(body.substr(at, key_end - at), ec);
      if (ec) return std::nullopt;
      is_model = key.as_string() == "model";
    }
    at = key_end;
    skip_space(body, at);
    if (at >= body.size() || body[at] != ':') return std::nullopt;
    ++at;
    skip_space(body, at);
    std::size_t value_end = skip_value(body, at);
    if (value_end == std::string_view::npos) return std::nullopt;
    if (is_model) value_span = {at, value_end};
    at = value_end;
    skip_space(body, at);
    if (at < body.size() && body[at] == ',') ++at;
  }
  if (!value_span) return std::nullopt;
  std::string out;
  out.reserve(body.size() + model.size());
  out.append(body.substr(0, value_span->first));
  out += json::serialize(json::string_view(model.data(), model.size()));
  out.append(body.substr(value_span->second));
  return out;
}

HeaderList forwarded_response_headers(const ResponseHead& head) {
  HeaderList out;
  for (const auto& [name, value] : head.headers) {
    if (name == "retry-after" || name == "retry-after-ms" || name.starts_with("x-ratelimit-") ||
        name.starts_with("anthropic-ratelimit-"))
      out.emplace_back(name, value);
    else if (name == "request-id" || name == "x-request-id")
      out.emplace_back("upstream-request-id", value);
  }
  return out;
}

}  // namespace tandem::cloud
