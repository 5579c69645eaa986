#include "app/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace tandem::app {
namespace {

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

const EnvLookup kNoEnv = env_of({});

// A config file in the test's temp dir.
std::string write_file(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("tandem_config_test_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

std::string config_error(const std::vector<std::string>& arguments, const EnvLookup& env = kNoEnv) {
  try {
    parse_config(arguments, env);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exit_code, 2);
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return {};
}

TEST(Config, Defaults) {
  auto config = parse_config({"tandem"}, kNoEnv);
  EXPECT_EQ(config.host, "127.0.0.1");
  EXPECT_EQ(config.port, 8080);
  EXPECT_EQ(config.body_limit, 8u * 1024 * 1024);
  EXPECT_EQ(config.io_threads, 1);
  EXPECT_GE(config.threads, 1);
  EXPECT_TRUE(config.api_keys.empty());
  EXPECT_EQ(config.log_level, "info");
  EXPECT_FALSE(config.debug_routes);
  EXPECT_DOUBLE_EQ(config.backend_timeout, 10);
}

TEST(Config, BackendTimeoutFromFlagOrFile) {
  EXPECT_DOUBLE_EQ(parse_config({"tandem", "--backend-timeout", "2.5"}, kNoEnv).backend_timeout, 2.5);
  auto file = write_file("backend_timeout.json", R"({"backend_timeout": 30})");
  EXPECT_DOUBLE_EQ(parse_config({"tandem", "--config", file}, kNoEnv).backend_timeout, 30);
}

TEST(Config, StepPolicyFromFlagOrFileWithShortestFirstByDefault) {
  auto defaults = parse_config({"tandem"}, kNoEnv);
  EXPECT_EQ(defaults.prefill_order, "shortest");
  EXPECT_EQ(defaults.max_prefill_tokens, 0);
  EXPECT_EQ(defaults.max_prefill_seqs, 0);
  EXPECT_EQ(defaults.prefill_first, 0);
  auto flags = parse_config({"tandem", "--prefill-order", "arrival", "--max-prefill-tokens", "64",
                             "--max-prefill-seqs", "2", "--prefill-first", "1"},
                            kNoEnv);
  EXPECT_EQ(flags.prefill_order, "arrival");
  EXPECT_EQ(flags.max_prefill_tokens, 64);
  EXPECT_EQ(flags.max_prefill_seqs, 2);
  EXPECT_EQ(flags.prefill_first, 1);
  auto file = write_file("step_policy.json", R"({"prefill_order": "arrival", "max_prefill_tokens": 128})");
  auto from_file = parse_config({"tandem", "--config", file}, kNoEnv);
  EXPECT_EQ(from_file.prefill_order, "arrival");
  EXPECT_EQ(from_file.max_prefill_tokens, 128);
  auto bad = write_file("bad_step_policy.json", R"({"prefill_order": "random"})");
  EXPECT_NE(config_error({"tandem", "--config", bad}).find("\"prefill_order\""), std::string::npos);
}

TEST(Config, LlamaCppStyleFlags) {
  auto config = parse_config({"tandem", "-m", "a.gguf", "--model", "b.gguf", "--alias", "first",
                              "-c", "2048", "-np", "8", "-t", "3", "--port", "0",
                              "--body-limit", "64KiB", "--read-timeout", "0.5"},
                             kNoEnv);
  EXPECT_EQ(config.models, (std::vector<std::string>{"a.gguf", "b.gguf"}));
  EXPECT_EQ(config.aliases, (std::vector<std::string>{"first"}));
  EXPECT_EQ(config.ctx_size, 2048);
  EXPECT_EQ(config.parallel, 8);
  EXPECT_EQ(config.threads, 3);
  EXPECT_EQ(config.port, 0);
  EXPECT_EQ(config.body_limit, 64u * 1024);
  EXPECT_DOUBLE_EQ(config.read_timeout, 0.5);
}

TEST(Config, PrecedenceIsFlagsThenEnvThenFileThenDefaults) {
  auto file = write_file("precedence.json", R"({"port": 9000, "ctx_size": 1024,
      "api_keys": "from-file", "model": ["m.gguf"], "log_level": "debug"})");
  // File over defaults.
  auto from_file = parse_config({"tandem", "--config", file}, kNoEnv);
  EXPECT_EQ(from_file.port, 9000);
  EXPECT_EQ(from_file.ctx_size, 1024);
  EXPECT_EQ(from_file.api_keys, (std::vector<std::string>{"from-file"}));
  EXPECT_EQ(from_file.models, (std::vector<std::string>{"m.gguf"}));
  EXPECT_EQ(from_file.log_level, "debug");
  EXPECT_EQ(from_file.parallel, AppConfig().parallel);

  // Env over file.
  auto env = env_of({{"TANDEM_API_KEYS", "env-a, env-b,,"}});
  auto from_env = parse_config({"tandem", "--config", file}, env);
  EXPECT_EQ(from_env.api_keys, (std::vector<std::string>{"env-a", "env-b"}));

  // Flags over env and file.
  auto from_flags = parse_config(
      {"tandem", "--config", file, "--port", "7000", "--api-keys", "flag-key"}, env);
  EXPECT_EQ(from_flags.port, 7000);
  EXPECT_EQ(from_flags.api_keys, (std::vector<std::string>{"flag-key"}));
  EXPECT_EQ(from_flags.ctx_size, 1024);  // not given as a flag: still the file's
}

TEST(Config, UnknownFileKeyIsNamed) {
  auto file = write_file("unknown.json", R"({"port": 1, "prot": 2})");
  auto message = config_error({"tandem", "--config", file});
  EXPECT_NE(message.find("unknown key \"prot\""), std::string::npos) << message;
  EXPECT_NE(message.find(file), std::string::npos) << message;
}

TEST(Config, FileAllowsCommentsTrailingCommasAndKeepsTheCloudSections) {
  auto file = write_file("cloud.json", R"({
    // served on all interfaces
    "port": 9000,
    "providers": [{"name": "vllm", "protocol": "openai", "base_url": "http://127.0.0.1:8000/v1",},],
    "model_aliases": {"fast": "vllm/qwen"},
  })");
  auto config = parse_config({"tandem", "--config", file}, kNoEnv);
  EXPECT_EQ(config.port, 9000);
  ASSERT_TRUE(config.providers.is_array());
  EXPECT_EQ(config.providers.as_array().at(0).at("name").as_string(), "vllm");
  ASSERT_TRUE(config.model_aliases.is_object());
  EXPECT_EQ(config.model_aliases.at("fast").as_string(), "vllm/qwen");
  EXPECT_TRUE(parse_config({"tandem"}, kNoEnv).providers.is_null());
}

#ifdef TANDEM_CLOUD
TEST(Config, ABadProviderStopsStartupNamingTheKey) {
  auto file = write_file("bad_provider.json", R"({"providers": [{"name": "x", "protocol": "grpc", "base_url": "http://a"}]})");
  auto message = config_error({"tandem", "--config", file});
  EXPECT_NE(message.find("providers[0].protocol must be"), std::string::npos) << message;
  auto keyless = write_file("keyless.json", R"({"providers": [{"name": "x", "protocol": "openai",
                                               "base_url": "http://a", "api_key_env": "X_KEY"}]})");
  EXPECT_NE(config_error({"tandem", "--config", keyless}).find("X_KEY is not set"), std::string::npos);
  EXPECT_NO_THROW(parse_config({"tandem", "--config", keyless}, env_of({{"X_KEY", "sk-x"}})));
}
#endif

TEST(Config, InvalidFileValuesAreNamed) {
  struct Case {
    std::string json;
    std::string key;
  };
  for (const auto& [json, key] : std::vector<Case>{{R"({"port": "abc"})", "\"port\""},
                                                   {R"({"port": 70000})", "\"port\""},
                                                   {R"({"ctx_size": 1.5})", "\"ctx_size\""},
                                                   {R"({"log_level": "loud"})", "\"log_level\""},
                                                   {R"({"read_timeout": 0})", "\"read_timeout\""},
                                                   {R"({"body_limit": "8XB"})", "\"body_limit\""},
                                                   {R"({"model": [1]})", "\"model\""}}) {
    auto file = write_file("invalid.json", json);
    auto message = config_error({"tandem", "--config", file});
    EXPECT_NE(message.find(key), std::string::npos) << json << " -> " << message;
  }
}

TEST(Config, CorsOriginsFromFlagAndFile) {
  EXPECT_TRUE(parse_config({"tandem"}, kNoEnv).cors_origins.empty());  // off by default
  EXPECT_EQ(parse_config({"tandem", "--cors-origins", "*"}, kNoEnv).cors_origins, std::vector<std::string>{"*"});
  EXPECT_EQ(parse_config({"tandem", "--cors-origins", "https://a.example, http://localhost:5173/"}, kNoEnv).cors_origins,
            (std::vector<std::string>{"https://a.example", "http://localhost:5173"}));
  auto file = write_file("cors.json", R"({"cors_origins": ["https://b.example"]})");
  EXPECT_EQ(parse_config({"tandem", "--config", file}, kNoEnv).cors_origins,
            std::vector<std::string>{"https://b.example"});
  auto message = config_error({"tandem", "--cors-origins", "b.example"});
  EXPECT_NE(message.find("--cors-origins: 'b.example' is not an origin"), std::string::npos) << message;
  auto bad_file = write_file("cors_bad.json", R"({"cors_origins": "ftp://x"})");
  message = config_error({"tandem", "--config", bad_file});
  EXPECT_NE(message.find("\"cors_origins\""), std::string::npos) << message;
}

TEST(Config, UnreadableOrMalformedFile) {
  EXPECT_NE(config_error({"tandem", "--config", "/nonexistent/tandem.json"}).find("cannot read"),
            std::string::npos);
  auto broken = write_file("broken.json", R"({"port": )");
  EXPECT_NE(config_error({"tandem", "--config", broken}).find("not valid JSON"), std::string::npos);
  auto array = write_file("array.json", "[1]");
  EXPECT_NE(config_error({"tandem", "--config", array}).find("JSON object"), std::string::npos);
}

TEST(Config, MoreAliasesThanModelsIsAnError) {
  auto message = config_error({"tandem", "-m", "a.gguf", "--alias", "x", "--alias", "y"});
  EXPECT_NE(message.find("--alias"), std::string::npos) << message;
}

TEST(Config, InvalidFlagValuesAreParseErrors) {
  EXPECT_THROW(parse_config({"tandem", "--port", "70000"}, kNoEnv), CLI::ParseError);
  EXPECT_THROW(parse_config({"tandem", "--body-limit", "lots"}, kNoEnv), CLI::ParseError);
  EXPECT_THROW(parse_config({"tandem", "--log-level", "loud"}, kNoEnv), CLI::ParseError);
  EXPECT_THROW(parse_config({"tandem", "--no-such-flag"}, kNoEnv), CLI::ParseError);
}

TEST(Config, ParseSize) {
  EXPECT_EQ(parse_size("1000"), 1000u);
  EXPECT_EQ(parse_size("8MiB"), 8u * 1024 * 1024);
  EXPECT_EQ(parse_size("2k"), 2048u);
  EXPECT_EQ(parse_size("1G"), 1024u * 1024 * 1024);
  EXPECT_THROW(parse_size("MiB"), std::invalid_argument);
  EXPECT_THROW(parse_size("0"), std::invalid_argument);
  EXPECT_THROW(parse_size("5TB"), std::invalid_argument);
}

}  // namespace
}  // namespace tandem::app
