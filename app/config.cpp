#include "app/config.h"

#include "http/cors.h"
#ifdef TANDEM_CLOUD
#include "cloud/providers.h"
#endif

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

namespace tandem::app {
namespace json = boost::json;

namespace {

// All cores: the step thread runs the matmuls and attention with threads - 1 pool workers, and the
// HTTP I/O thread is mostly idle. On the 2-core dev box (bench/engine) 2 threads beat 1 at every
// batch: Q8_0 batch 1 232 vs 176 tok/s (two cores pull more memory bandwidth), batch 64 854 vs 466,
// F32 prefill 694 vs 350. Results are bit-identical whatever the count, and tasks are claimed
// dynamically, so a core busy elsewhere slows a step down rather than stalling it.
int default_threads() {
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

const std::vector<std::string> kLogFormats = {"text", "json"};
const std::vector<std::string> kPrefillOrders = {"arrival", "shortest"};
const std::vector<std::string> kLogLevels = {"trace", "debug", "info",    "warn",
                                             "error", "critical", "off"};

std::string describe(const json::value& value) { return json::serialize(value); }

// Readers from the config file's JSON values; `where` is `config file 'x': "key"`.
int read_int(const json::value& value, const std::string& where, long long min, long long max) {
  std::optional<long long> number;
  if (value.is_int64()) number = value.as_int64();
  if (value.is_uint64() && value.as_uint64() <= static_cast<unsigned long long>(max)) {
    number = static_cast<long long>(value.as_uint64());
  }
  if (value.is_double() && value.as_double() == static_cast<double>(static_cast<long long>(value.as_double()))) {
    number = static_cast<long long>(value.as_double());
  }
  if (!number || *number < min || *number > max) {
    throw ConfigError(where + " must be an integer from " + std::to_string(min) + " to " +
                      std::to_string(max) + " (got " + describe(value) + ")");
  }
  return static_cast<int>(*number);
}

double read_seconds(const json::value& value, const std::string& where) {
  if (!value.is_number() || value.to_number<double>() <= 0 || value.to_number<double>() > 86400) {
    throw ConfigError(where + " must be a number of seconds above 0 and at most 86400 (got " +
                      describe(value) + ")");
  }
  return value.to_number<double>();
}

std::string read_string(const json::value& value, const std::string& where) {
  if (!value.is_string()) {
    throw ConfigError(where + " must be a string (got " + describe(value) + ")");
  }
  return std::string(value.as_string());
}

std::vector<std::string> read_strings(const json::value& value, const std::string& where) {
  if (value.is_string()) return {std::string(value.as_string())};
  if (value.is_array()) {
    std::vector<std::string> result;
    for (const auto& item : value.as_array()) {
      if (!item.is_string()) {
        throw ConfigError(where + " must be a string or an array of strings (got " +
                          describe(value) + ")");
      }
      result.emplace_back(item.as_string());
    }
    return result;
  }
  throw ConfigError(where + " must be a string or an array of strings (got " + describe(value) +
                    ")");
}

std::string read_log_format(const json::value& value, const std::string& where) {
  auto format = read_string(value, where);
  if (std::find(kLogFormats.begin(), kLogFormats.end(), format) == kLogFormats.end()) {
    throw ConfigError(where + " must be text or json (got " + describe(value) + ")");
  }
  return format;
}

std::string read_prefill_order(const json::value& value, const std::string& where) {
  auto order = read_string(value, where);
  if (std::find(kPrefillOrders.begin(), kPrefillOrders.end(), order) == kPrefillOrders.end()) {
    throw ConfigError(where + " must be arrival or shortest (got " + describe(value) + ")");
  }
  return order;
}

std::string read_log_level(const json::value& value, const std::string& where) {
  auto level = read_string(value, where);
  if (std::find(kLogLevels.begin(), kLogLevels.end(), level) == kLogLevels.end()) {
    throw ConfigError(where + " must be one of trace, debug, info, warn, error, critical, off (got " +
                      describe(value) + ")");
  }
  return level;
}

json::object load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read config file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  // A hand-written file: comments and trailing commas are welcome.
  json::parse_options options;
  options.allow_comments = true;
  options.allow_trailing_commas = true;
  auto value = json::parse(text.str(), ec, {}, options);
  if (ec) {
    throw ConfigError("config file '" + path + "' is not valid JSON: " + ec.message());
  }
  if (!value.is_object()) {
    throw ConfigError("config file '" + path + "' must hold a JSON object of settings");
  }
  return value.as_object();
}

}  // namespace

AppConfig::AppConfig() : threads(default_threads()) {}

std::optional<std::string> process_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::size_t parse_size(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) throw std::invalid_argument("expected a byte count such as 8388608 or 8MiB");
  std::string unit = text.substr(digits);
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::size_t multiplier = 0;
  if (unit.empty() || unit == "b") multiplier = 1;
  if (unit == "k" || unit == "kb" || unit == "kib") multiplier = 1024;
  if (unit == "m" || unit == "mb" || unit == "mib") multiplier = 1024 * 1024;
  if (unit == "g" || unit == "gb" || unit == "gib") multiplier = 1024 * 1024 * 1024;
  if (multiplier == 0) throw std::invalid_argument("unknown size unit '" + unit + "' (use K, M or G)");
  unsigned long long count = std::stoull(text.substr(0, digits));
  if (count == 0) throw std::invalid_argument("must be above 0");
  if (count > std::numeric_limits<std::uint32_t>::max() / multiplier) {
    throw std::invalid_argument("must be at most 4GiB");
  }
  return static_cast<std::size_t>(count * multiplier);
}

// The origins of --cors-origins (or the config file's "cors_origins"), or a ConfigError naming
// `where` and the bad entry.
static std::vector<std::string> cors_origins_from(const std::string& value, const std::string& where) {
  auto parsed = http::parse_cors_origins(value);
  if (!parsed.error.empty()) throw ConfigError(where + ": " + parsed.error);
  return parsed.origins;
}

std::vector<std::string> split_keys(const std::string& comma_separated) {
  std::vector<std::string> keys;
  std::stringstream stream(comma_separated);
  std::string key;
  while (std::getline(stream, key, ',')) {
    auto first = key.find_first_not_of(" \t");
    auto last = key.find_last_not_of(" \t");
    if (first != std::string::npos) keys.push_back(key.substr(first, last - first + 1));
  }
  return keys;
}

// One setting: its config-file key, its flag, and how to take it from JSON or from the flags.
struct ServerConfigOptions::Field {
  std::string key;
  CLI::Option* option;
  std::function<void(const json::value&, const std::string& where, AppConfig&)> from_json;
  std::function<void(const AppConfig& flags, AppConfig& target)> from_flags;
};

ServerConfigOptions::ServerConfigOptions(CLI::App& app) { bind_fields(app); }
ServerConfigOptions::~ServerConfigOptions() = default;

void ServerConfigOptions::bind_fields(CLI::App& app) {
  auto& f = from_flags_;
  auto add = [&](std::string key, CLI::Option* option, auto member, auto reader) {
    option->capture_default_str();
    fields_.push_back(Field{
        std::move(key), option,
        [member, reader](const json::value& value, const std::string& where, AppConfig& target) {
          target.*member = reader(value, where);
        },
        [member](const AppConfig& flags, AppConfig& target) { target.*member = flags.*member; }});
  };
  auto int_reader = [](long long min, long long max) {
    return [min, max](const json::value& v, const std::string& where) {
      return read_int(v, where, min, max);
    };
  };
  auto int_option = [&](std::string key, std::string names, int AppConfig::*member,
                        std::string help, int min, int max) {
    auto* option = app.add_option(names, f.*member, help)->check(CLI::Range(min, max));
    add(std::move(key), option, member, int_reader(min, max));
    return option;
  };
  auto seconds_option = [&](std::string key, std::string names, double AppConfig::*member,
                            std::string help) {
    auto* option = app.add_option(names, f.*member, help)->check(CLI::Range(0.001, 86400.0));
    add(std::move(key), option, member, read_seconds);
  };

  const char* server = "Server";
  const char* model = "Model and engine";
  const char* limits = "Limits";

  add("host", app.add_option("--host", f.host, "Address to listen on")->group(server),
      &AppConfig::host, read_string);
  int_option("port", "--port", &AppConfig::port, "Port to listen on (0: any free port)", 0, 65535)
      ->group(server);
  add("api_keys",
      app.add_option("--api-keys", api_keys_flag_,
                     "Comma-separated client API keys; when set every /v1/* request needs one "
                     "(env TANDEM_API_KEYS)")
          ->group(server),
      &AppConfig::api_keys, [](const json::value& v, const std::string& where) {
        if (v.is_string()) return split_keys(std::string(v.as_string()));
        return read_strings(v, where);
      });
  add("cors_origins",
      app.add_option("--cors-origins", cors_origins_flag_,
                     "Web origins allowed to call the API from a browser: '*' or a comma-separated "
                     "list (https://app.example.com,...); off when empty")
          ->group(server),
      &AppConfig::cors_origins, [](const json::value& v, const std::string& where) {
        std::string joined;
        if (v.is_string()) {
          joined = std::string(v.as_string());
        } else {
          for (const auto& origin : read_strings(v, where)) joined += origin + ",";
        }
        return cors_origins_from(joined, where);
      });
  add("log_level",
      app.add_option("--log-level", f.log_level, "Log level")
          ->check(CLI::IsMember(kLogLevels))
          ->group(server),
      &AppConfig::log_level, read_log_level);
  add("log_format",
      app.add_option("--log-format", f.log_format, "Log line format: text, or json (one object per line)")
          ->check(CLI::IsMember(kLogFormats))
          ->group(server),
      &AppConfig::log_format, read_log_format);
  int_option("io_threads", "--io-threads", &AppConfig::io_threads,
             "HTTP I/O threads (with --actor-threads 0, each also runs actors and upstream transfers: a shard)", 1, 256)
      ->group(server);
  int_option("actor_threads", "--actor-threads", &AppConfig::actor_threads,
             "Actor scheduler threads (0: the actors run on the I/O threads, beside the HTTP sessions and "
             "libcurl, so a request is handed to no other thread)",
             0, 256)
      ->group(server);

  add("model",
      app.add_option("-m,--model", f.models, "GGUF model file to serve (repeatable)")
          ->group(model),
      &AppConfig::models, read_strings);
  add("alias",
      app.add_option("-a,--alias", f.aliases,
                     "Name clients use for the model given at the same position (repeatable)")
          ->group(model),
      &AppConfig::aliases, read_strings);
  int_option("ctx_size", "-c,--ctx-size", &AppConfig::ctx_size,
             "Context length per sequence (0: the model's)", 0, 1 << 20)
      ->group(model);
  int_option("parallel", "--parallel,--np", &AppConfig::parallel,
             "Sequences decoded together (llama.cpp's -np)", 1, 1024)
      ->group(model);
  int_option("threads", "-t,--threads", &AppConfig::threads, "Engine/BLAS threads", 1, 1024)
      ->group(model);
  int_option("max_queue", "--max-queue", &AppConfig::max_queue,
             "Requests that may wait for a free sequence before 429/529 (overloaded)", 0, 1'000'000)
      ->group(model);
  int_option("batch_tokens", "--batch-tokens", &AppConfig::batch_tokens,
             "Token budget of one engine step", 1, 1 << 20)
      ->group(model);
  add("prefill_order",
      app.add_option("--prefill-order", f.prefill_order,
                     "Which waiting prompt a step computes first: arrival, or shortest (fewest rows left; "
                     "one passed over 8 steps goes first)")
          ->check(CLI::IsMember(kPrefillOrders))
          ->group(model),
      &AppConfig::prefill_order, read_prefill_order);
  int_option("max_prefill_tokens", "--max-prefill-tokens", &AppConfig::max_prefill_tokens,
             "Prompt rows one step may take while sequences decode (0: the rest of --batch-tokens)", 0, 1 << 20)
      ->group(model);
  int_option("max_prefill_seqs", "--max-prefill-seqs", &AppConfig::max_prefill_seqs,
             "Prompts one step may compute (0: any number)", 0, 1 << 20)
      ->group(model);
  int_option("prefill_first", "--prefill-first", &AppConfig::prefill_first,
             "1: while prompts wait, steps compute only them (decodes pause); 0: every step decodes", 0, 1)
      ->group(model);
  int_option("responses_store", "--responses-store", &AppConfig::responses_store,
             "Responses API: stored responses (store: true) kept at most; the oldest go first", 0, 10'000'000)
      ->group(model);
  int_option("responses_ttl", "--responses-ttl", &AppConfig::responses_ttl,
             "Responses API: seconds a stored response is kept", 1, 365 * 24 * 3600)
      ->group(model);
  int_option("max_schema_bytes", "--max-schema-bytes", &AppConfig::max_schema_bytes,
             "Structured outputs: largest JSON Schema (response_format, tool parameters) a request may send",
             64, 16 << 20)
      ->group(model);

  int_option("max_connections", "--max-connections", &AppConfig::max_connections,
             "Open client connections; more get 503", 1, 1'000'000)
      ->group(limits);
  add("body_limit",
      app.add_option("--body-limit", f.body_limit,
                     "Largest request body (bytes, or with K/M/G); larger gets 413")
          ->transform(CLI::Validator(
              [](std::string& text) -> std::string {
                try {
                  text = std::to_string(parse_size(text));
                  return {};
                } catch (const std::exception& e) {
                  return e.what();
                }
              },
              "SIZE"))
          ->group(limits),
      &AppConfig::body_limit, [](const json::value& v, const std::string& where) {
        try {
          if (v.is_string()) return parse_size(std::string(v.as_string()));
          return parse_size(std::to_string(read_int(v, where, 1, std::numeric_limits<int>::max())));
        } catch (const std::invalid_argument& e) {
          throw ConfigError(where + ": " + e.what() + " (got " + describe(v) + ")");
        }
      });
  seconds_option("read_timeout", "--read-timeout", &AppConfig::read_timeout,
                 "Seconds to receive a whole request; a stalled client gets 408");
  seconds_option("queue_heartbeat", "--queue-heartbeat", &AppConfig::queue_heartbeat,
                 "Seconds between keep-alive pings (Anthropic `ping`, an SSE comment for OpenAI) "
                 "to a streaming request waiting in the queue");
  seconds_option("backend_timeout", "--backend-timeout", &AppConfig::backend_timeout,
                 "Seconds a backend (local model or cloud provider) has to accept or refuse a "
                 "request, count its tokens or list its models; then 500 (api_error)");
  seconds_option("drain_timeout", "--drain-timeout", &AppConfig::drain_timeout,
                 "Seconds that in-flight requests may take to finish on SIGINT/SIGTERM");
  for (auto& field : fields_) {
    if (field.key == "read_timeout" || field.key == "drain_timeout") field.option->group(limits);
    if (field.key == "queue_heartbeat" || field.key == "backend_timeout") field.option->group(model);
  }

  app.add_option("--config", f.config_file,
                 "JSON file of settings (keys as the long flags with '_': {\"ctx_size\": 2048}); "
                 "flags and env override it")
      ->group(server);
  // Hidden (empty group): test-only routes, see README.md.
  app.add_flag("--debug-routes", f.debug_routes, "Enable /debug/* test routes")->group("");
  app.add_option("--debug-step-delay", f.debug_step_delay_ms,
                 "Sleep this many ms after each engine step (tests)")
      ->check(CLI::Range(0, 10'000))
      ->group("");
}

AppConfig ServerConfigOptions::resolve(const EnvLookup& env) const {
  AppConfig config;
  config.config_file = from_flags_.config_file;
  config.debug_routes = from_flags_.debug_routes;
  config.debug_step_delay_ms = from_flags_.debug_step_delay_ms;
  if (!config.config_file.empty()) {
    auto file = load_file(config.config_file);
    for (const auto& [key, value] : file) {
      // The cloud sections are structured; cloud/providers.h validates them at startup.
      if (key == "providers") {
        config.providers = value;
        continue;
      }
      if (key == "model_aliases") {
        config.model_aliases = value;
        continue;
      }
      // Routing rules are read (and re-read on SIGHUP) by app/routing_config.h.
      if (key == "routing") continue;
      auto field = std::find_if(fields_.begin(), fields_.end(),
                                [&](const Field& f) { return f.key == key; });
      if (field == fields_.end()) {
        std::string known;
        for (const auto& f : fields_) known += (known.empty() ? "" : ", ") + f.key;
        known += ", providers, model_aliases, routing";
        throw ConfigError("config file '" + config.config_file + "': unknown key \"" +
                          std::string(key) + "\" (known keys: " + known + ")");
      }
      field->from_json(value, "config file '" + config.config_file + "': \"" +
                                  std::string(key) + "\"", config);
    }
  }
  if (auto keys = env("TANDEM_API_KEYS")) config.api_keys = split_keys(*keys);
  for (const auto& field : fields_) {
    if (field.option->count() == 0) continue;
    if (field.key == "api_keys") {
      config.api_keys = split_keys(api_keys_flag_);
    } else if (field.key == "cors_origins") {
      config.cors_origins = cors_origins_from(cors_origins_flag_, "--cors-origins");
    } else {
      field.from_flags(from_flags_, config);
    }
  }
#ifdef TANDEM_CLOUD
  // Checked now so a bad provider stops startup with the key named (exit 2), like any setting.
  try {
    cloud::load_cloud_config(config.providers.is_null() ? nullptr : &config.providers,
                             config.model_aliases.is_null() ? nullptr : &config.model_aliases, env);
  } catch (const cloud::CloudConfigError& e) {
    throw ConfigError("config file '" + config.config_file + "': " + e.what());
  }
#endif
  if (config.aliases.size() > config.models.size()) {
    throw ConfigError("--alias given " + std::to_string(config.aliases.size()) +
                      " time(s) but --model only " + std::to_string(config.models.size()) +
                      ": each alias names the model at the same position");
  }
  return config;
}

std::vector<std::string> normalize_arguments(int argc, const char* const* argv) {
  std::vector<std::string> arguments;
  for (int i = 0; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument == "-np") argument = "--np";
    if (argument.starts_with("-np=")) argument = "--np=" + argument.substr(4);
    arguments.push_back(std::move(argument));
  }
  return arguments;
}

AppConfig parse_config(const std::vector<std::string>& arguments, const EnvLookup& env) {
  CLI::App app{"tandem"};
  ServerConfigOptions options(app);
  std::vector<const char*> argv;
  for (const auto& argument : arguments) argv.push_back(argument.c_str());
  auto normalized = normalize_arguments(static_cast<int>(argv.size()), argv.data());
  std::vector<const char*> normalized_argv;
  for (const auto& argument : normalized) normalized_argv.push_back(argument.c_str());
  app.parse(static_cast<int>(normalized_argv.size()), normalized_argv.data());
  return options.resolve(env);
}

}  // namespace tandem::app
