// Shared by the template tests: render a template source against JSON variables with the clock
// pinned to the date of the shared reference renderings.
#pragma once

#include "engine/chat_template.h"

#include <boost/json/parse.hpp>

#include <chrono>
#include <string>

namespace tandem::test {

// 2026-11-21 12:00 UTC: the date strftime_now() returned when the reference files were made.
inline std::chrono::system_clock::time_point reference_now() {
  using namespace std::chrono;
  return sys_days{year{2026} / November / 21} + hours{12};
}

// Renders `source` with `variables` (a JSON object) as extra context; messages default to [].
inline std::string render_template(const std::string& source, const std::string& variables = "{}",
                                   bool add_generation_prompt = false) {
  engine::ChatTemplate chat_template(source);
  engine::ChatTemplateInput input;
  input.messages = boost::json::array();
  input.add_generation_prompt = add_generation_prompt;
  input.extra_context = boost::json::parse(variables).as_object();
  if (auto* messages = input.extra_context.if_contains("messages")) input.messages = *messages;
  input.now = reference_now();
  return chat_template.render(input);
}

}  // namespace tandem::test
