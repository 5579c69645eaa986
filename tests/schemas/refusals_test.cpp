// A backend that cannot do something refuses it naming the field as the client sent it.
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/refusals.h"
#include "schemas/responses.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace tandem::schemas {
namespace {

namespace json = boost::json;

InternalRequest parse_ok(Result<InternalRequest> result) {
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? std::move(result).value() : InternalRequest{};
}

InternalRequest chat(const char* body) { return parse_ok(openai_chat_request_from_json(json::parse(body))); }
InternalRequest messages(const char* body) { return parse_ok(anthropic_messages_request_from_json(json::parse(body))); }
InternalRequest responses(const char* body) { return parse_ok(responses_request_from_json(json::parse(body))); }

const BackendSupport kTextOnly{};

void expect_refused(const InternalRequest& request, const std::string& param, const std::string& message) {
  auto error = refuse_unsupported(request, kTextOnly);
  ASSERT_TRUE(error.has_value()) << "accepted: " << param;
  EXPECT_EQ(error->param, param);
  EXPECT_EQ(error->message, message);
  EXPECT_EQ(error->http_status(request.protocol), 400);
}

TEST(Refusals, PlainTextRequestsPass) {
  EXPECT_FALSE(refuse_unsupported(chat(R"({"model":"m","messages":[{"role":"user","content":"x"}]})"), kTextOnly));
  // Thinking, effort, context management and cache hints are never refused: a model without
  // reasoning answers in plain text.
  EXPECT_FALSE(refuse_unsupported(messages(R"({"model":"m","max_tokens":5,"messages":[
      {"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"d"}}]}],
      "thinking":{"type":"adaptive"},"output_config":{"effort":"low"},"context_management":{"edits":[]},
      "cache_control":{"type":"ephemeral"}})"), kTextOnly));
}

TEST(Refusals, ImagesAnywhereAreNamedByPath) {
  expect_refused(chat(R"({"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[
      {"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]})"),
                 "messages[1].content[1]", "messages[1].content[1]: images are not supported by this model");
  expect_refused(messages(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},
      {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[
        {"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}]})"),
                 "messages[2].content[0].content[0]",
                 "messages[2].content[0].content[0]: images are not supported by this model");
  expect_refused(responses(R"({"model":"m","input":[{"role":"user","content":[
      {"type":"input_image","image_url":"https://x/y.png"}]}]})"),
                 "input[0].content[0]", "input[0].content[0]: images are not supported by this model");

  BackendSupport vision;
  vision.images = true;
  EXPECT_FALSE(refuse_unsupported(responses(R"({"model":"m","input":[{"role":"user","content":[
      {"type":"input_image","image_url":"https://x/y.png"}]}]})"), vision));
}

TEST(Refusals, NonTextDocumentsAreNamedByPath) {
  expect_refused(messages(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x"},
      {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}]}]})"),
                 "messages[0].content[1]",
                 "messages[0].content[1]: documents other than plain text (PDFs, files, URLs) are not supported by this model");
  expect_refused(responses(R"({"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"file-1"}]}]})"),
                 "input[0].content[0]",
                 "input[0].content[0]: documents other than plain text (PDFs, files, URLs) are not supported by this model");
}

TEST(Refusals, SamplingFieldsAreNamed) {
  expect_refused(chat(R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2})"), "n",
                 "n: only n=1 is supported by this model (got 2)");
  expect_refused(chat(R"({"model":"m","messages":[{"role":"user","content":"x"}],"logit_bias":{"1":5}})"), "logit_bias",
                 "logit_bias: not supported by this model");
  auto legacy = parse_ok(openai_completion_request_from_json(json::parse(R"({"model":"m","prompt":["a","b"]})")));
  expect_refused(legacy, "prompt",
                 "prompt: only one prompt per request is supported by this model (got 2); send one request per prompt");

  BackendSupport sampler;
  sampler.logit_bias = true;
  sampler.multiple_choices = true;
  EXPECT_FALSE(refuse_unsupported(chat(R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2,"logit_bias":{"1":5}})"),
                                  sampler));
}

TEST(Refusals, StructuredOutputIsNamedAsEachProtocolSpellsIt) {
  const std::string what = "structured output (JSON mode / JSON schema) is not supported by this model";
  expect_refused(chat(R"({"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}})"),
                 "response_format", "response_format: " + what);
  expect_refused(responses(R"({"model":"m","input":"x","text":{"format":{"type":"json_object"}}})"), "text.format",
                 "text.format: " + what);
  expect_refused(messages(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
      "output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}}})"),
                 "output_config.format", "output_config.format: " + what);
  EXPECT_FALSE(refuse_unsupported(
      chat(R"({"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"}})"), kTextOnly));
}

// Translation to the other protocol refuses by name what that protocol cannot express.
void expect_untranslatable(const InternalRequest& request, Protocol upstream, const std::string& param) {
  auto error = refuse_untranslatable(request, upstream);
  ASSERT_TRUE(error.has_value()) << "translated although " << param << " has no form there";
  EXPECT_EQ(error->param, param);
  EXPECT_NE(error->message.find(upstream == Protocol::anthropic ? "Anthropic" : "OpenAI"), std::string::npos)
      << error->message;
  EXPECT_EQ(error->http_status(request.protocol), 400);
}

TEST(Untranslatable, OpenAiFieldsWithoutAnAnthropicForm) {
  const std::string user = R"("messages":[{"role":"user","content":"x"}])";
  auto with = [&](const std::string& fields) {
    return chat(("{\"model\":\"m\"," + user + "," + fields + "}").c_str());
  };
  expect_untranslatable(with(R"("n":2)"), Protocol::anthropic, "n");
  expect_untranslatable(with(R"("logit_bias":{"5":10})"), Protocol::anthropic, "logit_bias");
  expect_untranslatable(with(R"("logprobs":true)"), Protocol::anthropic, "logprobs");
  expect_untranslatable(with(R"("seed":3)"), Protocol::anthropic, "seed");
  expect_untranslatable(with(R"("presence_penalty":0.5)"), Protocol::anthropic, "presence_penalty");
  expect_untranslatable(with(R"("frequency_penalty":-1)"), Protocol::anthropic, "frequency_penalty");
  expect_untranslatable(with(R"("response_format":{"type":"json_object"})"), Protocol::anthropic, "response_format");
  expect_untranslatable(chat(R"({"model":"m","messages":[{"role":"system","content":"only rules"}]})"),
                        Protocol::anthropic, "messages");
  // Anthropic's writer drops empty texts (Anthropic refuses empty text blocks) and lifts system
  // and developer turns into `system`: a conversation left without a turn is refused by name, not
  // sent as an empty `messages` (found by fuzz_schemas_requests).
  expect_untranslatable(chat(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":""}]},
                                                        {"role":"system","content":"later rules"}]})"),
                        Protocol::anthropic, "messages");
  expect_untranslatable(chat(R"({"model":"m","messages":[{"role":"developer","content":"rules"},
                                                        {"role":"user","content":""}]})"),
                        Protocol::anthropic, "messages");
  // One turn with content is enough: empty turns beside it are dropped.
  EXPECT_FALSE(refuse_untranslatable(chat(R"({"model":"m","messages":[{"role":"user","content":""},
                                                                     {"role":"assistant","content":"a"}]})"),
                                     Protocol::anthropic));
  // What Anthropic can say passes: a schema, zero penalties, tools, system + user.
  EXPECT_FALSE(refuse_untranslatable(
      with(R"("presence_penalty":0,"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"}}},
              "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}])"),
      Protocol::anthropic));
  // The same protocol passes everything through.
  EXPECT_FALSE(refuse_untranslatable(with(R"("n":2,"seed":1,"logit_bias":{"5":10})"), Protocol::openai));
}

TEST(Untranslatable, AnthropicFieldsWithoutAnOpenAiForm) {
  expect_untranslatable(messages(R"({"model":"m","max_tokens":5,"top_k":5,"messages":[{"role":"user","content":"x"}]})"),
                        Protocol::openai, "top_k");
  // OpenAI cannot carry thinking: a conversation of thinking blocks only would reach it with no
  // messages (found by fuzz_schemas_requests); beside a text turn the thinking is just dropped.
  expect_untranslatable(messages(R"({"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[
                                     {"type":"thinking","thinking":"t","signature":"s"},{"type":"redacted_thinking","data":"d"}]}]})"),
                        Protocol::openai, "messages");
  EXPECT_FALSE(refuse_untranslatable(messages(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},
                                     {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"}]}]})"),
                                     Protocol::openai));
  const std::string long_name(65, 'a');
  expect_untranslatable(messages(("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                                   "\"tools\":[{\"name\":\"ok\",\"input_schema\":{\"type\":\"object\"}},"
                                   "{\"name\":\"" + long_name + "\",\"input_schema\":{\"type\":\"object\"}}]}").c_str()),
                        Protocol::openai, "tools[1].name");
  EXPECT_FALSE(refuse_untranslatable(
      messages(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"temperature":0.5,
                  "tools":[{"name":"get_weather","input_schema":{"type":"object"}}],"thinking":{"type":"adaptive"}})"),
      Protocol::openai));
}

}  // namespace
}  // namespace tandem::schemas
