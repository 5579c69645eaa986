// The provider-actor fixture shared by the cloud tests: an actor runtime, the fake upstream, one
// upstream client, and helpers that ask like an HTTP session does (generate, then drain the sink).
#pragma once

#include "actors/backend/backend.h"
#include "actors/event_stream.h"
#include "actors/runtime.h"
#include "cloud/provider_actor.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "tests/fakes/fake_answers.h"
#include "tests/fakes/fake_upstream.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <numeric>

namespace tandem::cloud::test {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using backend::BackendEvent;
using backend::BackendRequest;
using fakes::FakeAnswer;
using fakes::FakeUpstream;

inline constexpr const char* kProviderKey = "sk-provider-secret-123";
inline constexpr const char* kClientKey = "tandem-client-key-456";

struct Answer {
  backend::GenerateReply reply;
  std::vector<BackendEvent> events;
  std::string end;  // "closed", or the bridge error that ended the stream
};

inline asio::awaitable<void> drain(actors::EventReceiver<BackendEvent>& rx, Answer& answer) {
  try {
    for (;;) {
      auto event = co_await rx.next();
      if (!event) break;
      answer.events.push_back(std::move(*event));
    }
    answer.end = "closed";
  } catch (const std::exception& error) {
    answer.end = error.what();
  }
}

inline std::string raw_bytes(const Answer& answer) {
  std::string out;
  for (const auto& event : answer.events)
    if (const auto* raw = std::get_if<backend::RawBytes>(&event)) out += raw->bytes;
  return out;
}

inline const backend::ResponseHead* head_of(const Answer& answer) {
  for (const auto& event : answer.events)
    if (const auto* head = std::get_if<backend::ResponseHead>(&event)) return head;
  return nullptr;
}

inline std::string header(const HeaderList& headers, std::string_view name) {
  for (const auto& [key, value] : headers)
    if (key == name) return value;
  return "<absent>";
}

inline schemas::TextResult fold(const Answer& answer, std::optional<schemas::ApiError>* error = nullptr) {
  schemas::ResultBuilder builder;
  for (const auto& event : answer.events)
    if (const auto* stream_event = std::get_if<schemas::StreamEvent>(&event)) builder.add(*stream_event);
  EXPECT_TRUE(builder.finished());
  if (error) *error = builder.error();
  return builder.result();
}

class ProviderActorTest : public ::testing::Test {
 protected:
  void TearDown() override {
    client_->shutdown();  // first: its thread must not release an actor while the system goes away
    runtime_.shutdown();
    client_.reset();
  }

  ProviderConfig provider(schemas::Protocol protocol, std::string name = "") {
    ProviderConfig config;
    config.name = name.empty() ? (protocol == schemas::Protocol::openai ? "openai" : "anthropic") : name;
    config.protocol = protocol;
    config.base_url = protocol == schemas::Protocol::openai ? fake_.base_url() + "/v1" : fake_.base_url();
    config.api_key = kProviderKey;
    config.models = {"fake-model"};
    config.timeouts.headers = 5s;
    config.timeouts.idle = 5s;
    config.retry.max_attempts = 1;  // one attempt, as before retries: the resilience tests set their own
    return config;
  }

  backend::backend_actor spawn(ProviderConfig config) {
    return spawn_provider_actor(runtime_.system(), std::move(config), {{"smart", "upstream-model"}}, client_);
  }

  static BackendRequest request(schemas::Protocol caller, std::string body, std::string upstream_model) {
    BackendRequest out;
    auto parsed = caller == schemas::Protocol::openai ? schemas::parse_openai_chat_request(body, "application/json")
                                                      : schemas::parse_anthropic_messages_request(body, "application/json");
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
    if (parsed.ok()) out.request = std::move(*parsed);
    out.requested_model = out.request.model;
    out.request.model = std::move(upstream_model);
    out.raw_body = std::move(body);
    out.request_id = "req_test";
    out.forward_headers = {{"anthropic-version", "2023-06-01"}, {"anthropic-beta", "new-beta-2025"},
                           {"authorization", std::string("Bearer ") + kClientKey}, {"x-api-key", kClientKey}};
    return out;
  }

  Answer generate(const backend::backend_actor& actor, BackendRequest request,
                  const std::function<void(actors::EventReceiver<BackendEvent>&)>& after_reply = {}) {
    Answer answer;
    auto [tx, rx] = actors::make_event_stream<BackendEvent>(4096);
    {
      caf::scoped_actor self{runtime_.system()};
      self->request(actor, caf::duration{10s}, backend::generate_atom::value, std::move(request),
                    backend::EventSink(tx))
          .receive([&](backend::GenerateReply& reply) { answer.reply = std::move(reply); },
                   [&](caf::error& error) { ADD_FAILURE() << "ask failed: " << to_string(error); });
    }
    tx = {};
    if (after_reply) after_reply(rx);
    if (answer.reply.accepted) {
      asio::io_context io;
      asio::co_spawn(io, drain(rx, answer), asio::detached);
      io.run_for(20s);
    }
    return answer;
  }

  template <class Reply, class... Ts>
  Reply ask(const backend::backend_actor& actor, Ts&&... message) {
    Reply out;
    caf::scoped_actor self{runtime_.system()};
    self->request(actor, caf::duration{10s}, std::forward<Ts>(message)...)
        .receive([&](Reply& reply) { out = std::move(reply); },
                 [&](caf::error& error) { ADD_FAILURE() << "ask failed: " << to_string(error); });
    return out;
  }

  FakeUpstream fake_;
  actors::ActorRuntime runtime_;
  std::shared_ptr<UpstreamClient> client_ = std::make_shared<UpstreamClient>();
};

inline FakeAnswer tool_answer() {
  FakeAnswer answer;
  answer.text = "Let me check.";
  answer.thinking = "The user wants weather.";
  answer.tool_calls.push_back({"toolu_01", "get_weather", R"({"city":"Paris"})"});
  answer.tool_calls.push_back({"toolu_02", "get_time", R"({"tz":"CET"})"});
  answer.cache_read_tokens = 40;
  answer.cache_creation_tokens = 8;
  return answer;
}

}  // namespace tandem::cloud::test
