// `tandem`: with no subcommand, the HTTP server; otherwise one of the tools registered in
// app/cmd_*.cpp (see app/subcommands.h).
#include "app/config.h"
#include "app/server.h"
#include "app/subcommands.h"

#include <iostream>

int main(int argc, char** argv) {
  using namespace tandem::app;
  CLI::App app{"tandem: an OpenAI- and Anthropic-compatible LLM server for GGUF models on CPU.\n"
               "With no subcommand it runs the server; precedence of settings: flags > "
               "environment > --config file > defaults.",
               "tandem"};
  app.require_subcommand(0, 1);
  ServerConfigOptions server_config(app);
  for (auto setup : subcommand_setups()) setup(app);

  auto arguments = normalize_arguments(argc, argv);
  std::vector<const char*> normalized;
  for (const auto& argument : arguments) normalized.push_back(argument.c_str());
  try {
    app.parse(static_cast<int>(normalized.size()), normalized.data());
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a subcommand failed and already said why
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;  // --help is not an error; usage errors exit 2
  }
  if (!app.get_subcommands().empty()) return 0;  // the subcommand ran during parse()

  AppConfig config;
  try {
    config = server_config.resolve(process_env);
  } catch (const ConfigError& e) {
    std::cerr << "tandem: " << e.what() << "\n";
    return e.exit_code;
  }
  configure_logging(config.log_level, config.log_format);
  return run_server(config);
}
