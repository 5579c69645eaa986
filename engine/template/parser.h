// Parser: tokens -> syntax tree. Unknown filters and tests are rejected here (as Jinja2 does at
// compile time), so a template that parses never fails later on a misspelled name.
#pragma once

#include "engine/template/ast.h"
#include "engine/template/lexer.h"

#include <vector>

namespace tandem::engine::jinja {

// Throws TemplateError ("chat template syntax error at line L, column C: ...").
Template parse(const std::vector<Token>& tokens);

}  // namespace tandem::engine::jinja
