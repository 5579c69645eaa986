// A small synchronous HTTP/1.1 client for tests (Beast underneath, with a timeout on every
// operation so a misbehaving server fails the test instead of hanging it).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tandem::test {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool keep_alive = false;

  std::string header(const std::string& lower_name) const;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  // Connects to host:port; throws std::runtime_error when that fails.
  HttpClient(const std::string& host, std::uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One request/response on this connection (kept alive unless the server closes it).
  // Throws std::runtime_error on a transport error or timeout.
  HttpResponse request(const std::string& method, const std::string& target,
                       const std::string& body = {}, const HeaderList& headers = {});

  // Raw access for malformed / stalled / streaming clients.
  void send_raw(const std::string& bytes);
  // Sends the request and reads only the response header (e.g. of an SSE stream).
  HttpResponse start_request(const std::string& method, const std::string& target,
                             const HeaderList& headers = {}, const std::string& body = {});
  // After start_request: reads more of the body and returns the body read so far; throws on
  // timeout. `done` becomes true at the end of the body.
  std::string read_more(bool& done);
  // Reads a whole response after send_raw().
  HttpResponse read_response();
  // True when the server closes the connection within `within` (reads and discards data).
  bool closed_by_server(std::chrono::milliseconds within);
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a fresh connection to 127.0.0.1:port.
HttpResponse http_request(std::uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body = {}, const HeaderList& headers = {});

}  // namespace tandem::test
