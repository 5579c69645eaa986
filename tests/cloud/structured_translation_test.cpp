// Structured outputs and the fields one protocol cannot say, on the cloud path: a JSON schema
// crosses to the other protocol's own form (OpenAI response_format json_schema <-> Anthropic
// output_config.format), and what has no form there is refused by name before any upstream call.
#include "tests/cloud/provider_fixture.h"

namespace tandem::cloud::test {
namespace {

const char* kSchema = R"({"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"],"additionalProperties":false})";

TEST_F(ProviderActorTest, OpenAiJsonSchemaReachesAnAnthropicUpstreamAsOutputConfigFormat) {
  FakeAnswer answer;
  answer.text = R"({"ok":true})";
  fake_.enqueue(fakes::sse_response(fakes::anthropic_stream_frames(answer)));
  auto actor = spawn(provider(schemas::Protocol::anthropic));
  std::string body = std::string(R"({"model":"c","messages":[{"role":"user","content":"ok?"}],
    "response_format":{"type":"json_schema","json_schema":{"name":"verdict","strict":true,"schema":)") + kSchema + "}}}";

  Answer reply = generate(actor, request(schemas::Protocol::openai, body, "claude-x"));

  ASSERT_TRUE(reply.reply.accepted) << reply.reply.error.message;
  EXPECT_EQ(fold(reply).text(), R"({"ok":true})");
  auto sent = json::parse(fake_.requests().at(0).body);
  EXPECT_EQ(sent.at("output_config").at("format"),
            json::parse(std::string(R"({"type":"json_schema","schema":)") + kSchema + "}"));
  EXPECT_FALSE(sent.as_object().contains("response_format"));
}

TEST_F(ProviderActorTest, AnthropicOutputFormatReachesAnOpenAiUpstreamAsResponseFormat) {
  fake_.enqueue(fakes::sse_response(fakes::openai_stream_frames(FakeAnswer{}, true)));
  auto actor = spawn(provider(schemas::Protocol::openai));
  std::string body = std::string(R"({"model":"g","max_tokens":50,"messages":[{"role":"user","content":"ok?"}],
    "output_config":{"format":{"type":"json_schema","schema":)") + kSchema + "}}}";

  Answer reply = generate(actor, request(schemas::Protocol::anthropic, body, "gpt-x"));

  ASSERT_TRUE(reply.reply.accepted) << reply.reply.error.message;
  auto sent = json::parse(fake_.requests().at(0).body);
  const auto& format = sent.at("response_format");
  EXPECT_EQ(format.at("type"), "json_schema");
  EXPECT_EQ(format.at("json_schema").at("name"), "output");  // OpenAI requires a name; Anthropic has none
  EXPECT_EQ(format.at("json_schema").at("schema"), json::parse(kSchema));
}

TEST_F(ProviderActorTest, WhatTheOtherProtocolCannotSayIsRefusedByNameWithoutAnUpstreamCall) {
  auto anthropic = spawn(provider(schemas::Protocol::anthropic));
  struct Case {
    const char* fields;
    const char* param;
  };
  for (const Case& c : {Case{R"("response_format":{"type":"json_object"})", "response_format"}, Case{R"("n":3)", "n"},
                        Case{R"("seed":42)", "seed"}, Case{R"("logit_bias":{"50256":-100})", "logit_bias"}}) {
    std::string body = std::string(R"({"model":"c","messages":[{"role":"user","content":"hi"}],)") + c.fields + "}";
    Answer reply = generate(anthropic, request(schemas::Protocol::openai, body, "claude-x"));
    EXPECT_FALSE(reply.reply.accepted) << c.param;
    EXPECT_EQ(reply.reply.error.param, c.param);
    EXPECT_EQ(reply.reply.error.http_status(schemas::Protocol::openai), 400) << c.param;
  }
  Answer system_only = generate(
      anthropic, request(schemas::Protocol::openai, R"({"model":"c","messages":[{"role":"system","content":"rules"}]})", "claude-x"));
  EXPECT_FALSE(system_only.reply.accepted);
  EXPECT_EQ(system_only.reply.error.param, "messages");

  auto openai = spawn(provider(schemas::Protocol::openai));
  Answer top_k = generate(openai, request(schemas::Protocol::anthropic,
                                          R"({"model":"g","max_tokens":5,"top_k":3,"messages":[{"role":"user","content":"hi"}]})", "gpt-x"));
  EXPECT_FALSE(top_k.reply.accepted);
  EXPECT_EQ(top_k.reply.error.param, "top_k");
  EXPECT_EQ(top_k.reply.error.http_status(schemas::Protocol::anthropic), 400);

  EXPECT_TRUE(fake_.requests().empty()) << "a refused request reached the upstream";

  // The same fields pass through untouched to a provider of the caller's own protocol.
  fake_.enqueue(fakes::json_response(200, fakes::openai_chat_json(FakeAnswer{})));
  Answer passed = generate(openai, request(schemas::Protocol::openai,
                                           R"({"model":"g","n":3,"seed":42,"messages":[{"role":"user","content":"hi"}]})", "gpt-x"));
  EXPECT_TRUE(passed.reply.accepted) << passed.reply.error.message;
  ASSERT_EQ(fake_.requests().size(), 1u);
  EXPECT_EQ(json::parse(fake_.requests().at(0).body).at("n"), 3);
}

}  // namespace
}  // namespace tandem::cloud::test
