// The bounded Responses store: size and TTL limits on an injected clock, get/delete, and
// previous_response_id expansion.
#include "schemas/response_store.h"
#include "schemas/responses.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace tandem::schemas {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now{};  // epoch of the steady clock: no wall time involved
  ResponseStore::Clock function() {
    return [this] { return now; };
  }
};

StoredResponse stored(std::string id, std::string text = "answer") {
  StoredResponse response;
  response.id = std::move(id);
  response.response = json::object{{"id", response.id}, {"object", "response"}};
  response.conversation = {Message{Role::user, {TextPart{"question"}}, ""},
                           Message{Role::assistant, {TextPart{std::move(text)}}, ""}};
  return response;
}

TEST(ResponseStore, GetAndDelete) {
  FakeClock clock;
  ResponseStore store(10, 60s, clock.function());
  store.put(stored("resp_a"));
  auto found = store.get("resp_a");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->response.at("id").as_string(), "resp_a");
  EXPECT_FALSE(store.get("resp_b").has_value());
  EXPECT_TRUE(store.erase("resp_a"));
  EXPECT_FALSE(store.erase("resp_a"));
  EXPECT_FALSE(store.get("resp_a").has_value());
  EXPECT_EQ(store.size(), 0u);
}

TEST(ResponseStore, EntriesExpireAfterTheTtl) {
  FakeClock clock;
  ResponseStore store(10, 60s, clock.function());
  store.put(stored("resp_old"));
  clock.now += 30s;
  store.put(stored("resp_new"));
  clock.now += 29s;
  EXPECT_TRUE(store.get("resp_old").has_value());
  clock.now += 1s;  // resp_old is 60 s old now
  EXPECT_FALSE(store.get("resp_old").has_value());
  EXPECT_TRUE(store.get("resp_new").has_value());
  EXPECT_FALSE(store.erase("resp_old"));
  clock.now += 30s;
  EXPECT_EQ(store.size(), 0u);
}

TEST(ResponseStore, TheOldestGoFirstBeyondTheBound) {
  FakeClock clock;
  ResponseStore store(2, 3600s, clock.function());
  store.put(stored("resp_1"));
  store.put(stored("resp_2"));
  store.put(stored("resp_1", "replaced"));  // a replacement counts as newest
  store.put(stored("resp_3"));
  EXPECT_EQ(store.size(), 2u);
  EXPECT_FALSE(store.get("resp_2").has_value());
  ASSERT_TRUE(store.get("resp_1").has_value());
  EXPECT_EQ(store.get("resp_1")->conversation.back().text(), "replaced");
  EXPECT_TRUE(store.get("resp_3").has_value());
}

TEST(ResponseStore, PreviousResponseIdPrependsTheStoredConversation) {
  FakeClock clock;
  ResponseStore store(10, 60s, clock.function());

  // Turn 1: instructions + a question; the answer calls a tool.
  auto first = responses_request_from_json(json::parse(R"({"model":"m","instructions":"Be brief.","input":"Weather?"})"));
  ASSERT_TRUE(first.ok());
  TextResult answer;
  answer.id = "resp_turn1";
  answer.content = {TextPart{"Checking."}, ToolCallPart{"call_1", "get_weather", "{}"}};
  answer.finish_reason = FinishReason::tool_calls;
  store.put(make_stored_response(*first, answer, responses_response(*first, answer)));
  EXPECT_EQ(store.get("resp_turn1")->response.at("status").as_string(), "completed");

  // Turn 2 continues with the tool's output; its own instructions replace the old ones.
  auto second = responses_request_from_json(json::parse(
      R"({"model":"m","previous_response_id":"resp_turn1","instructions":"Be kind.",
          "input":[{"type":"function_call_output","call_id":"call_1","output":"sunny"}]})"));
  ASSERT_TRUE(second.ok());
  auto expanded = store.with_history(std::move(second).value());
  ASSERT_TRUE(expanded.ok()) << expanded.error().message;
  EXPECT_EQ(expanded->system, "Be kind.");
  ASSERT_EQ(expanded->messages.size(), 3u);
  EXPECT_EQ(expanded->messages[0].text(), "Weather?");
  EXPECT_EQ(expanded->messages[1].role, Role::assistant);
  EXPECT_EQ(expanded->messages[1].text(), "Checking.");
  EXPECT_EQ(std::get<ToolCallPart>(expanded->messages[1].content[1]).id, "call_1");
  EXPECT_EQ(expanded->messages[2].role, Role::tool);

  // Chained: turn 3 continues turn 2 and so sees all of it.
  TextResult reply;
  reply.id = "resp_turn2";
  reply.content = {TextPart{"Sunny."}};
  store.put(make_stored_response(*expanded, reply, responses_response(*expanded, reply)));
  auto third = responses_request_from_json(json::parse(R"({"model":"m","previous_response_id":"resp_turn2","input":"Thanks"})"));
  auto chained = store.with_history(std::move(third).value());
  ASSERT_TRUE(chained.ok());
  ASSERT_EQ(chained->messages.size(), 5u);
  EXPECT_EQ(chained->messages[3].text(), "Sunny.");
  EXPECT_EQ(chained->messages[4].text(), "Thanks");
  EXPECT_TRUE(chained->system.empty());
}

TEST(ResponseStore, UnknownOrExpiredPreviousIdIsA404NamingTheField) {
  FakeClock clock;
  ResponseStore store(10, 60s, clock.function());
  store.put(stored("resp_soon_gone"));
  clock.now += 61s;
  auto request = responses_request_from_json(json::parse(R"({"model":"m","previous_response_id":"resp_soon_gone","input":"x"})"));
  auto expanded = store.with_history(std::move(request).value());
  ASSERT_FALSE(expanded.ok());
  EXPECT_EQ(expanded.error().kind, ErrorKind::not_found);
  EXPECT_EQ(expanded.error().param, "previous_response_id");
  EXPECT_EQ(expanded.error().http_status(Protocol::openai), 404);
  json::value body = json::parse(render_error(expanded.error(), Protocol::openai));
  EXPECT_EQ(body.at("error").at("message").as_string(), "Previous response with id 'resp_soon_gone' not found.");
  EXPECT_EQ(body.at("error").at("param").as_string(), "previous_response_id");

  ApiError missing = response_not_found("resp_x");
  EXPECT_EQ(missing.http_status(Protocol::openai), 404);
  EXPECT_EQ(missing.message, "Response with id 'resp_x' not found.");

  // Requests without a previous id pass through unchanged.
  auto plain = responses_request_from_json(json::parse(R"({"model":"m","input":"x"})"));
  auto same = store.with_history(std::move(plain).value());
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->messages.size(), 1u);
}

}  // namespace
}  // namespace tandem::schemas
