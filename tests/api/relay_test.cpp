// The HTTP side of the seam, in process: the real handlers (app/api) asking a scripted backend
// instead of the router. Refusals and in-band failures come out in the caller's protocol from
// the one table; StreamEvents are written by the protocol's writer or folded; passthrough frames
// (ResponseHead + RawBytes) reach the client byte for byte; the backend gets the client's exact
// body and only the headers meant for it.
#include "actors/backend/backend.h"
#include "app/api/endpoints.h"
#include "http/server.h"
#include "tests/common/http_client.h"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

namespace tandem::api {
namespace {

using backend::BackendEvent;
using test::HttpClient;

struct Script {
  backend::GenerateReply reply = backend::GenerateReply::accept();
  std::vector<BackendEvent> events;
  // The backend sends `events`, then keeps the sink open and says nothing (an upstream still
  // thinking); with
  // `never_reply` it does not even answer the ask (a provider waiting for response headers).
  bool silent = false;
  bool never_reply = false;
};

struct Seen {
  std::mutex mutex;
  std::optional<backend::BackendRequest> request;
  std::vector<backend::EventSink> held;  // silent scripts keep their sinks here
  std::atomic<int> cancelled{0};         // on_cancel calls of held sinks
};

backend::backend_actor spawn_scripted(actors::ActorRuntime& runtime, Script script, std::shared_ptr<Seen> seen) {
  auto actor = runtime.system().spawn(
      [script, seen](backend::backend_actor::pointer self) -> backend::backend_actor::behavior_type {
        return {
            [script, seen, self](backend::generate_atom, backend::BackendRequest& request,
                                 backend::EventSink& sink) -> caf::result<backend::GenerateReply> {
              {
                std::lock_guard lock(seen->mutex);
                seen->request = request;
              }
              if (!script.reply.accepted) return script.reply;
              if (script.silent || script.never_reply) {
                for (const auto& event : script.events) sink.push(event);
                sink.on_cancel([seen] { ++seen->cancelled; });
                std::lock_guard lock(seen->mutex);
                seen->held.push_back(sink);
                if (script.never_reply) return self->make_response_promise<backend::GenerateReply>();
                return script.reply;
              }
              for (const auto& event : script.events) sink.push(event);
              sink.close();
              return script.reply;
            },
            [](backend::count_atom, backend::BackendRequest&) {
              return backend::TokenCount::cannot(schemas::make_error(schemas::ErrorKind::unsupported,
                                                                     "this upstream cannot count tokens"));
            },
            [](backend::describe_atom) { return backend::ModelList{}; },
        };
      });
  runtime.track(backend::as_actor(actor));
  return actor;
}

class Relay : public ::testing::Test {
 protected:
  void serve(Script script) {
    state_.runtime = &runtime_;
    state_.router = backend::as_actor(spawn_scripted(runtime_, std::move(script), seen_));
    http::Router router;
    auto* state = &state_;
    router.add("POST", "/v1/chat/completions", [state](http::RequestContext& ctx) {
      return handle_chat(*state, ctx, schemas::Protocol::openai);
    });
    router.add("POST", "/v1/messages", [state](http::RequestContext& ctx) {
      return handle_chat(*state, ctx, schemas::Protocol::anthropic);
    });
    router.add("POST", "/v1/messages/count_tokens",
               [state](http::RequestContext& ctx) { return handle_count_tokens(*state, ctx); });
    http::ServerOptions options;
    options.port = 0;
    server_ = std::make_unique<http::Server>(options, std::move(router));
    server_->start();
  }
  void TearDown() override {
    if (server_) {
      server_->shutdown();
      server_->wait();
    }
    state_.router = caf::actor();
    runtime_.shutdown();
  }

  test::HttpResponse post(const std::string& target, const std::string& body, test::HeaderList headers = {}) {
    headers.emplace_back("content-type", "application/json");
    HttpClient client("127.0.0.1", server_->port(), std::chrono::seconds(30));
    return client.request("POST", target, body, headers);
  }

  actors::ActorRuntime runtime_;
  ApiState state_;
  std::shared_ptr<Seen> seen_ = std::make_shared<Seen>();
  std::unique_ptr<http::Server> server_;
};

const std::string kChat = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"future_field":{"a":1.0}})";
const std::string kStreamedChat = R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]})";
const std::string kMessages =
    R"({"model":"claude-x","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})";

TEST_F(Relay, PassthroughBodyStatusAndHeadersArriveAsTheyCame) {
  const std::string upstream_body = R"({"error":{"message":"slow down","type":"requests","param":null,"code":"x"}})";
  Script script;
  script.events.push_back(backend::ResponseHead{
      429, {{"retry-after", "7"}, {"x-ratelimit-remaining-requests", "0"}, {"content-type", "application/json"}}, false});
  script.events.push_back(backend::RawBytes{upstream_body.substr(0, 10)});
  script.events.push_back(backend::RawBytes{upstream_body.substr(10)});
  serve(script);
  auto response = post("/v1/chat/completions", kChat,
                       {{"authorization", "Bearer client-key"}, {"x-api-key", "client-key"},
                        {"anthropic-beta", "tools-2024"}});
  EXPECT_EQ(response.status, 429);
  EXPECT_EQ(response.body, upstream_body);
  EXPECT_EQ(response.header("retry-after"), "7");
  EXPECT_EQ(response.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_EQ(response.header("content-type"), "application/json");
  EXPECT_FALSE(response.header("x-request-id").empty());

  std::lock_guard lock(seen_->mutex);
  ASSERT_TRUE(seen_->request);
  EXPECT_EQ(seen_->request->raw_body, kChat);  // byte for byte, unknown fields included
  EXPECT_EQ(seen_->request->request_id, response.header("x-request-id"));
  EXPECT_EQ(seen_->request->requested_model, "gpt-4o");
  EXPECT_EQ(seen_->request->forward_headers, (backend::HeaderList{{"anthropic-beta", "tools-2024"}}));
}

TEST_F(Relay, StreamedPassthroughFramesAreWrittenUntouched) {
  const std::string first = "event: brand_new_event\ndata: {\"odd\":  1}\n\n";
  const std::string second = ": upstream comment\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  Script script;
  script.events.push_back(backend::ResponseHead{200, {{"anthropic-ratelimit-tokens-remaining", "99"}}, true});
  script.events.push_back(backend::RawBytes{first});
  script.events.push_back(backend::RawBytes{second});
  serve(script);
  auto response = post("/v1/messages", kMessages, {{"anthropic-version", "2023-06-01"}});
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("content-type"), "text/event-stream");
  EXPECT_EQ(response.header("anthropic-ratelimit-tokens-remaining"), "99");
  EXPECT_EQ(response.body, first + second);
}

TEST_F(Relay, AStreamsHeaderReachesTheClientWhileTheUpstreamIsStillThinking) {
  // The header is held to go out with the first frames; an upstream that sent its own header and
  // nothing else yet must not leave the client waiting for it (the SDKs wait for the header).
  Script script;
  script.events.push_back(backend::ResponseHead{200, {{"anthropic-ratelimit-tokens-remaining", "5"}}, true});
  script.silent = true;
  serve(script);
  HttpClient client("127.0.0.1", server_->port(), std::chrono::seconds(10));
  auto header = client.start_request("POST", "/v1/messages",
                                     {{"content-type", "application/json"}, {"anthropic-version", "2023-06-01"}},
                                     kMessages);
  EXPECT_EQ(header.status, 200);
  EXPECT_EQ(header.header("content-type"), "text/event-stream");
  EXPECT_EQ(header.header("anthropic-ratelimit-tokens-remaining"), "5");
}

TEST_F(Relay, RefusalsUseTheCallersProtocolAndRetryAfter) {
  Script script;
  auto error = schemas::make_error(schemas::ErrorKind::queue_full, "the queue is full");
  error.retry_after = 3;
  script.reply = backend::GenerateReply::refuse(error);
  serve(script);
  auto openai = post("/v1/chat/completions", kChat);
  EXPECT_EQ(openai.status, 429);
  EXPECT_EQ(openai.header("retry-after"), "3");
  auto body = boost::json::parse(openai.body);
  EXPECT_EQ(body.at("error").at("type"), "rate_limit_error");
  EXPECT_EQ(body.at("error").at("message"), "the queue is full");
  auto anthropic = post("/v1/messages", kMessages);
  EXPECT_EQ(anthropic.status, 529);
  EXPECT_EQ(boost::json::parse(anthropic.body).at("error").at("type"), "overloaded_error");
}

Script text_answer(std::optional<schemas::ApiError> failure) {
  Script script;
  schemas::MessageStart start;
  start.id = "chatcmpl-test";
  start.model = "gpt-4o";
  start.created = 1700000000;
  script.events.push_back(schemas::StreamEvent(start));
  script.events.push_back(schemas::StreamEvent(schemas::TextDelta{"Hello", {}}));
  if (failure) {
    script.events.push_back(schemas::StreamEvent(schemas::StreamError{*failure}));
  } else {
    schemas::Finish finish;
    finish.usage.input_tokens = 3;
    finish.usage.output_tokens = 1;
    script.events.push_back(schemas::StreamEvent(finish));
  }
  return script;
}

TEST_F(Relay, StreamEventsAreFoldedOrWrittenByTheProtocolsWriter) {
  serve(text_answer(std::nullopt));
  auto complete = post("/v1/chat/completions", kChat);
  ASSERT_EQ(complete.status, 200) << complete.body;
  auto body = boost::json::parse(complete.body);
  EXPECT_EQ(body.at("choices").at(0).at("message").at("content"), "Hello");
  EXPECT_EQ(body.at("usage").at("completion_tokens"), 1);

  auto streamed = post("/v1/chat/completions", kStreamedChat);
  ASSERT_EQ(streamed.status, 200);
  EXPECT_NE(streamed.body.find("\"content\":\"Hello\""), std::string::npos);
  EXPECT_NE(streamed.body.find("data: [DONE]\n\n"), std::string::npos);
}

TEST_F(Relay, AFailureMidAnswerIsAnInBandErrorOrTheErrorResponse) {
  auto overloaded = schemas::make_error(schemas::ErrorKind::overloaded, "upstream overloaded");
  overloaded.retry_after = 2;
  serve(text_answer(overloaded));
  auto streamed = post("/v1/messages", kMessages);
  ASSERT_EQ(streamed.status, 200);
  EXPECT_NE(streamed.body.find("event: error\n"), std::string::npos);
  EXPECT_NE(streamed.body.find("overloaded_error"), std::string::npos);
  EXPECT_EQ(streamed.body.find("message_stop"), std::string::npos);  // not a silently truncated answer

  auto complete = post("/v1/chat/completions", kChat);
  EXPECT_EQ(complete.status, 503);
  EXPECT_EQ(complete.header("retry-after"), "2");
  EXPECT_EQ(boost::json::parse(complete.body).at("error").at("message"), "upstream overloaded");
}

TEST_F(Relay, CountTokensThatCannotBeCountedSaysSo) {
  serve(Script{});
  auto response = post("/v1/messages/count_tokens", R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(response.status, 400);
  auto body = boost::json::parse(response.body);
  EXPECT_EQ(body.at("error").at("type"), "invalid_request_error");
  EXPECT_EQ(body.at("error").at("message"), "this upstream cannot count tokens");
}

// A client that closes its connection while the backend is silent cancels the backend's work
// at once (its sink's on_cancel fires), not at the next write that may never come.
TEST_F(Relay, AClientThatLeavesWhileTheBackendIsSilentCancelsIt) {
  for (bool never_reply : {false, true}) {
    seen_ = std::make_shared<Seen>();
    Script script;
    script.silent = !never_reply;
    script.never_reply = never_reply;
    if (server_) {
      server_->shutdown();
      server_->wait();
    }
    // The never-replying ask times out (and so cancels) after 4 s: the watch must be faster.
    state_.backend_timeout = std::chrono::milliseconds(4000);
    serve(script);
    for (const std::string& body : {kStreamedChat, kChat}) {
      const int before = seen_->cancelled.load();
      size_t held_before = 0;
      {
        std::lock_guard lock(seen_->mutex);
        held_before = seen_->held.size();
      }
      {
        HttpClient client("127.0.0.1", server_->port(), std::chrono::seconds(10));
        client.send_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
        // Wait until the backend holds the request, then leave.
        for (int i = 0; i < 500; ++i) {
          {
            std::lock_guard lock(seen_->mutex);
            if (seen_->held.size() > held_before) break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        client.close();
      }
      bool cancelled = false;
      for (int i = 0; i < 300 && !cancelled; ++i) {  // 3 s
        cancelled = seen_->cancelled.load() > before;
        if (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      EXPECT_TRUE(cancelled) << (never_reply ? "before the reply, " : "after the reply, ")
                             << (body == kChat ? "complete" : "streamed");
      std::lock_guard lock(seen_->mutex);
      for (auto& sink : seen_->held) sink.close();  // let the handler finish
    }
  }
}

}  // namespace
}  // namespace tandem::api
