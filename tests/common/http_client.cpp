#include "tests/common/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace tandem::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpClient::Impl {
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  std::chrono::milliseconds timeout;
  std::optional<bhttp::response_parser<bhttp::string_body>> streaming;

  // Runs one async operation to completion under the timeout.
  template <typename Start>
  beast::error_code run(Start start) {
    beast::error_code result = asio::error::would_block;
    stream.expires_after(timeout);
    start([&](beast::error_code ec, std::size_t) { result = ec; });
    io.restart();
    io.run();
    return result;
  }

  void check(beast::error_code ec, const char* what) {
    if (ec) throw std::runtime_error(std::string(what) + ": " + ec.message());
  }

  static HttpResponse convert(const bhttp::response<bhttp::string_body>& message) {
    HttpResponse response;
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      response.headers[name] = std::string(field.value());
    }
    response.body = message.body();
    response.keep_alive = message.keep_alive();
    return response;
  }

  void write_request(const std::string& method, const std::string& target,
                     const std::string& body, const HeaderList& headers) {
    bhttp::request<bhttp::string_body> request{bhttp::string_to_verb(method), target, 11};
    request.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    check(run([&](auto handler) { bhttp::async_write(stream, request, handler); }), "write");
  }
};

HttpClient::HttpClient(const std::string& host, std::uint16_t port,
                       std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
  tcp::endpoint endpoint(asio::ip::make_address(host), port);
  impl_->check(impl_->run([&](auto handler) {
    impl_->stream.async_connect(endpoint,
                                [handler](beast::error_code ec) mutable { handler(ec, 0); });
  }),
               "connect");
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::request(const std::string& method, const std::string& target,
                                 const std::string& body, const HeaderList& headers) {
  impl_->write_request(method, target, body, headers);
  return read_response();
}

void HttpClient::send_raw(const std::string& bytes) {
  impl_->check(impl_->run([&](auto handler) {
    asio::async_write(impl_->stream, asio::buffer(bytes), handler);
  }),
               "write");
}

HttpResponse HttpClient::read_response() {
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  impl_->check(impl_->run([&](auto handler) {
    bhttp::async_read(impl_->stream, impl_->buffer, parser, handler);
  }),
               "read response");
  return Impl::convert(parser.get());
}

HttpResponse HttpClient::start_request(const std::string& method, const std::string& target,
                                       const HeaderList& headers, const std::string& body) {
  impl_->write_request(method, target, body, headers);
  impl_->streaming.emplace();
  impl_->streaming->body_limit(64 * 1024 * 1024);
  impl_->check(impl_->run([&](auto handler) {
    bhttp::async_read_header(impl_->stream, impl_->buffer, *impl_->streaming, handler);
  }),
               "read header");
  return Impl::convert(impl_->streaming->get());
}

std::string HttpClient::read_more(bool& done) {
  auto& parser = *impl_->streaming;
  if (!parser.is_done()) {
    impl_->check(impl_->run([&](auto handler) {
      bhttp::async_read_some(impl_->stream, impl_->buffer, parser, handler);
    }),
                 "read body");
  }
  done = parser.is_done();
  return parser.get().body();
}

bool HttpClient::closed_by_server(std::chrono::milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  char sink[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    beast::error_code result = asio::error::would_block;
    impl_->stream.expires_at(deadline);
    impl_->stream.async_read_some(asio::buffer(sink),
                                  [&](beast::error_code ec, std::size_t) { result = ec; });
    impl_->io.restart();
    impl_->io.run();
    if (result == beast::error::timeout) return false;
    if (result) return true;  // eof or reset
  }
  return false;
}

void HttpClient::close() {
  beast::error_code ignored;
  impl_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->stream.socket().close(ignored);
}

HttpResponse http_request(std::uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body, const HeaderList& headers) {
  HttpClient client("127.0.0.1", port);
  return client.request(method, target, body, headers);
}

}  // namespace tandem::test
