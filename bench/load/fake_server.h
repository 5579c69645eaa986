// An in-process OpenAI/Anthropic-shaped SSE server for tandem-load's self-test. It answers
// GET /v1/models, POST /v1/chat/completions, /v1/completions and /v1/messages with a fixed
// number of content deltas, on 127.0.0.1 and an ephemeral port, from its own thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace tandem::load::test {

struct FakeServerOptions {
  unsigned status = 200;                  // anything else: every POST gets that error status
  int chunks = 5;                         // content deltas per reply
  int tokens_per_chunk = 2;               // usage reports chunks * tokens_per_chunk
  std::chrono::milliseconds delay{2};     // pause before each delta
  bool honor_include_usage = true;        // false: never send an OpenAI usage chunk
  bool error_after_first_delta = false;   // send an in-band error event, then end the stream
  bool hang_up_after_reply = false;       // close every connection after one reply, unannounced
  std::string model = "fake-model";
};

class FakeServer {
 public:
  explicit FakeServer(FakeServerOptions options);
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  std::string url() const;  // "http://127.0.0.1:PORT"
  int posts_received() const;
  std::string last_post_body() const;
  std::string last_post_target() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::load::test
