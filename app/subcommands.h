// Registry of `tandem <subcommand>` tools (tokenize, chat-template, generate, score, synth-model).
// Each cmd_*.cpp in app/ registers itself with TANDEM_SUBCOMMAND so main.cpp needs no edits when
// a tool is added; the files are compiled straight into the executable, so the registrars run.
#pragma once

#include <CLI/CLI.hpp>

#include <vector>

namespace tandem::app {

// Adds one subcommand (with its options and callback) to the top-level CLI.
// A callback that fails reports to stderr and throws CLI::RuntimeError(exit_code).
using SubcommandSetup = void (*)(CLI::App& parent);

inline std::vector<SubcommandSetup>& subcommand_setups() {
  static std::vector<SubcommandSetup> setups;
  return setups;
}

struct SubcommandRegistrar {
  explicit SubcommandRegistrar(SubcommandSetup setup) { subcommand_setups().push_back(setup); }
};

}  // namespace tandem::app

#define TANDEM_SUBCOMMAND(setup_function) \
  static const ::tandem::app::SubcommandRegistrar tandem_registrar_##setup_function{setup_function};
