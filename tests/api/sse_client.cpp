#include "tests/api/sse_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <deque>
#include <stdexcept>

namespace tandem::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

struct SseClient::Impl {
  asio::io_context io;
  asio::ip::tcp::socket socket{io};
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  size_t consumed = 0;  // body bytes already fed to the SSE parser
  schemas::SseParser sse;
  std::deque<schemas::SseEvent> ready;

  void read_some() {
    beast::error_code ec;
    bhttp::read_some(socket, buffer, parser, ec);
    if (ec) throw std::runtime_error("reading the response failed: " + ec.message());
    const auto& body = parser.get().body();
    if (body.size() > consumed) {
      auto events = sse.feed(std::string_view(body).substr(consumed));
      consumed = body.size();
      for (auto& event : events) ready.push_back(std::move(event));
    }
  }
};

SseClient::SseClient(std::uint16_t port, const std::string& target, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->socket.connect({asio::ip::make_address("127.0.0.1"), port});
  timeval tv{};
  tv.tv_sec = static_cast<long>(timeout.count() / 1000);
  tv.tv_usec = static_cast<long>((timeout.count() % 1000) * 1000);
  setsockopt(impl_->socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(impl_->socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  bhttp::request<bhttp::string_body> request{bhttp::verb::post, target, 11};
  request.set(bhttp::field::host, "127.0.0.1");
  request.set(bhttp::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  bhttp::write(impl_->socket, request);
  impl_->parser.body_limit(64 * 1024 * 1024);
  beast::error_code ec;
  bhttp::read_header(impl_->socket, impl_->buffer, impl_->parser, ec);
  if (ec) throw std::runtime_error("reading the response header failed: " + ec.message());
}

SseClient::~SseClient() = default;

int SseClient::status() const { return static_cast<int>(impl_->parser.get().result_int()); }

std::string SseClient::header(const std::string& lower_name) const {
  auto it = impl_->parser.get().find(lower_name);
  return it == impl_->parser.get().end() ? std::string() : std::string(it->value());
}

std::optional<schemas::SseEvent> SseClient::next_event() {
  while (impl_->ready.empty()) {
    if (impl_->parser.is_done()) return std::nullopt;
    impl_->read_some();
  }
  auto event = std::move(impl_->ready.front());
  impl_->ready.pop_front();
  return event;
}

std::vector<schemas::SseEvent> SseClient::rest() {
  std::vector<schemas::SseEvent> events;
  while (auto event = next_event()) events.push_back(std::move(*event));
  return events;
}

std::string SseClient::read_body() {
  while (!impl_->parser.is_done()) impl_->read_some();
  return impl_->parser.get().body();
}

void SseClient::abort() {
  beast::error_code ignored;
  // RST rather than FIN: the server's next write fails at once, as with a crashed client.
  impl_->socket.set_option(asio::socket_base::linger(true, 0), ignored);
  impl_->socket.close(ignored);
}

}  // namespace tandem::test
