// The scheduler's life-cycle guarantees seen from HTTP clients: a client that leaves frees its
// sequence and KV blocks, a full queue says 429 / 529 with retry-after (and queued Anthropic
// streams get pings), SIGTERM lets running streams finish, a bad model file exits 1.
// These use synth-llama-F32 (random weights, 2048 context) served with the hidden
// --debug-step-delay, so every token takes at least kStepDelay on any CPU: a long generation
// provably is still running when the test acts on it.
#include "tests/api/api_test_util.h"

#include <csignal>

namespace tandem::test {
namespace {

std::string synth_path() { return shared_file("models/synth-llama-F32.gguf"); }

constexpr std::chrono::milliseconds kStepDelay{20};

// The server arguments with the test pacing added.
std::vector<std::string> paced(std::vector<std::string> arguments) {
  arguments.push_back("--debug-step-delay");
  arguments.push_back(std::to_string(kStepDelay.count()));
  return TandemProcess::server_arguments(std::move(arguments));
}

json::object long_completion(int max_tokens) {
  json::object body;
  body["model"] = "synth-llama-F32";
  body["prompt"] = "Once upon a time";
  body["max_tokens"] = max_tokens;
  body["temperature"] = 0;
  body["stream"] = true;
  return body;
}

json::object message(int max_tokens, bool stream) {
  json::object user;
  user["role"] = "user";
  user["content"] = "Hello";
  json::object body;
  body["model"] = "synth-llama-F32";
  body["messages"] = json::array{user};
  body["max_tokens"] = max_tokens;
  body["temperature"] = 0;
  if (stream) body["stream"] = true;
  return body;
}

std::string label(const std::string& name) { return name + "{"; }

TEST(Lifecycle, ClientThatDisconnectsFreesItsSequenceAndKvBlocks) {
  auto model = synth_path();
  ASSERT_FALSE(model.empty());
  TandemProcess server(paced({"--model", model, "--parallel", "2"}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();

  SseClient client(port, "/v1/completions", json::serialize(long_completion(1500)));
  ASSERT_EQ(client.status(), 200);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.next_event().has_value());
  client.abort();

  std::string last;
  bool freed = metrics_eventually(port, [&](const std::string& text) {
    last = text;
    return metric(text, label("tandem_scheduler_running_sequences")) == 0.0 &&
           metric(text, label("tandem_scheduler_kv_blocks_used")) == 0.0 &&
           metric(text, label("tandem_scheduler_cancelled_total")) == 1.0;
  });
  EXPECT_TRUE(freed) << last;
  EXPECT_LT(metric(last, label("tandem_scheduler_generated_tokens_total")).value_or(1e9), 1500);
  EXPECT_GT(metric(last, label("tandem_scheduler_kv_blocks_capacity")).value_or(0), 0);
}

TEST(Lifecycle, FullQueueIs429ForOpenAiAnd529ForAnthropicWithRetryAfter) {
  auto model = synth_path();
  ASSERT_FALSE(model.empty());
  TandemProcess server(paced({"--model", model, "--parallel", "1", "--max-queue", "1", "--queue-heartbeat", "0.2"}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();

  // One request runs, one waits: the queue (1) is full.
  SseClient running(port, "/v1/completions", json::serialize(long_completion(1800)));
  ASSERT_EQ(running.status(), 200);
  ASSERT_TRUE(running.next_event().has_value());
  SseClient queued(port, "/v1/messages", json::serialize(message(8, true)));
  ASSERT_EQ(queued.status(), 200);
  auto start = queued.next_event();
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(start->event, "message_start") << "Anthropic streams start at once, even while queued";

  json::object chat = message(8, false);
  auto openai = post_json(port, "/v1/chat/completions", chat);
  EXPECT_EQ(openai.status, 429) << openai.body;
  EXPECT_EQ(parse(openai.body).at("error").at("type"), "rate_limit_error");
  EXPECT_EQ(openai.header("retry-after"), "1");  // seconds: a queue slot frees within a step or two

  auto anthropic = post_json(port, "/v1/messages", chat);
  EXPECT_EQ(anthropic.status, 529) << anthropic.body;
  EXPECT_EQ(parse(anthropic.body).at("error").at("type"), "overloaded_error");
  EXPECT_EQ(anthropic.header("retry-after"), "1");

  // While it waits, the queued stream hears pings (every 0.2 s here).
  auto next = queued.next_event();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->event, "ping");

  // The running client leaves: the queued request gets its turn and completes.
  running.abort();
  StreamedText rest;
  while (auto event = queued.next_event()) add_event(rest, *event);
  EXPECT_TRUE(rest.done);
  EXPECT_EQ(rest.finish_reason, "max_tokens");
}

TEST(Lifecycle, NonStreamingClientThatLeavesWhileQueuedIsDropped) {
  auto model = synth_path();
  ASSERT_FALSE(model.empty());
  TandemProcess server(paced({"--model", model, "--parallel", "1", "--max-queue", "4", "--queue-heartbeat", "0.2"}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();

  SseClient running(port, "/v1/completions", json::serialize(long_completion(1800)));
  ASSERT_EQ(running.status(), 200);
  ASSERT_TRUE(running.next_event().has_value());

  // A non-streaming request queues behind it; its client gives up and closes the connection.
  const std::string body = json::serialize(message(8, false));
  HttpClient leaving("127.0.0.1", port);
  leaving.send_raw("POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                   "content-length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_TRUE(metrics_eventually(port, [&](const std::string& text) {
    return metric(text, label("tandem_scheduler_waiting_requests")) == 1.0;
  }));
  leaving.close();

  // The next heartbeat notices, and the queue empties while the first request still runs.
  std::string last;
  bool dropped = metrics_eventually(port, [&](const std::string& text) {
    last = text;
    return metric(text, label("tandem_scheduler_waiting_requests")) == 0.0 &&
           metric(text, label("tandem_scheduler_cancelled_total")) == 1.0 &&
           metric(text, label("tandem_scheduler_running_sequences")) == 1.0;
  });
  EXPECT_TRUE(dropped) << last;
  EXPECT_TRUE(server.wait_for_output("client left while queued", std::chrono::seconds(5))) << server.output();
}

TEST(Lifecycle, SigtermWhileStreamingLetsTheStreamFinish) {
  auto model = synth_path();
  ASSERT_FALSE(model.empty());
  TandemProcess server(paced({"--model", model}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();

  // 100 tokens at >= 20 ms each: the generation takes at least 2 s, within the 10 s drain.
  constexpr int kTokens = 100;
  SseClient client(port, "/v1/completions", json::serialize(long_completion(kTokens)));
  ASSERT_EQ(client.status(), 200);
  StreamedText streamed;
  auto first = client.next_event();
  ASSERT_TRUE(first.has_value());
  const auto first_seen = std::chrono::steady_clock::now();
  add_event(streamed, *first);
  const size_t text_before_signal = streamed.text.size();
  server.terminate();
  // The signal went out before the server could have generated every token: the stream was
  // still running when it arrived (each step takes at least kStepDelay).
  const auto signal_after = std::chrono::steady_clock::now() - first_seen;
  EXPECT_LT(signal_after, (kTokens - 2) * kStepDelay) << "the test was too slow to signal a running stream";
  while (auto event = client.next_event()) add_event(streamed, *event);
  EXPECT_TRUE(streamed.done) << "the stream was cut: " << server.output();
  EXPECT_EQ(streamed.finish_reason, "length");
  EXPECT_GT(streamed.text.size(), text_before_signal) << "nothing was generated after the signal";
  EXPECT_TRUE(server.wait_for_output("received signal", std::chrono::seconds(5))) << server.output();
  EXPECT_EQ(server.wait_exit(), 0) << server.output();
}

TEST(Lifecycle, AModelThatCannotLoadExitsWithCode1AndSaysWhy) {
  auto [code, output] = run_tandem(TandemProcess::server_arguments({"--model", "/nonexistent/model.gguf"}));
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("cannot load model '/nonexistent/model.gguf'"), std::string::npos) << output;

  auto [bad_code, bad_output] = run_tandem(TandemProcess::server_arguments({"--model", TANDEM_SOURCE_DIR "/README.md"}));
  EXPECT_EQ(bad_code, 1) << bad_output;
  EXPECT_NE(bad_output.find("cannot load model"), std::string::npos) << bad_output;
}

}  // namespace
}  // namespace tandem::test
