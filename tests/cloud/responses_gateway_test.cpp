// The Responses API on the cloud path, through the real tandem binary in front of the fake
// upstream: an OpenAI-protocol upstream gets POST /v1/responses byte for byte (complete and
// streamed) and its answer comes back byte for byte, kept in tandem's store (GET, DELETE and
// previous_response_id work on it); an Anthropic-protocol upstream gets the request translated to
// Messages and its answer comes back as a Responses object / event stream, stored the same way;
// fields a translation would drop are refused naming them, before anything goes upstream.
#include "tests/common/http_client.h"
#include "tests/common/tandem_process.h"
#include "tests/fakes/fake_answers.h"
#include "tests/fakes/fake_upstream.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <numeric>

namespace tandem::test {
namespace {

namespace json = boost::json;

constexpr const char* kAnthropicKey = "sk-ant-responses-secret";
constexpr const char* kOpenAiKey = "sk-oai-responses-secret";

// An upstream Responses object as OpenAI writes it (odd spacing kept: byte-exactness is checked).
std::string upstream_response(const std::string& id, const std::string& text) {
  return "{\"id\": \"" + id + "\", \"object\": \"response\", \"created_at\": 1790000000, \"status\": \"completed\","
         " \"model\": \"gpt-5-mini\", \"output\": [{\"id\": \"msg_up1\", \"type\": \"message\", \"status\": \"completed\","
         " \"role\": \"assistant\", \"content\": [{\"type\": \"output_text\", \"text\": \"" + text +
         "\", \"annotations\": []}]}], \"usage\": {\"input_tokens\": 9, \"output_tokens\": 3, \"total_tokens\": 12},"
         " \"store\": true, \"brand_new_field\": [1.50]}";
}

class ResponsesGateway : public ::testing::Test {
 protected:
  void SetUp() override {
    tandem_ = std::make_unique<TandemProcess>(
        TandemProcess::server_arguments(),
        std::map<std::string, std::string>{{"ANTHROPIC_API_KEY", kAnthropicKey},
                                           {"ANTHROPIC_BASE_URL", fake_.base_url()},
                                           {"OPENAI_API_KEY", kOpenAiKey},
                                           {"OPENAI_BASE_URL", fake_.base_url() + "/v1"}});
    port_ = tandem_->port();
    ASSERT_NE(port_, 0) << tandem_->output();
  }

  HttpResponse post(const std::string& body) {
    return http_request(port_, "POST", "/v1/responses", body, {{"content-type", "application/json"}});
  }

  fakes::FakeUpstream fake_;
  std::unique_ptr<TandemProcess> tandem_;
  std::uint16_t port_ = 0;
};

TEST_F(ResponsesGateway, OpenAiUpstreamGetsResponsesPassedThroughAndTandemStoresTheAnswer) {
  const std::string answer = upstream_response("resp_up_1", "Hi there");
  fake_.enqueue(fakes::json_response(200, answer));
  const std::string body = R"({"model":"gpt-5-mini",  "input":"hello", "reasoning":{"effort":"low"}, "unknown_x":1e2})";

  auto response = post(body);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body, answer);
  ASSERT_EQ(fake_.requests().size(), 1u);
  EXPECT_EQ(fake_.requests()[0].target, "/v1/responses");
  EXPECT_EQ(fake_.requests()[0].body, body);
  EXPECT_EQ(fake_.requests()[0].header("authorization"), std::string("Bearer ") + kOpenAiKey);

  // Kept in tandem's store under the upstream's id: GET answers it as it was returned.
  auto stored = http_request(port_, "GET", "/v1/responses/resp_up_1");
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(json::parse(stored.body), json::parse(answer));

  // A continuation is accepted (the upstream resolves previous_response_id itself: passed through).
  fake_.enqueue(fakes::json_response(200, upstream_response("resp_up_2", "Again")));
  const std::string next = R"({"model":"gpt-5-mini","input":"and again?","previous_response_id":"resp_up_1"})";
  auto continued = post(next);
  ASSERT_EQ(continued.status, 200) << continued.body;
  EXPECT_EQ(fake_.requests().at(1).body, next);

  // store: false keeps nothing.
  fake_.enqueue(fakes::json_response(200, upstream_response("resp_up_3", "Gone")));
  ASSERT_EQ(post(R"({"model":"gpt-5-mini","input":"x","store":false})").status, 200);
  EXPECT_EQ(http_request(port_, "GET", "/v1/responses/resp_up_3").status, 404);
  EXPECT_EQ(http_request(port_, "DELETE", "/v1/responses/resp_up_1").status, 200);
  EXPECT_EQ(http_request(port_, "GET", "/v1/responses/resp_up_1").status, 404);
}

TEST_F(ResponsesGateway, OpenAiUpstreamStreamIsPassedThroughAndItsCompletedResponseStored) {
  const std::string completed = upstream_response("resp_up_s", "Streamed");
  std::vector<std::string> frames = {
      "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_up_s\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
      "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_up1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Streamed\"}\n\n",
      "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":" + completed + "}\n\n"};
  fake_.enqueue(fakes::sse_response(frames));
  const std::string body = R"({"model":"gpt-5-mini","input":"hello","stream":true})";

  auto response = post(body);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body, std::accumulate(frames.begin(), frames.end(), std::string()));
  EXPECT_EQ(fake_.requests().at(0).target, "/v1/responses");
  EXPECT_EQ(fake_.requests().at(0).body, body);
  auto stored = http_request(port_, "GET", "/v1/responses/resp_up_s");
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(json::parse(stored.body), json::parse(completed));
}

TEST_F(ResponsesGateway, AnthropicUpstreamGetsMessagesAndAnswersAsAResponse) {
  fakes::FakeAnswer answer;
  answer.text = "Bonjour";
  fake_.enqueue(fakes::sse_response(fakes::anthropic_stream_frames(answer)));
  auto response = post(R"({"model":"claude-sonnet-4-5","instructions":"Answer in French.","input":"hello",
                          "max_output_tokens":50,"reasoning":{"effort":"low"}})");
  ASSERT_EQ(response.status, 200) << response.body;
  auto object = json::parse(response.body).as_object();
  EXPECT_EQ(object.at("object").as_string(), "response");
  EXPECT_EQ(object.at("status").as_string(), "completed");
  const auto& output = object.at("output").as_array();
  ASSERT_FALSE(output.empty());
  EXPECT_EQ(output.back().at("content").at(0).at("text").as_string(), "Bonjour");

  ASSERT_EQ(fake_.requests().size(), 1u);
  EXPECT_EQ(fake_.requests()[0].target, "/v1/messages");
  EXPECT_EQ(fake_.requests()[0].header("x-api-key"), kAnthropicKey);
  auto sent = json::parse(fake_.requests()[0].body).as_object();
  EXPECT_EQ(sent.at("model").as_string(), "claude-sonnet-4-5");
  EXPECT_EQ(sent.at("max_tokens").as_int64(), 50);
  EXPECT_NE(json::serialize(sent.at("system")).find("Answer in French."), std::string::npos) << json::serialize(sent);
  EXPECT_EQ(sent.at("messages").at(0).at("role").as_string(), "user");

  const std::string id(object.at("id").as_string());
  auto stored = http_request(port_, "GET", "/v1/responses/" + id);
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(json::parse(stored.body), json::parse(response.body));

  // The continuation's history is expanded by tandem and translated for the upstream.
  fake_.enqueue(fakes::sse_response(fakes::anthropic_stream_frames(answer)));
  auto continued = post(R"({"model":"claude-sonnet-4-5","input":"and again?","previous_response_id":")" + id + "\"}");
  ASSERT_EQ(continued.status, 200) << continued.body;
  auto history = json::parse(fake_.requests().at(1).body).at("messages").as_array();
  ASSERT_EQ(history.size(), 3u) << json::serialize(history);
  EXPECT_EQ(history[1].at("role").as_string(), "assistant");
}

TEST_F(ResponsesGateway, AnthropicUpstreamStreamsTheResponsesEvents) {
  fakes::FakeAnswer answer;
  answer.text = "Streamed reply";
  answer.thinking = "Let me think.";
  fake_.enqueue(fakes::sse_response(fakes::anthropic_stream_frames(answer)));
  auto response = post(R"({"model":"claude-sonnet-4-5","input":"hello","stream":true,"reasoning":{"effort":"high"}})");
  ASSERT_EQ(response.status, 200) << response.body;
  for (const char* event : {"event: response.created", "event: response.reasoning_text.delta",
                            "event: response.output_text.delta", "event: response.completed"}) {
    EXPECT_NE(response.body.find(event), std::string::npos) << event << " in\n" << response.body;
  }
  EXPECT_NE(response.body.find("Let me think."), std::string::npos);
}

TEST_F(ResponsesGateway, FieldsAnAnthropicUpstreamCannotTakeAreRefusedNamingThem) {
  for (const auto& [body, param] : std::vector<std::pair<std::string, std::string>>{
           {R"({"model":"claude-sonnet-4-5","input":"hi","top_logprobs":3})", "top_logprobs"},
           {R"({"model":"claude-sonnet-4-5","input":"hi","include":["message.output_text.logprobs"]})", "include"}}) {
    auto response = post(body);
    EXPECT_EQ(response.status, 400) << body << " -> " << response.body;
    EXPECT_EQ(json::parse(response.body).at("error").at("param").as_string(), param) << response.body;
  }
  for (const auto& [body, param] : std::vector<std::pair<std::string, std::string>>{
           {R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"logprobs":true})", "logprobs"},
           {R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":2})", "top_logprobs"},
           {R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"logit_bias":{"5":1}})", "logit_bias"},
           {R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"n":2})", "n"}}) {
    auto response = http_request(port_, "POST", "/v1/chat/completions", body, {{"content-type", "application/json"}});
    EXPECT_EQ(response.status, 400) << body << " -> " << response.body;
    EXPECT_EQ(json::parse(response.body).at("error").at("param").as_string(), param) << response.body;
  }
  EXPECT_EQ(fake_.request_count(), 0u) << "a refused request must not reach the upstream";
}

}  // namespace
}  // namespace tandem::test
