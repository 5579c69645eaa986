// The scheduler's life-cycle guarantees seen from HTTP clients: a client that leaves (or stops
// reading) frees its sequence and KV blocks, a full queue says 429 / 529 with retry-after (and queued Anthropic
// streams get pings), SIGTERM lets running streams finish, a bad model file exits 1.
// These use synth-llama-F32 (random weights, 2048 context) served with the hidden
// --debug-step-delay, so every token takes at least kStepDelay on any CPU: a long generation
// provably is still running when the test acts on it.
#include "tests/api/api_test_util.h"

#include <csignal>
#include <filesystem>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

  // The session's watch on the socket notices at once (the queue heartbeat would, a moment
  // later), and the queue empties while the first request still runs.
  std::string last;
  bool dropped = metrics_eventually(port, [&](const std::string& text) {
    last = text;
    return metric(text, label("tandem_scheduler_waiting_requests")) == 0.0 &&
           metric(text, label("tandem_scheduler_cancelled_total")) == 1.0 &&
           metric(text, label("tandem_scheduler_running_sequences")) == 1.0;
  });
  EXPECT_TRUE(dropped) << last;
  EXPECT_TRUE(server.wait_for_output("client closed the connection; cancelling its request", std::chrono::seconds(5)))
      << server.output();
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

// A socket to 127.0.0.1:port with a tiny receive buffer, that sends `request` and then never
// reads: the server's writes stall once the kernel buffers on both sides are full.
class NonReadingClient {
 public:
  NonReadingClient(std::uint16_t port, const std::string& request) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);  // before connect: sets the window
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                 ::send(fd_, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size());
  }
  ~NonReadingClient() { ::close(fd_); }
  bool connected() const { return connected_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

TEST(Lifecycle, AClientThatStopsReadingLosesOnlyItsOwnRequest) {
  // A fast tiny model with a long context.
  const std::string vocab = synth_path();
  ASSERT_FALSE(vocab.empty());
  const std::string model = (std::filesystem::path(::testing::TempDir()) /
                             ("slow-reader-" + std::to_string(::getpid()) + ".gguf")).string();
  auto [code, output] = run_tandem({"synth-model", "--out", model, "--vocab-from", vocab, "--dim", "32", "--layers",
                                    "1", "--heads", "2", "--kv-heads", "1", "--ff", "64", "--ctx", "16384"});
  ASSERT_EQ(code, 0) << output;
  // One sequence at a time: if the stalled stream kept its place, nothing else would run.
  TandemProcess server(TandemProcess::server_arguments(
      {"--model", model, "--alias", "tiny", "--parallel", "1", "--ctx-size", "16384"}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();

  // Each streamed token carries its 20 most likely alternatives (~1.3 KB an event), so the
  // never-read stream outgrows the kernel's socket buffers (4 MiB at most by default) and then the
  // session's event stream within a few thousand tokens, far below max_tokens.
  constexpr int kMaxTokens = 12000;
  json::object body;
  body["model"] = "tiny";
  body["messages"] = json::array{json::object{{"role", "user"}, {"content", "Once upon a time"}}};
  body["max_tokens"] = kMaxTokens;
  body["temperature"] = 0;
  body["stream"] = true;
  body["logprobs"] = true;
  body["top_logprobs"] = 20;
  body["logit_bias"] = json::object{{"2", -100}};  // no end of sequence: it would run to max_tokens
  const std::string text = json::serialize(body);
  NonReadingClient stalled(port, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 "Content-Type: application/json\r\nContent-Length: " +
                                     std::to_string(text.size()) + "\r\n\r\n" + text);
  ASSERT_TRUE(stalled.connected());

  // The stalled request is cancelled once its stream can no longer be written (or falls too far
  // behind), its KV blocks freed, well before max_tokens...
  std::string last;
  bool freed = metrics_eventually(port, [&](const std::string& metrics) {
    last = metrics;
    return metric(metrics, label("tandem_scheduler_cancelled_total")) == 1.0 &&
           metric(metrics, label("tandem_scheduler_running_sequences")) == 0.0 &&
           metric(metrics, label("tandem_scheduler_kv_blocks_used")) == 0.0;
  }, std::chrono::seconds(120));
  ASSERT_TRUE(freed) << last;
  EXPECT_LT(metric(last, label("tandem_scheduler_generated_tokens_total")).value_or(1e9), kMaxTokens);
  // ...and the next client, behind it on the one sequence slot, is answered in full.
  json::object next;
  next["model"] = "tiny";
  next["prompt"] = "Hello";
  next["max_tokens"] = 5;
  next["temperature"] = 0;
  next["logit_bias"] = json::object{{"2", -100}};
  auto answer = post_json(port, "/v1/completions", next);
  ASSERT_EQ(answer.status, 200) << answer.body;
  const auto parsed = parse(answer.body);
  EXPECT_EQ(parsed.at("usage").at("completion_tokens"), 5) << answer.body;
  EXPECT_EQ(parsed.at("choices").at(0).at("finish_reason"), "length") << answer.body;
  std::filesystem::remove(model);
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
