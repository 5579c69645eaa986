// Bad templates fail with a TemplateError that says what and where; templates' own
// raise_exception messages come through unchanged; runaway templates are stopped.
#include "engine/chat_template.h"
#include "tests/engine/template/render_helper.h"

#include <gtest/gtest.h>

namespace tandem::engine {
namespace {

std::string error_of(const std::string& source, const std::string& variables = "{}") {
  try {
    test::render_template(source, variables);
  } catch (const TemplateError& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(TemplateSyntaxErrors, NameLineAndColumn) {
  EXPECT_EQ(error_of("line one\n{% if x %}\n{{ 1 + }}\n{% endif %}"),
            "chat template syntax error at line 3, column 8: unexpected '}}' in expression");
  EXPECT_EQ(error_of("{{ 'a' 'b' ) }}"), "chat template syntax error at line 1, column 12: unexpected ')'");
}

TEST(TemplateSyntaxErrors, UnknownFilterAndTestAreNamed) {
  EXPECT_EQ(error_of("\n  {{ x | frobnicate }}"),
            "chat template syntax error at line 2, column 10: no filter named 'frobnicate'");
  EXPECT_EQ(error_of("{% if x is frob %}{% endif %}"),
            "chat template syntax error at line 1, column 12: no test named 'frob'");
}

TEST(TemplateSyntaxErrors, UnclosedBlocksNameTheMissingEndTag) {
  EXPECT_EQ(error_of("ok\n{% for x in y %}\nbody"),
            "chat template syntax error at line 2, column 4: unexpected end of template: 'for' opened "
            "here was never closed (expected 'endfor')");
  EXPECT_EQ(error_of("{% if a %}{% elif b %}"),
            "chat template syntax error at line 1, column 4: unexpected end of template: 'if' opened "
            "here was never closed (expected 'endif')");
  EXPECT_EQ(error_of("{% macro m() %}x"),
            "chat template syntax error at line 1, column 4: unexpected end of template: 'macro' opened "
            "here was never closed (expected 'endmacro')");
}

TEST(TemplateSyntaxErrors, UnterminatedTagsStringsCommentsAndRaw) {
  EXPECT_EQ(error_of("abc {{ x "),
            "chat template syntax error at line 1, column 5: unexpected end of template: tag opened "
            "here is not closed with '}}'");
  EXPECT_EQ(error_of("{{ 'abc }}"), "chat template syntax error at line 1, column 4: unterminated string literal");
  EXPECT_EQ(error_of("a {# never closed"), "chat template syntax error at line 1, column 3: unterminated comment");
  EXPECT_EQ(error_of("{% raw %}abc"),
            "chat template syntax error at line 1, column 1: unterminated raw block (missing {% endraw %})");
}

TEST(TemplateSyntaxErrors, MisplacedAndUnknownStatements) {
  EXPECT_EQ(error_of("{% endfor %}"),
            "chat template syntax error at line 1, column 4: unexpected 'endfor' (no open block it could close)");
  EXPECT_EQ(error_of("{% include 'other.jinja' %}"),
            "chat template syntax error at line 1, column 4: unknown statement 'include'");
  EXPECT_EQ(error_of("{% break %}"), "chat template syntax error at line 1, column 4: 'break' outside of a for loop");
  EXPECT_EQ(error_of("{{ x ! y }}"), "chat template syntax error at line 1, column 6: unexpected character '!'");
  EXPECT_EQ(error_of("{% if x %}{% endfor %}"),
            "chat template syntax error at line 1, column 14: unexpected 'endfor' (no open block it could close)");
}

TEST(TemplateSyntaxErrors, ThrownByTheConstructor) {
  EXPECT_THROW(ChatTemplate("{% for %}"), TemplateError);
  EXPECT_NO_THROW(ChatTemplate(ChatTemplate::chatml_source()));
}

TEST(TemplateRuntimeErrors, NameTheExpressionPosition) {
  EXPECT_EQ(error_of("a\n\n   {{ message.content.strip() }}"),
            "chat template error at line 3, column 14: 'message' is undefined");
  EXPECT_EQ(error_of("{{ m.content.x.y }}", R"({"m": {}})"),
            "chat template error at line 1, column 13: 'dict object' has no attribute 'content'");
  EXPECT_EQ(error_of("{% for a, b in [[1]] %}{% endfor %}"),
            "chat template error at line 1, column 4: cannot unpack 1 values into 2 variables");
  EXPECT_EQ(error_of("{% for a, b in [1] %}{% endfor %}"),
            "chat template error at line 1, column 4: 'int' object is not iterable");
  EXPECT_EQ(error_of("{{ 'x'.split('') }}"), "chat template error at line 1, column 13: empty separator");
}

TEST(TemplateRuntimeErrors, RaiseExceptionCarriesExactlyTheTemplatesMessage) {
  EXPECT_EQ(error_of("{% if true %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"),
            "Only user and assistant roles are supported!");
  EXPECT_EQ(error_of("{% for m in messages %}{{ raise_exception('bad role ' + m.role) }}{% endfor %}",
                     R"({"messages": [{"role": "narrator"}]})"),
            "bad role narrator");
}

TEST(TemplateRuntimeErrors, RunawayTemplatesStopCleanly) {
  EXPECT_NE(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").find("nested too deeply"), std::string::npos);
  EXPECT_NE(error_of("{% for i in range(1000000) %}{% endfor %}").find("Range too big"), std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000000 }}").find("too large"), std::string::npos);
}

// Number literals beyond a double's range read as Python reads them (inf), never an uncaught
// std::out_of_range (found by fuzz_jinja).
TEST(TemplateNumbers, HugeLiteralsAndDigitKeysDoNotThrow) {
  EXPECT_EQ(test::render_template("{{ 1e999 > 1e308 }}|{{ -1e999 < 0 }}|{{ 1e-999 == 0 }}"), "True|True|True");
  EXPECT_THROW(test::render_template("{{ '{99999999999999999999}'.format(1) }}"), TemplateError);
}

// Found by fuzz_jinja: values that share substructure (each level holding the previous one twice)
// made `==` walk 2^depth paths, outside the render budget. Equal and unequal chains, built apart.
TEST(TemplateEquality, SharedSubstructureComparesInLinearTime) {
  const std::string chains =
      "{% set ns = namespace(a='x', b='x', c='y') %}{% for i in range(64) %}"
      "{% set ns.a = (ns.a, ns.a) %}{% set ns.b = (ns.b, ns.b) %}{% set ns.c = (ns.c, ns.c) %}{% endfor %}";
  EXPECT_EQ(test::render_template(chains + "{{ ns.a == ns.a }}|{{ ns.a == ns.b }}|{{ ns.a != ns.c }}"), "True|True|True");
}

}  // namespace
}  // namespace tandem::engine
