// A scripted fake of an OpenAI / Anthropic upstream for tests and benchmarks: a Beast HTTP/1.1
// server in-process on 127.0.0.1 (port 0), answering each request with the next scripted
// response (status, headers, a body written piece by piece, faults), recording every request it
// got and noticing when a client closes its connection mid-answer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::fakes {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct RecordedRequest {
  std::string method;
  std::string target;
  HeaderList headers;  // names in lower case, in arrival order
  std::string body;
  std::uint64_t connection = 0;  // which TCP connection carried it (1, 2, ...)

  std::string header(std::string_view lower_name) const;  // empty when absent
  bool has_header(std::string_view lower_name) const;
};

enum class Fault {
  none,
  reset_before_headers,  // TCP reset instead of an answer
  stall_before_headers,  // never answers (until the client leaves)
  reset_mid_body,        // reset after `fault_after` body pieces
  stall_mid_body,        // stops sending after `fault_after` pieces (until the client leaves)
  close_mid_body,        // orderly close after `fault_after` pieces (a truncated answer)
};

struct ScriptedResponse {
  int status = 200;
  HeaderList headers;               // added after the status line (Content-Length/TE are the fake's)
  std::vector<std::string> pieces;  // the body, written one write per piece
  bool chunked = false;             // Transfer-Encoding: chunked (streams); else Content-Length
  std::chrono::milliseconds headers_delay{0};  // before the status line
  std::chrono::milliseconds gap{0};            // before every piece after the first (slow drip)
  Fault fault = Fault::none;
  std::size_t fault_after = 0;
};

// Ready-made responses.
ScriptedResponse json_response(int status, std::string body, HeaderList extra_headers = {});
// A text/event-stream answer (chunked); `frames` are complete SSE frames ("event: x\ndata: y\n\n").
ScriptedResponse sse_response(std::vector<std::string> frames, HeaderList extra_headers = {});

class FakeUpstream {
 public:
  using Script = std::function<ScriptedResponse(const RecordedRequest&)>;

  // `port` 0 picks a free one (tests); the standalone fake takes one from its command line.
  explicit FakeUpstream(int threads = 1, std::uint16_t port = 0);
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:PORT"

  // Queued responses are served first, in order; then the script; without either, 404.
  void enqueue(ScriptedResponse response);
  void set_script(Script script);
  // Benchmarks turn recording off so the fake's memory stays flat.
  void set_recording(bool on);

  std::vector<RecordedRequest> requests() const;
  std::size_t request_count() const;
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;
  // Responses the client abandoned: it closed the connection before the answer was complete.
  std::size_t aborted_responses() const;
  bool wait_for_aborted_responses(std::size_t count, std::chrono::milliseconds timeout) const;
  std::size_t connections_accepted() const;

 private:
  struct Impl;
  friend struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

}  // namespace tandem::fakes
