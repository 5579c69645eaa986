// The OpenAI Responses API on a local model, end to end: the real tandem binary serving
// stories260K. A response complete and streamed (the same text at temperature 0), stored and
// read back, continued with previous_response_id, deleted; unknown ids are OpenAI-shaped 404s.
#include "tests/api/api_test_util.h"

namespace tandem::test {
namespace {

class Responses : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto model = stories_path();
    ASSERT_FALSE(model.empty());
    server_ = new TandemProcess(TandemProcess::server_arguments({"--model", model}));
    port_ = server_->port();
    ASSERT_NE(port_, 0) << server_->output();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(port_, 0) << "the shared server did not start"; }

  static json::object request(const std::string& input) {
    json::object body;
    body["model"] = "stories260K";
    body["input"] = input;
    body["max_output_tokens"] = 12;
    body["temperature"] = 0;
    return body;
  }
  // The output_text of a response object.
  static std::string output_text(const json::value& response) {
    std::string text;
    for (const auto& item : response.at("output").as_array()) {
      if (item.at("type") != "message") continue;
      for (const auto& part : item.at("content").as_array()) {
        if (part.at("type") == "output_text") text += part.at("text").as_string();
      }
    }
    return text;
  }

  static TandemProcess* server_;
  static std::uint16_t port_;
};

TandemProcess* Responses::server_ = nullptr;
std::uint16_t Responses::port_ = 0;

TEST_F(Responses, CompleteResponseIsStoredReadBackAndDeleted) {
  auto created = post_json(port_, "/v1/responses", request("Once upon a time"));
  ASSERT_EQ(created.status, 200) << created.body;
  auto response = parse(created.body);
  EXPECT_EQ(response.at("object"), "response");
  const std::string id(response.at("id").as_string());
  EXPECT_EQ(id.rfind("resp_", 0), 0u) << id;
  EXPECT_EQ(response.at("status"), "incomplete") << created.body;  // 12 tokens cut it short
  EXPECT_FALSE(output_text(response).empty()) << created.body;
  EXPECT_EQ(response.at("usage").at("output_tokens"), 12);

  auto read = http_request(port_, "GET", "/v1/responses/" + id);
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(parse(read.body), response);

  auto deleted = http_request(port_, "DELETE", "/v1/responses/" + id);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(parse(deleted.body).at("deleted"), true);
  auto gone = http_request(port_, "GET", "/v1/responses/" + id);
  EXPECT_EQ(gone.status, 404) << gone.body;
  EXPECT_EQ(parse(gone.body).at("error").at("type"), "invalid_request_error") << gone.body;
  EXPECT_EQ(http_request(port_, "DELETE", "/v1/responses/" + id).status, 404);
}

TEST_F(Responses, StoreFalseKeepsNothing) {
  auto body = request("Once upon a time");
  body["store"] = false;
  auto created = post_json(port_, "/v1/responses", body);
  ASSERT_EQ(created.status, 200) << created.body;
  const std::string id(parse(created.body).at("id").as_string());
  EXPECT_EQ(http_request(port_, "GET", "/v1/responses/" + id).status, 404);
}

TEST_F(Responses, ContinuationCarriesTheStoredConversation) {
  auto first = post_json(port_, "/v1/responses", request("Once upon a time"));
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string id(parse(first.body).at("id").as_string());

  auto follow = request("What happened next?");
  follow["previous_response_id"] = id;
  auto continued = post_json(port_, "/v1/responses", follow);
  ASSERT_EQ(continued.status, 200) << continued.body;
  auto alone = post_json(port_, "/v1/responses", request("What happened next?"));
  ASSERT_EQ(alone.status, 200) << alone.body;
  // The history is in the prompt: more input tokens than the question alone.
  EXPECT_GT(parse(continued.body).at("usage").at("input_tokens").as_int64(),
            parse(alone.body).at("usage").at("input_tokens").as_int64());
  EXPECT_EQ(parse(continued.body).at("previous_response_id"), json::value(id));

  auto unknown = request("Hi");
  unknown["previous_response_id"] = "resp_doesnotexist";
  auto missing = post_json(port_, "/v1/responses", unknown);
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(parse(missing.body).at("error").at("param"), "previous_response_id") << missing.body;
}

TEST_F(Responses, StreamedEventsSpellTheCompleteTextAndStore) {
  auto complete = post_json(port_, "/v1/responses", request("The little dog"));
  ASSERT_EQ(complete.status, 200) << complete.body;
  const std::string expected = output_text(parse(complete.body));

  auto body = request("The little dog");
  body["stream"] = true;
  SseClient client(port_, "/v1/responses", json::serialize(body));
  ASSERT_EQ(client.status(), 200) << client.read_body();
  std::vector<std::string> types;
  std::string text;
  json::value final_response;
  while (auto event = client.next_event()) {
    auto data = parse(event->data);
    types.push_back(std::string(data.at("type").as_string()));
    if (types.back() == "response.output_text.delta") text += data.at("delta").as_string();
    if (types.back() == "response.incomplete" || types.back() == "response.completed") {
      final_response = data.at("response");
    }
  }
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.front(), "response.created");
  EXPECT_EQ(types.back(), "response.incomplete");
  EXPECT_EQ(text, expected);
  ASSERT_TRUE(final_response.is_object());
  const std::string id(final_response.at("id").as_string());
  auto read = http_request(port_, "GET", "/v1/responses/" + id);
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(output_text(parse(read.body)), expected);
}

TEST_F(Responses, TextFormatJsonSchemaIsHonouredAndBadSchemasNameTheirPath) {
  auto body = request("Once upon a time");
  body["max_output_tokens"] = 300;
  body["text"] = json::object{{"format", json::object{{"type", "json_schema"}, {"name", "pet"}, {"strict", true},
                                                      {"schema", json::parse(R"({"type":"object",
    "properties":{"animal":{"enum":["cat","dog"]}},"required":["animal"],"additionalProperties":false})")}}}};
  auto created = post_json(port_, "/v1/responses", body);
  ASSERT_EQ(created.status, 200) << created.body;
  auto response = parse(created.body);
  EXPECT_EQ(response.at("status"), "completed") << created.body;
  auto value = parse(output_text(response));
  ASSERT_TRUE(value.is_object()) << created.body;
  EXPECT_EQ(value.as_object().size(), 1u);
  const std::string animal(value.at("animal").as_string());
  EXPECT_TRUE(animal == "cat" || animal == "dog") << animal;

  body["text"].as_object()["format"].as_object()["schema"] = json::parse(R"({"type":"string","pattern":"x"})");
  auto refused = post_json(port_, "/v1/responses", body);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(parse(refused.body).at("error").at("param"), "text.format.schema") << refused.body;
}

}  // namespace
}  // namespace tandem::test
