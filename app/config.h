// Every setting of the `tandem` server in one struct, and where each comes from.
// Precedence: command-line flags > environment (secrets) > JSON config file > defaults.
// File keys are the long flag names with '_' for '-' (e.g. "ctx_size"); see README.md.
#pragma once

#include <CLI/CLI.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tandem::app {

struct AppConfig {
  // Listening
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: ephemeral, the bound port is logged
  // Models (loading lands with the engine issue)
  std::vector<std::string> models;   // --model, repeatable
  std::vector<std::string> aliases;  // --alias, pairs with --model by position
  int ctx_size = 4096;               // 0: the model's trained context
  int parallel = 4;                  // sequences decoded together (slots)
  int threads;                       // engine / BLAS threads; default: all cores
  int max_queue = 64;                // requests waiting for a slot before 429/529
  int batch_tokens = 512;            // token budget per engine step
  // How a step shares its budget (engine::StepPolicy): which waiting prompt is computed first
  // ("arrival" or "shortest"), prompt rows and prompts per step while sequences decode (0: no cap),
  // and prefill-only steps while prompts wait.
  std::string prefill_order = "shortest";
  int max_prefill_tokens = 0;
  int max_prefill_seqs = 0;
  int prefill_first = 0;
  int responses_store = 1000;        // Responses API: stored responses kept at most
  int responses_ttl = 3600;          // Responses API: seconds a stored response is kept
  int max_schema_bytes = 65536;      // structured outputs: a request's JSON Schema text at most
  double queue_heartbeat = 2;        // seconds between pings to a queued streaming request
  double backend_timeout = 10;       // seconds a backend has to accept/refuse, count or list models
  // Runtime
  int io_threads = 1;     // HTTP I/O threads; all I/O is async, one is plenty on 2 cores
  // CAF scheduler workers; 0 (the default): the actors run on the I/O threads (one shard each,
  // with its HTTP sessions and libcurl transfers), which measured 15-40 % more gateway throughput
  // and about half the added latency of 2 workers (README, "Benchmarks").
  int actor_threads = 0;
  // HTTP limits
  int max_connections = 256;
  std::size_t body_limit = 8 * 1024 * 1024;
  double read_timeout = 30;   // seconds
  double drain_timeout = 10;  // seconds
  // Security and diagnostics
  std::vector<std::string> api_keys;  // --api-keys / TANDEM_API_KEYS, comma-separated
  std::vector<std::string> cors_origins;  // --cors-origins: "*" or origins; empty = CORS off
  std::string log_level = "info";
  std::string log_format = "text";  // "text" or "json" (one object per line, see http/logging.h)
  std::string config_file;
  bool debug_routes = false;  // hidden: /debug/* routes for the integration tests
  // Cloud upstreams from the config file, as written (null when absent); cloud/providers.h reads
  // them (with OPENAI_* / ANTHROPIC_* from the environment) when the server starts.
  boost::json::value providers;
  boost::json::value model_aliases;
  // Hidden, test-only: the scheduler sleeps this long after every engine step, so tests of
  // overload and shutdown know a generation outlasts their checks on any CPU.
  int debug_step_delay_ms = 0;

  AppConfig();
};

// A bad config file or an inconsistent combination of settings; main exits with exit_code.
struct ConfigError : std::runtime_error {
  explicit ConfigError(const std::string& message, int code = 2)
      : std::runtime_error(message), exit_code(code) {}
  int exit_code;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment.
std::optional<std::string> process_env(const std::string& name);

// Registers the server's options on `app`. After app.parse(), resolve() merges them with the
// environment and the config file.
class ServerConfigOptions {
 public:
  explicit ServerConfigOptions(CLI::App& app);
  ~ServerConfigOptions();
  ServerConfigOptions(const ServerConfigOptions&) = delete;
  ServerConfigOptions& operator=(const ServerConfigOptions&) = delete;

  // Throws ConfigError naming the offending key, flag or variable.
  AppConfig resolve(const EnvLookup& env) const;

 private:
  struct Field;
  void bind_fields(CLI::App& app);

  AppConfig from_flags_;
  std::string api_keys_flag_;
  std::string cors_origins_flag_;
  std::vector<Field> fields_;
};

// llama.cpp spells some options with one dash and two letters (-np); CLI11 wants "--np".
std::vector<std::string> normalize_arguments(int argc, const char* const* argv);

// Parses arguments (argv[0] first) into a config, as main does. Throws CLI::ParseError or
// ConfigError. For tests.
AppConfig parse_config(const std::vector<std::string>& arguments, const EnvLookup& env);

// "8MiB", "512k", "1000" -> bytes. Throws std::invalid_argument with the reason.
std::size_t parse_size(const std::string& text);
std::vector<std::string> split_keys(const std::string& comma_separated);

}  // namespace tandem::app
