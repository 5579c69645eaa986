// The byte-level matcher on hand-written cases (Grammar::matches / is_prefix), the schema
// refusals, and the forced tool-call grammars.
#include "engine/constraint.h"

#include <gtest/gtest.h>

#include <string>

namespace tandem::engine {
namespace {

std::shared_ptr<const Grammar> schema(std::string_view text, ConstraintOptions options = {}) {
  return Grammar::json_schema(text, options);
}

// The error message of compiling `text`, "" when it compiles.
std::string refusal(std::string_view text, ConstraintOptions options = {}) {
  try {
    schema(text, options);
  } catch (const SchemaError& e) {
    return e.what();
  }
  return "";
}

TEST(ConstraintGrammar, JsonModeAcceptsObjectsOnly) {
  auto g = Grammar::json_object();
  EXPECT_TRUE(g->matches(R"({})"));
  EXPECT_TRUE(g->matches(R"( {"a": [1, -2.5e3, true, null, {"b": "c\n\u00e9"}], "": {}})"));
  EXPECT_TRUE(g->matches("{\"k\": \"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}"));
  EXPECT_FALSE(g->matches(R"([1])"));
  EXPECT_FALSE(g->matches(R"("text")"));
  EXPECT_FALSE(g->matches(R"({"a": 1,})"));
  EXPECT_FALSE(g->matches(R"({"a": 01})"));
  EXPECT_FALSE(g->matches(R"({"a": 1} )"));          // nothing after the value
  EXPECT_FALSE(g->matches("{\"a\": \"\xC0\xAF\"}"));  // overlong UTF-8
  EXPECT_FALSE(g->matches("{\"a\": \"\xED\xA0\x80\"}"));  // a surrogate in UTF-8
  EXPECT_FALSE(g->matches(R"({"a": "\ud800"})"));     // a lone surrogate escape
  EXPECT_FALSE(g->matches("{\"a\": \"tab\there\"}")); // raw control character
  EXPECT_TRUE(g->is_prefix(R"({"a": [1, {"b")"));
  EXPECT_TRUE(g->is_prefix("{\"a\": \"\xE2\x82"));    // half a character
  EXPECT_FALSE(g->matches("{\"a\": \"\xE2\x82"));
}

TEST(ConstraintGrammar, WhitespaceRunsAreBounded) {
  ConstraintOptions options;
  options.max_whitespace = 3;
  auto g = Grammar::json_object(options);
  EXPECT_TRUE(g->matches("{\n  \"a\" :  1\n}"));
  EXPECT_FALSE(g->matches("{    \"a\": 1}"));
}

TEST(ConstraintGrammar, ObjectPropertiesRequiredAndAdditional) {
  auto g = schema(R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},
                      "required":["name"],"additionalProperties":false})");
  EXPECT_TRUE(g->matches(R"({"name":"x"})"));
  EXPECT_TRUE(g->matches(R"({"age": 3, "name": "x"})"));
  EXPECT_FALSE(g->matches(R"({"age": 3})"));                   // required missing
  EXPECT_FALSE(g->matches(R"({"name":"x","name":"y"})"));      // duplicate
  EXPECT_FALSE(g->matches(R"({"name":"x","other":1})"));       // additional refused
  EXPECT_FALSE(g->matches(R"({"name":"x","age":3.5})"));       // integer
  EXPECT_TRUE(g->is_prefix(R"({"nam)"));
  EXPECT_FALSE(g->is_prefix(R"({"nam")"));                    // no property "nam"
  EXPECT_FALSE(g->is_prefix(R"({"nab)"));

  auto open = schema(R"({"type":"object","properties":{"a":{"type":"integer"}},
                         "additionalProperties":{"type":"string"}})");
  EXPECT_TRUE(open->matches(R"({"a":1,"ab":"x","b":"y"})"));
  EXPECT_FALSE(open->matches(R"({"b":1})"));                   // additional must be a string
  EXPECT_FALSE(open->matches(R"({"a":1,"a":2})"));
  EXPECT_FALSE(open->matches(R"({"\u0061":"x"})"));            // additional keys take no escapes
}

TEST(ConstraintGrammar, StrictModeClosesObjectsWithoutAdditionalProperties) {
  const char* text = R"({"type":"object","properties":{"a":{"type":"integer"}}})";
  EXPECT_TRUE(schema(text)->matches(R"({"a":1,"z":[true]})"));
  ConstraintOptions strict;
  strict.strict = true;
  EXPECT_FALSE(schema(text, strict)->matches(R"({"a":1,"z":[true]})"));
  EXPECT_TRUE(schema(text, strict)->matches(R"({"a":1})"));
}

TEST(ConstraintGrammar, KeysWithEscapesMatchTheirJsonSpelling) {
  auto g = schema(R"({"type":"object","properties":{"quo\"te":{"type":"null"},"a\\b":{"type":"null"}},
                      "additionalProperties":false})");
  EXPECT_TRUE(g->matches(R"({"quo\"te":null,"a\\b":null})"));
  EXPECT_FALSE(g->matches(R"({"quo":null})"));
}

TEST(ConstraintGrammar, ArraysRespectItemBounds) {
  auto g = schema(R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2})");
  EXPECT_FALSE(g->matches("[]"));
  EXPECT_TRUE(g->matches("[1]"));
  EXPECT_TRUE(g->matches("[1, 2]"));
  EXPECT_FALSE(g->matches("[1,2,3]"));
  EXPECT_FALSE(g->matches("[1,]"));
}

TEST(ConstraintGrammar, StringsLengthsAndFormats) {
  auto bounded = schema(R"({"type":"string","minLength":2,"maxLength":3})");
  EXPECT_FALSE(bounded->matches(R"("a")"));
  EXPECT_TRUE(bounded->matches("\"\xC3\xA9\\n\""));  // two code points
  EXPECT_FALSE(bounded->matches(R"("abcd")"));
  auto date = schema(R"({"type":"string","format":"date"})");
  EXPECT_TRUE(date->matches(R"("2024-02-28")"));
  EXPECT_TRUE(date->matches(R"("1999-12-31")"));
  EXPECT_FALSE(date->matches(R"("2024-02-30")"));
  EXPECT_FALSE(date->matches(R"("2024-04-31")"));
  EXPECT_FALSE(date->matches(R"("2024-13-01")"));
  EXPECT_FALSE(date->matches(R"("2024-00-10")"));
  EXPECT_FALSE(date->matches(R"("2024-1-10")"));
  auto uuid = schema(R"({"type":"string","format":"uuid"})");
  EXPECT_TRUE(uuid->matches(R"("123e4567-e89b-12d3-a456-426614174000")"));
  EXPECT_FALSE(uuid->matches(R"("123e4567e89b-12d3-a456-426614174000")"));
}

TEST(ConstraintGrammar, NumbersIntegersEnumsAndConst) {
  auto number = schema(R"({"type":"number"})");
  for (const char* ok : {"0", "-0", "12", "-1.5", "3e10", "2.5E-3"}) EXPECT_TRUE(number->matches(ok)) << ok;
  for (const char* bad : {"01", "1.", ".5", "-", "1e", "+1", "NaN"}) EXPECT_FALSE(number->matches(bad)) << bad;
  auto integer = schema(R"({"type":"integer"})");
  EXPECT_TRUE(integer->matches("-42"));
  EXPECT_FALSE(integer->matches("4.0"));
  auto e = schema(R"({"enum":["red", 1, 12, null, {"k":[1]}]})");
  for (const char* ok : {R"("red")", "1", "12", "null", R"({"k":[1]})"}) EXPECT_TRUE(e->matches(ok)) << ok;
  EXPECT_FALSE(e->matches("2"));
  EXPECT_FALSE(e->matches(R"("blue")"));
  auto c = schema(R"({"const":"x"})");
  EXPECT_TRUE(c->matches(R"("x")"));
  EXPECT_FALSE(c->matches(R"("y")"));
}

TEST(ConstraintGrammar, AnyOfOneOfTypeUnionsAndRefs) {
  auto g = schema(R"({"anyOf":[{"type":"integer"},{"type":"object","properties":{"a":{"type":"string"}},
                      "additionalProperties":false}]})");
  EXPECT_TRUE(g->matches("5"));
  EXPECT_TRUE(g->matches(R"({"a":"x"})"));
  EXPECT_FALSE(g->matches(R"("s")"));
  auto u = schema(R"({"type":["string","null"]})");
  EXPECT_TRUE(u->matches("null"));
  EXPECT_TRUE(u->matches(R"("s")"));
  EXPECT_FALSE(u->matches("1"));
  auto tree = schema(R"({"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{
                         "v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},
                         "required":["v"],"additionalProperties":false}}})");
  EXPECT_TRUE(tree->matches(R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4}]}]})"));
  EXPECT_FALSE(tree->matches(R"({"v":1,"kids":[{"w":2}]})"));
}

TEST(ConstraintGrammar, RefusesUnsupportedKeywordsNamingThem) {
  EXPECT_EQ(refusal(R"({"type":"string","pattern":"^a"})"), R"((schema root): unsupported keyword "pattern")");
  EXPECT_EQ(refusal(R"({"type":"object","properties":{"n":{"type":"integer","minimum":0}}})"),
            R"(/properties/n: unsupported keyword "minimum")");
  EXPECT_EQ(refusal(R"({"allOf":[{"type":"string"}]})"), R"((schema root): unsupported keyword "allOf")");
  EXPECT_EQ(refusal(R"({"type":"array","prefixItems":[]})"), R"((schema root): unsupported keyword "prefixItems")");
  EXPECT_EQ(refusal(R"({"type":"string","format":"email"})"),
            R"(/format: unsupported format "email" (supported: date, uuid))");
  EXPECT_EQ(refusal(R"({"type":"array","items":[{"type":"string"}]})"),
            R"(/items: tuple "items" (an array of schemas) is not supported)");
}

TEST(ConstraintGrammar, RefusesInvalidSchemas) {
  EXPECT_EQ(refusal("{"), "(schema root): not valid JSON: incomplete JSON");
  EXPECT_EQ(refusal(R"({"type":"strin"})"), R"(/type: unknown type "strin")");
  EXPECT_EQ(refusal(R"({"type":"array","minItems":3,"maxItems":1})"), "/minItems: is greater than maxItems");
  EXPECT_EQ(refusal(R"({"type":"object","required":"a"})"), "/required: must be an array of property names");
  EXPECT_EQ(refusal(R"({"enum":[]})"), "/enum: must be a non-empty array");
  EXPECT_EQ(refusal(R"({"anyOf":[]})"), "/anyOf: must be a non-empty array of schemas");
  EXPECT_EQ(refusal(R"({"$ref":"#/$defs/missing"})"), R"(/$ref: "#/$defs/missing" points to nothing in the schema)");
  EXPECT_EQ(refusal(R"({"$ref":"https://example.com/s.json"})"),
            R"(/$ref: only references inside the schema ("#...") are supported, not "https://example.com/s.json")");
  EXPECT_EQ(refusal(R"({"$ref":"#"})"), R"((schema root): a "$ref" cycle that never reaches a value)");
  EXPECT_EQ(refusal(R"({"type":"object","properties":{"a":false}})"), "/properties/a: schema false admits no value");
  EXPECT_EQ(refusal(R"({"type":"integer","enum":["x"]})"), R"(/enum: value "x" does not have the schema's type)");
  EXPECT_EQ(refusal(R"({"type":"object","required":["a"],"additionalProperties":false})"),
            R"(/required: requires "a", which is not in "properties" and additional properties are not allowed)");
  EXPECT_EQ(refusal(R"({"type":"integer","maxLength":3})"), "/maxLength: does not apply to type integer");
  EXPECT_EQ(refusal("[1]"), "(schema root): a schema must be an object or a boolean");
}

TEST(ConstraintGrammar, RefusesSchemasOverTheLimits) {
  ConstraintOptions small;
  small.max_schema_bytes = 64;
  const std::string big = R"({"type":"object","properties":{"a_long_property_name":{"type":"string"}}})";
  EXPECT_EQ(refusal(big, small), "(schema root): the schema is too large: 73 bytes, the limit is 64");
  ConstraintOptions few;
  few.max_nodes = 4;
  EXPECT_EQ(refusal(R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"},
                        "c":{"type":"string"},"d":{"type":"string"}}})", few),
            "/properties/d: the schema is too large: more than 4 grammar nodes");
  std::string deep = R"({"type":"string"})";
  for (int i = 0; i < 70; ++i) deep = R"({"type":"array","items":)" + deep + "}";
  EXPECT_NE(refusal(deep).find("nests deeper than 64 levels"), std::string::npos);
}

TEST(ConstraintGrammar, RequiredKeysMissingFromPropertiesUseTheAdditionalSchema) {
  auto g = schema(R"({"type":"object","required":["a"],"additionalProperties":{"type":"integer"}})");
  EXPECT_TRUE(g->matches(R"({"a":1})"));
  EXPECT_FALSE(g->matches(R"({"a":"x"})"));
  EXPECT_FALSE(g->matches(R"({})"));
}

TEST(ConstraintToolCall, HermesSyntaxWithArgumentsMatchingTheSchema) {
  std::vector<Grammar::Tool> tools = {
      {"get_weather", R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"],
                          "additionalProperties":false})"},
      {"now", ""}};
  auto g = Grammar::tool_call(Grammar::ToolSyntax::hermes, tools);
  EXPECT_TRUE(g->matches("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"));
  EXPECT_TRUE(g->matches("<tool_call>\n{\"arguments\": {}, \"name\": \"now\"}\n</tool_call>"));
  EXPECT_FALSE(g->matches("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(g->matches("<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(g->matches("<tool_call>\n{\"name\": \"now\"}\n</tool_call>"));
  EXPECT_FALSE(g->matches("Sure! <tool_call>"));
}

TEST(ConstraintToolCall, Llama3SyntaxIsABareObjectWithParameters) {
  std::vector<Grammar::Tool> tools = {{"f", R"({"type":"object","properties":{"n":{"type":"integer"}}})"}};
  auto g = Grammar::tool_call(Grammar::ToolSyntax::llama3, tools);
  EXPECT_TRUE(g->matches(R"({"name": "f", "parameters": {"n": 3}})"));
  EXPECT_FALSE(g->matches(R"({"name": "f", "arguments": {"n": 3}})"));
}

TEST(ConstraintToolCall, RefusalsNameTheTool) {
  std::vector<Grammar::Tool> tools = {{"ok", ""}, {"bad", R"({"type":"object","not":{}})"}};
  try {
    Grammar::tool_call(Grammar::ToolSyntax::hermes, tools);
    FAIL() << "compiled";
  } catch (const SchemaError& e) {
    EXPECT_EQ(std::string(e.what()), R"(/tools/1/parameters: unsupported keyword "not")");
  }
  EXPECT_THROW(Grammar::tool_call(Grammar::ToolSyntax::hermes, std::span<const Grammar::Tool>()), SchemaError);
}

TEST(ConstraintGrammar, RequiredNonAsciiKeyNextToAdditionalProperties) {
  auto g = Grammar::json_schema(R"({"type":"object","properties":{"ñame":{"type":["string","null"]}},
                                    "required":["ñame"],"additionalProperties":{"type":"integer"}})");
  EXPECT_TRUE(g->matches(R"({"ñame": null})"));
  EXPECT_TRUE(g->matches(R"({"x": 1, "ñame": "v", "ña": 2})"));
  EXPECT_FALSE(g->matches(R"({"x": 1})"));
  EXPECT_FALSE(g->matches(R"({"ñame": 1})"));
}

}  // namespace
}  // namespace tandem::engine
