// Responses objects read back (schemas/responses.h): what a passed-through upstream answer leaves
// in the store — every kind of output item, the status, usage — and the final response found
// among SSE frames; a round trip through our own writer reads back the same result; the
// translation refusals for an Anthropic upstream (schemas/translate.h).
#include "schemas/openai.h"
#include "schemas/refusals.h"
#include "schemas/responses.h"
#include "schemas/translate.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace tandem::schemas {
namespace {

namespace json = boost::json;

TEST(ResponsesRead, EveryOutputItemStatusAndUsage) {
  auto response = json::parse(R"({"id":"resp_1","object":"response","created_at":1790000000,"status":"completed",
    "model":"m","output":[
      {"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"thought"}]},
      {"id":"msg_1","type":"message","role":"assistant","content":[{"type":"output_text","text":"Hi "},{"type":"output_text","text":"there"}]},
      {"id":"fc_1","type":"function_call","call_id":"call_9","name":"get","arguments":"{\"a\":1}"}],
    "usage":{"input_tokens":9,"output_tokens":3}})").as_object();
  auto result = responses_result_from_json(response);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->id, "resp_1");
  EXPECT_EQ(result->created, 1790000000);
  EXPECT_EQ(result->text(), "Hi there");
  EXPECT_EQ(result->finish_reason, FinishReason::tool_calls);
  ASSERT_EQ(result->content.size(), 3u);
  EXPECT_EQ(std::get<ThinkingPart>(result->content[0]).thinking, "thought");
  EXPECT_EQ(std::get<ToolCallPart>(result->content[2]).id, "call_9");
  EXPECT_EQ(std::get<ToolCallPart>(result->content[2]).arguments, "{\"a\":1}");
  EXPECT_EQ(result->usage.input_tokens, 9);
  EXPECT_EQ(result->usage.output_tokens, 3);

  response["status"] = "incomplete";
  response["output"].as_array().pop_back();
  EXPECT_EQ(responses_result_from_json(response)->finish_reason, FinishReason::length);
  EXPECT_FALSE(responses_result_from_json(json::parse(R"({"id":"x","object":"chat.completion"})").as_object()));
}

TEST(ResponsesRead, OurOwnResponseReadsBackTheSameResult) {
  InternalRequest request;
  request.endpoint = Endpoint::responses;
  TextResult result;
  result.id = "resp_own";
  result.model = "m";
  result.created = 5;
  result.content = {ThinkingPart{"why", "", false, ""}, TextPart{"answer"}, ToolCallPart{"call_1", "f", "{}"}};
  result.finish_reason = FinishReason::tool_calls;
  result.usage.input_tokens = 4;
  result.usage.output_tokens = 6;
  auto back = responses_result_from_json(responses_response(request, result));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->id, "resp_own");
  EXPECT_EQ(back->text(), "answer");
  EXPECT_EQ(back->finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(back->usage.output_tokens, 6);
}

TEST(ResponsesRead, FinalResponseAmongFrames) {
  std::string frames =
      "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"status\":\"in_progress\"}}\n\n"
      "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"response.completed\"}\n\n";
  EXPECT_FALSE(responses_final_response(frames)) << "a delta that only mentions the name is not the event";
  frames += "event: response.completed\r\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\"}}\r\n\r\n";
  auto found = responses_final_response(frames);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->at("status").as_string(), "completed");
}

TEST(UntranslatableFields, AnthropicUpstreamRefusesWhatItCannotCarry) {
  auto responses = responses_request_from_json(json::parse(R"({"model":"c","input":"hi","top_logprobs":2})"));
  ASSERT_TRUE(responses);
  EXPECT_EQ(refuse_untranslatable(*responses, Protocol::anthropic)->param, "top_logprobs");
  EXPECT_FALSE(refuse_untranslatable(*responses, Protocol::openai)) << "same protocol: passed through whole";

  auto include = responses_request_from_json(
      json::parse(R"({"model":"c","input":"hi","include":["message.output_text.logprobs"]})"));
  ASSERT_TRUE(include);
  EXPECT_EQ(refuse_untranslatable(*include, Protocol::anthropic)->param, "include");

  for (const auto& [body, param] : std::vector<std::pair<const char*, const char*>>{
           {R"({"model":"c","messages":[{"role":"user","content":"hi"}],"logprobs":true})", "logprobs"},
           {R"({"model":"c","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":1})", "top_logprobs"},
           {R"({"model":"c","messages":[{"role":"user","content":"hi"}],"logit_bias":{"7":3}})", "logit_bias"},
           {R"({"model":"c","messages":[{"role":"user","content":"hi"}],"n":3})", "n"}}) {
    auto chat = parse_openai_chat_request(body, "application/json");
    ASSERT_TRUE(chat) << body;
    auto refused = refuse_untranslatable(*chat, Protocol::anthropic);
    ASSERT_TRUE(refused) << body;
    EXPECT_EQ(refused->param, param);
    EXPECT_EQ(refused->kind, ErrorKind::invalid_request);
  }
  auto plain = parse_openai_chat_request(R"({"model":"c","messages":[{"role":"user","content":"hi"}]})", "application/json");
  EXPECT_FALSE(refuse_untranslatable(*plain, Protocol::anthropic));
}

}  // namespace
}  // namespace tandem::schemas
