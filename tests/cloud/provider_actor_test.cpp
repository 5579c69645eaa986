// The provider actor against the fake upstream: byte-exact same-protocol passthrough (hashes of
// both sides), cross-protocol translation streamed, upstream errors refused in the caller's
// protocol, in-band errors when a stream is cut, cancellation, count_tokens, describe, routing
// through the seam's router, and secrets (which key reaches the upstream; none in the logs).
#include "actors/backend/router.h"
#include "tests/cloud/provider_fixture.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

namespace tandem::cloud {
namespace {

using namespace test;

// ---------------------------------------------------------------- passthrough

TEST_F(ProviderActorTest, AnthropicPassthroughIsByteExactBothWays) {
  // Unknown fields, odd spacing and number spellings must survive untouched.
  std::string body = "{\"model\": \"upstream-model\", \"max_tokens\": 1.0e3,  \"messages\": [{\"role\":\"user\","
                     "\"content\":[{\"type\":\"text\",\"text\":\"hi\",\"cache_control\":{\"type\":\"ephemeral\"}}]}],"
                     "\"context_management\": {\"edits\": []}, \"output_config\": {\"effort\": \"low\"}}";
  std::string answer_body = fakes::anthropic_message_json(tool_answer());
  fake_.enqueue(fakes::json_response(200, answer_body, {{"request-id", "req_upstream"}, {"anthropic-ratelimit-requests-remaining", "9"}}));
  auto actor = spawn(provider(schemas::Protocol::anthropic));

  Answer answer = generate(actor, request(schemas::Protocol::anthropic, body, "upstream-model"));

  ASSERT_TRUE(answer.reply.accepted) << answer.reply.error.message;
  EXPECT_EQ(answer.end, "closed");
  ASSERT_NE(head_of(answer), nullptr);
  EXPECT_EQ(head_of(answer)->status, 200);
  EXPECT_FALSE(head_of(answer)->event_stream);
  EXPECT_EQ(header(head_of(answer)->headers, "upstream-request-id"), "req_upstream");
  EXPECT_EQ(header(head_of(answer)->headers, "anthropic-ratelimit-requests-remaining"), "9");
  EXPECT_EQ(std::hash<std::string>{}(raw_bytes(answer)), std::hash<std::string>{}(answer_body));
  EXPECT_EQ(raw_bytes(answer), answer_body);
  auto requests = fake_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/v1/messages");
  EXPECT_EQ(std::hash<std::string>{}(requests[0].body), std::hash<std::string>{}(body));
  EXPECT_EQ(requests[0].body, body);
  EXPECT_EQ(requests[0].header("x-api-key"), kProviderKey);
  EXPECT_EQ(requests[0].header("anthropic-version"), "2023-06-01");
  EXPECT_EQ(requests[0].header("anthropic-beta"), "new-beta-2025");
  EXPECT_FALSE(requests[0].has_header("authorization"));
}

TEST_F(ProviderActorTest, AnthropicStreamPassthroughKeepsUnknownEventsAndRewritesOnlyTheModel) {
  std::string body = R"({"model":"smart","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u1"}})";
  auto frames = fakes::anthropic_stream_frames(tool_answer());
  frames.insert(frames.begin() + 1, "event: brand_new_event\ndata: {\"type\":\"brand_new_event\",\"x\":[1,2]}\n\n");
  auto response = fakes::sse_response(frames);
  response.pieces = {fakes::split_text(std::accumulate(frames.begin(), frames.end(), std::string()), 7)};
  fake_.enqueue(response);
  auto actor = spawn(provider(schemas::Protocol::anthropic));

  Answer answer = generate(actor, request(schemas::Protocol::anthropic, body, "upstream-model"));

  ASSERT_TRUE(answer.reply.accepted) << answer.reply.error.message;
  ASSERT_NE(head_of(answer), nullptr);
  EXPECT_TRUE(head_of(answer)->event_stream);
  EXPECT_EQ(header(head_of(answer)->headers, "content-type"), "text/event-stream");
  EXPECT_EQ(raw_bytes(answer), std::accumulate(frames.begin(), frames.end(), std::string()));
  for (const auto& event : answer.events) {
    if (const auto* raw = std::get_if<backend::RawBytes>(&event)) {
      EXPECT_TRUE(raw->bytes.ends_with("\n\n")) << "a frame was split: " << raw->bytes;
    }
  }
  std::string expected_up = body;
  expected_up.replace(expected_up.find("\"smart\""), 7, "\"upstream-model\"");
  EXPECT_EQ(fake_.requests().at(0).body, expected_up);
}

TEST_F(ProviderActorTest, OpenAiStreamPassthroughAndUpstreamErrorsPassAsTheyCame) {
  std::string body = R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}})";
  auto frames = fakes::openai_stream_frames(tool_answer(), true);
  fake_.enqueue(fakes::sse_response(frames));
  std::string error_body = fakes::openai_error_json("rate_limit_error", "Rate limit reached", "rate_limit_exceeded");
  fake_.enqueue(fakes::json_response(429, error_body, {{"retry-after", "20"}, {"x-ratelimit-reset-requests", "20s"}}));
  auto actor = spawn(provider(schemas::Protocol::openai));

  Answer ok = generate(actor, request(schemas::Protocol::openai, body, "gpt-4o"));
  Answer limited = generate(actor, request(schemas::Protocol::openai, body, "gpt-4o"));

  ASSERT_TRUE(ok.reply.accepted);
  EXPECT_EQ(raw_bytes(ok), std::accumulate(frames.begin(), frames.end(), std::string()));
  EXPECT_EQ(fake_.requests().at(0).body, body);
  EXPECT_EQ(fake_.requests().at(0).target, "/v1/chat/completions");
  EXPECT_EQ(fake_.requests().at(0).header("authorization"), std::string("Bearer ") + kProviderKey);
  EXPECT_FALSE(fake_.requests().at(0).has_header("x-api-key"));
  EXPECT_FALSE(fake_.requests().at(0).has_header("anthropic-version"));
  ASSERT_TRUE(limited.reply.accepted);
  ASSERT_NE(head_of(limited), nullptr);
  EXPECT_EQ(head_of(limited)->status, 429);
  EXPECT_EQ(header(head_of(limited)->headers, "retry-after"), "20");
  EXPECT_EQ(header(head_of(limited)->headers, "x-ratelimit-reset-requests"), "20s");
  EXPECT_EQ(raw_bytes(limited), error_body);
}

TEST_F(ProviderActorTest, PassthroughStreamCutMidwayEndsWithAnInBandErrorFrame) {
  for (auto protocol : {schemas::Protocol::anthropic, schemas::Protocol::openai}) {
    auto frames = protocol == schemas::Protocol::anthropic ? fakes::anthropic_stream_frames(tool_answer())
                                                           : fakes::openai_stream_frames(tool_answer(), true);
    auto response = fakes::sse_response(frames);
    response.fault = fakes::Fault::reset_mid_body;
    response.fault_after = 3;
    fake_.enqueue(response);
    std::string body = protocol == schemas::Protocol::anthropic
                           ? R"({"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})"
                           : R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})";
    auto actor = spawn(provider(protocol));

    Answer answer = generate(actor, request(protocol, body, "m"));

    ASSERT_TRUE(answer.reply.accepted);
    EXPECT_EQ(answer.end, "closed");
    std::string bytes = raw_bytes(answer);
    EXPECT_TRUE(bytes.starts_with(frames[0] + frames[1] + frames[2]));
    std::string tail = bytes.substr((frames[0] + frames[1] + frames[2]).size());
    if (protocol == schemas::Protocol::anthropic) {
      EXPECT_TRUE(tail.starts_with("event: error\ndata: {\"type\":\"error\"")) << tail;
    } else {
      EXPECT_TRUE(tail.starts_with("data: {\"error\":")) << tail;
    }
    EXPECT_NE(tail.find(protocol == schemas::Protocol::anthropic ? "upstream 'anthropic' failed: connection_reset"
                                                                 : "upstream 'openai' failed: connection_reset"),
              std::string::npos)
        << tail;
  }
}

// ---------------------------------------------------------------- translation

TEST_F(ProviderActorTest, OpenAiClientToAnthropicUpstreamStreamsTranslatedEvents) {
  fake_.enqueue(fakes::sse_response(fakes::anthropic_stream_frames(tool_answer())));
  auto actor = spawn(provider(schemas::Protocol::anthropic));
  std::string body = R"({"model":"smart","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"weather?"}],
    "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],"max_tokens":100})";

  Answer answer = generate(actor, request(schemas::Protocol::openai, body, "claude-sonnet-4-5"));

  ASSERT_TRUE(answer.reply.accepted) << answer.reply.error.message;
  EXPECT_EQ(head_of(answer), nullptr);
  EXPECT_TRUE(raw_bytes(answer).empty());
  auto result = fold(answer);
  EXPECT_EQ(result.id, "chatcmpl-fake01");  // msg_fake01 under the caller's prefix
  EXPECT_GT(result.created, 0);
  EXPECT_EQ(result.text(), "Let me check.");
  EXPECT_EQ(result.finish_reason, schemas::FinishReason::tool_calls);
  EXPECT_EQ(result.usage.input_tokens, 12);
  EXPECT_EQ(result.usage.output_tokens, 7);
  EXPECT_EQ(result.usage.cache_read_tokens.value_or(-1), 40);
  EXPECT_EQ(result.usage.cache_creation_tokens.value_or(-1), 8);
  int calls = 0;
  for (const auto& part : result.content)
    if (const auto* call = std::get_if<schemas::ToolCallPart>(&part)) {
      ++calls;
      if (call->id == "toolu_01") {
        EXPECT_EQ(json::parse(call->arguments), json::parse(R"({"city":"Paris"})"));
      }
    }
  EXPECT_EQ(calls, 2);
  auto sent = json::parse(fake_.requests().at(0).body);
  EXPECT_EQ(sent.at("model").as_string(), "claude-sonnet-4-5");
  EXPECT_TRUE(sent.at("stream").as_bool());
  EXPECT_EQ(sent.at("system").is_string() ? std::string(sent.at("system").as_string())
                                          : std::string(sent.at("system").at(0).at("text").as_string()),
            "Be brief.");
  EXPECT_EQ(sent.at("tools").at(0).at("name").as_string(), "get_weather");
  EXPECT_EQ(fake_.requests().at(0).header("x-api-key"), kProviderKey);
}

TEST_F(ProviderActorTest, AnthropicClientToOpenAiUpstreamAsksForUsageAndMapsReasoning) {
  fake_.enqueue(fakes::sse_response(fakes::openai_stream_frames(tool_answer(), true)));
  auto actor = spawn(provider(schemas::Protocol::openai, "vllm"));
  std::string body = R"({"model":"vllm/qwen","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"weather?"}]})";

  Answer answer = generate(actor, request(schemas::Protocol::anthropic, body, "qwen"));

  ASSERT_TRUE(answer.reply.accepted) << answer.reply.error.message;
  auto result = fold(answer);
  EXPECT_EQ(result.text(), "Let me check.");
  EXPECT_EQ(result.finish_reason, schemas::FinishReason::tool_calls);
  bool thinking = false;
  for (const auto& part : result.content)
    if (const auto* block = std::get_if<schemas::ThinkingPart>(&part)) thinking = block->thinking == "The user wants weather.";
  EXPECT_TRUE(thinking);
  EXPECT_EQ(result.usage.cache_read_tokens.value_or(-1), 40);
  auto sent = json::parse(fake_.requests().at(0).body);
  EXPECT_EQ(fake_.requests().at(0).target, "/v1/chat/completions");
  EXPECT_EQ(sent.at("model").as_string(), "qwen");
  EXPECT_TRUE(sent.at("stream").as_bool());
  EXPECT_TRUE(sent.at("stream_options").at("include_usage").as_bool());
  EXPECT_EQ(sent.at("messages").at(0).at("role").as_string(), "system");
}

TEST_F(ProviderActorTest, TranslatedUpstream4xxIsRefusedWithTheUpstreamsMessage) {
  struct Case {
    int status;
    schemas::ErrorKind kind;
  };
  const std::vector<Case> cases = {{400, schemas::ErrorKind::invalid_request}, {401, schemas::ErrorKind::authentication},
                                   {403, schemas::ErrorKind::permission},      {404, schemas::ErrorKind::not_found},
                                   {413, schemas::ErrorKind::request_too_large}, {429, schemas::ErrorKind::rate_limit},
                                   {500, schemas::ErrorKind::api_error},       {529, schemas::ErrorKind::overloaded}};
  auto actor = spawn(provider(schemas::Protocol::anthropic));
  for (const auto& c : cases) {
    fake_.enqueue(fakes::json_response(c.status, fakes::anthropic_error_json("some_error", "upstream says " + std::to_string(c.status)),
                                       {{"retry-after", "4"}}));
    Answer answer = generate(actor, request(schemas::Protocol::openai,
                                            R"({"model":"c","messages":[{"role":"user","content":"hi"}]})", "c"));
    EXPECT_FALSE(answer.reply.accepted) << c.status;
    EXPECT_EQ(answer.reply.error.kind, c.kind) << c.status;
    EXPECT_EQ(answer.reply.error.message, "upstream says " + std::to_string(c.status));
    EXPECT_EQ(answer.reply.error.retry_after, 4);
  }
}

TEST_F(ProviderActorTest, TranslatedStreamCutMidwayEndsWithStreamError) {
  auto response = fakes::sse_response(fakes::openai_stream_frames(tool_answer(), true));
  response.fault = fakes::Fault::close_mid_body;
  response.fault_after = 4;
  fake_.enqueue(response);
  auto actor = spawn(provider(schemas::Protocol::openai));

  Answer answer = generate(actor, request(schemas::Protocol::anthropic,
                                          R"({"model":"gpt-4o","max_tokens":9,"messages":[{"role":"user","content":"hi"}]})", "gpt-4o"));

  ASSERT_TRUE(answer.reply.accepted);
  EXPECT_EQ(answer.end, "closed");
  std::optional<schemas::ApiError> error;
  fold(answer, &error);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, schemas::ErrorKind::upstream_error);
  EXPECT_NE(error->message.find("upstream 'openai'"), std::string::npos) << error->message;
}

TEST_F(ProviderActorTest, UnreachableUpstreamIsUnavailableNamingTheProvider) {
  auto config = provider(schemas::Protocol::anthropic);
  config.base_url = "http://127.0.0.1:1";
  auto actor = spawn(config);
  std::string body = R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})";

  Answer translated = generate(actor, request(schemas::Protocol::openai, body, "m"));
  Answer passthrough = generate(actor, request(schemas::Protocol::anthropic, body, "m"));

  EXPECT_FALSE(translated.reply.accepted);
  EXPECT_EQ(translated.reply.error.kind, schemas::ErrorKind::unavailable);
  EXPECT_NE(translated.reply.error.message.find("upstream 'anthropic' failed: connect_failed"), std::string::npos)
      << translated.reply.error.message;
  EXPECT_EQ(translated.reply.error.message.find(kProviderKey), std::string::npos);
  // A non-streaming passthrough is accepted at once; the failure still gets its own status.
  ASSERT_TRUE(passthrough.reply.accepted);
  ASSERT_NE(head_of(passthrough), nullptr);
  EXPECT_EQ(head_of(passthrough)->status, 503);
  auto error = json::parse(raw_bytes(passthrough));
  EXPECT_EQ(error.at("type").as_string(), "error");
  EXPECT_NE(std::string(error.at("error").at("message").as_string()).find("connect_failed"), std::string::npos);
}

TEST_F(ProviderActorTest, StallBeforeHeadersIsATimeout) {
  for (int i = 0; i < 2; ++i) {
    fakes::ScriptedResponse stalled;
    stalled.fault = fakes::Fault::stall_before_headers;
    fake_.enqueue(stalled);
  }
  auto config = provider(schemas::Protocol::openai);
  config.timeouts.headers = 200ms;
  auto actor = spawn(config);
  std::string body = R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})";

  Answer translated = generate(actor, request(schemas::Protocol::anthropic, body, "m"));
  Answer passthrough = generate(actor, request(schemas::Protocol::openai, body, "m"));

  EXPECT_FALSE(translated.reply.accepted);
  EXPECT_EQ(translated.reply.error.kind, schemas::ErrorKind::timeout);
  EXPECT_NE(translated.reply.error.message.find("headers timeout"), std::string::npos) << translated.reply.error.message;
  ASSERT_TRUE(passthrough.reply.accepted);
  ASSERT_NE(head_of(passthrough), nullptr);
  EXPECT_EQ(head_of(passthrough)->status, 504);
  EXPECT_NE(raw_bytes(passthrough).find("headers timeout"), std::string::npos) << raw_bytes(passthrough);
}

TEST_F(ProviderActorTest, AClientThatLeavesAbortsTheUpstreamTransfer) {
  auto response = fakes::sse_response(fakes::anthropic_stream_frames(tool_answer()));
  response.fault = fakes::Fault::stall_mid_body;
  response.fault_after = 2;
  fake_.enqueue(response);
  auto actor = spawn(provider(schemas::Protocol::anthropic));

  Answer answer = generate(actor,
                           request(schemas::Protocol::anthropic,
                                   R"({"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})", "m"),
                           [](actors::EventReceiver<BackendEvent>& rx) { rx.cancel(); });

  ASSERT_TRUE(answer.reply.accepted);
  EXPECT_TRUE(fake_.wait_for_aborted_responses(1, 5s));
}

// ---------------------------------------------------------------- count, describe, routing

TEST_F(ProviderActorTest, CountTokensIsForwardedToAnthropicAndRefusedPlainlyByOpenAi) {
  fake_.enqueue(fakes::json_response(200, R"({"input_tokens":42})"));
  auto anthropic = spawn(provider(schemas::Protocol::anthropic));
  auto openai = spawn(provider(schemas::Protocol::openai));
  auto translated = request(schemas::Protocol::openai, R"({"model":"c","max_tokens":7,"messages":[{"role":"user","content":"hi"}]})", "claude-x");

  auto counted = ask<backend::TokenCount>(anthropic, backend::count_atom::value, translated);
  auto refused = ask<backend::TokenCount>(openai, backend::count_atom::value, translated);

  ASSERT_TRUE(counted.counted) << counted.error.message;
  EXPECT_EQ(counted.tokens, 42);
  auto sent = json::parse(fake_.requests().at(0).body);
  EXPECT_EQ(fake_.requests().at(0).target, "/v1/messages/count_tokens");
  EXPECT_EQ(sent.at("model").as_string(), "claude-x");
  EXPECT_FALSE(sent.as_object().contains("max_tokens"));
  EXPECT_FALSE(refused.counted);
  EXPECT_EQ(refused.error.kind, schemas::ErrorKind::unsupported);
  EXPECT_NE(refused.error.message.find("cannot count"), std::string::npos);
}

TEST_F(ProviderActorTest, DescribeListsAliasesAndModelsOwnedByTheProvider) {
  auto actor = spawn(provider(schemas::Protocol::openai, "vllm"));
  auto list = ask<backend::ModelList>(actor, backend::describe_atom::value);
  ASSERT_EQ(list.models.size(), 2u);
  EXPECT_EQ(list.models[0].id, "smart");
  EXPECT_EQ(list.models[1].id, "fake-model");
  EXPECT_EQ(list.models[1].owned_by, "vllm");
  EXPECT_FALSE(list.models[1].capabilities.count_tokens);
}

TEST_F(ProviderActorTest, TheRouterReachesProvidersByPrefixAliasAndProviderSlashModel) {
  auto anthropic_config = provider(schemas::Protocol::anthropic);
  auto openai_config = provider(schemas::Protocol::openai);
  CloudConfig config;
  config.providers = {anthropic_config, openai_config};
  config.aliases = {{"smart", "anthropic", "claude-sonnet-4-5"}};
  auto routes = spawn_cloud_backends(runtime_.system(), config, client_);
  auto router = backend::spawn_router(runtime_.system(), routes);
  fake_.set_script([](const fakes::RecordedRequest& request) {
    return request.target == "/v1/messages" ? fakes::json_response(200, fakes::anthropic_message_json(FakeAnswer{}))
                                            : fakes::json_response(200, fakes::openai_chat_json(FakeAnswer{}));
  });
  struct Case {
    std::string model, target, upstream_model;
  };
  const std::vector<Case> cases = {{"claude-haiku-4-5", "/v1/messages", "claude-haiku-4-5"},
                                   {"smart", "/v1/messages", "claude-sonnet-4-5"},
                                   {"gpt-4o-mini", "/v1/chat/completions", "gpt-4o-mini"},
                                   {"openai/o3", "/v1/chat/completions", "o3"}};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::string body = R"({"model":")" + cases[i].model + R"(","messages":[{"role":"user","content":"hi"}]})";
    auto routed = request(schemas::Protocol::openai, body, cases[i].model);
    Answer answer = generate(caf::actor_cast<backend::backend_actor>(router), routed);
    ASSERT_TRUE(answer.reply.accepted) << cases[i].model << ": " << answer.reply.error.message;
    auto recorded = fake_.requests().at(i);
    EXPECT_EQ(recorded.target, cases[i].target) << cases[i].model;
    EXPECT_EQ(json::parse(recorded.body).at("model").as_string(), cases[i].upstream_model) << cases[i].model;
  }
}

// ---------------------------------------------------------------- secrets

TEST_F(ProviderActorTest, NoKeyReachesTheLogsAndClientKeysNeverGoUpstream) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  auto previous = spdlog::default_logger();
  auto capture = std::make_shared<spdlog::logger>("capture", sink);
  capture->set_level(spdlog::level::trace);
  spdlog::set_default_logger(capture);
  spdlog::set_level(spdlog::level::trace);

  fake_.enqueue(fakes::json_response(200, fakes::anthropic_message_json(FakeAnswer{})));
  fakes::ScriptedResponse reset;
  reset.fault = fakes::Fault::reset_before_headers;
  fake_.enqueue(reset);
  auto actor = spawn(provider(schemas::Protocol::anthropic));
  std::string body = R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})";
  Answer ok = generate(actor, request(schemas::Protocol::anthropic, body, "m"));
  Answer failed = generate(actor, request(schemas::Protocol::openai, body, "m"));

  spdlog::set_default_logger(previous);
  EXPECT_TRUE(ok.reply.accepted);
  EXPECT_FALSE(failed.reply.accepted);
  EXPECT_FALSE(log.str().empty());
  EXPECT_EQ(log.str().find(kProviderKey), std::string::npos) << log.str();
  EXPECT_EQ(log.str().find(kClientKey), std::string::npos) << log.str();
  for (const auto& recorded : fake_.requests()) {
    EXPECT_EQ(recorded.header("x-api-key"), kProviderKey);
    for (const auto& [name, value] : recorded.headers) EXPECT_EQ(value.find(kClientKey), std::string::npos) << name;
  }
}

TEST(SseFrameSplitter, EmitsWholeFramesWhateverTheLineEndsAndSplits) {
  std::string stream = "event: a\ndata: 1\n\ndata: 2\r\n\r\n: comment\r\rdata: 3\n\n";
  for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
    SseFrameSplitter splitter;
    std::string out;
    for (std::size_t at = 0; at < stream.size(); at += piece) {
      std::string frames = splitter.feed(std::string_view(stream).substr(at, piece));
      if (!frames.empty()) {
        EXPECT_TRUE(frames.ends_with("\n\n") || frames.ends_with("\r\n\r\n") || frames.ends_with("\r\r")) << piece;
      }
      out += frames;
    }
    EXPECT_EQ(out, stream) << piece;
    EXPECT_TRUE(splitter.pending().empty());
  }
  SseFrameSplitter cut;
  EXPECT_EQ(cut.feed("data: 1\n\ndata: 2"), "data: 1\n\n");
  EXPECT_EQ(cut.pending(), "data: 2");
}

}  // namespace
}  // namespace tandem::cloud
