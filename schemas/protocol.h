// The wire protocol a request arrived in (and that its answer must use). One enum for the whole
// project: http/ picks it per request, schemas/ parses and writes it, backends answer in it, the
// load generator speaks it. Header-only so layers that do not link tandem_schemas can name it.
#pragma once

#include <optional>
#include <string_view>

namespace tandem::schemas {

enum class Protocol { openai, anthropic };

constexpr std::string_view protocol_name(Protocol protocol) {
  return protocol == Protocol::openai ? "openai" : "anthropic";
}

// "openai" / "anthropic" (as in config files and flags); nullopt for anything else.
constexpr std::optional<Protocol> parse_protocol(std::string_view name) {
  if (name == "openai") return Protocol::openai;
  if (name == "anthropic") return Protocol::anthropic;
  return std::nullopt;
}

}  // namespace tandem::schemas
