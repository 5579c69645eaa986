// A blocking client for one streaming POST (tests only): sends the request, then hands out the
// Server-Sent Events of the response as they arrive. Every read has a timeout, so a stalled
// server fails the test instead of hanging it.
#pragma once

#include "schemas/sse.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tandem::test {

class SseClient {
 public:
  // Connects to 127.0.0.1:port, POSTs `body` (JSON) and reads the response header.
  SseClient(std::uint16_t port, const std::string& target, const std::string& body,
            const std::vector<std::pair<std::string, std::string>>& headers = {},
            std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~SseClient();

  int status() const;
  std::string header(const std::string& lower_name) const;
  // The next event; nullopt once the response body is complete. Throws std::runtime_error on a
  // transport error or timeout.
  std::optional<schemas::SseEvent> next_event();
  // Everything until the end of the body.
  std::vector<schemas::SseEvent> rest();
  // The whole body of a non-streaming (e.g. error) response.
  std::string read_body();
  // Drops the connection (a client that goes away mid-stream).
  void abort();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::test
