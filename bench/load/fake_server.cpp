#include "bench/load/fake_server.h"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <mutex>
#include <thread>
#include <vector>

namespace tandem::load::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);

enum class Kind { chat, completions, messages };

std::string sse(const json::value& data, const std::string& event_name = "", const char* eol = "\n") {
  std::string out;
  if (!event_name.empty()) out += "event: " + event_name + eol;
  return out + "data: " + json::serialize(data) + eol + eol;
}

json::object openai_chunk(Kind kind, const std::string& text) {
  json::object choice{{"index", 0}, {"finish_reason", nullptr}};
  if (kind == Kind::chat) {
    choice["delta"] = json::object{{"content", text}};
  } else {
    choice["text"] = text;
  }
  return json::object{{"id", "x"}, {"object", "chat.completion.chunk"}, {"choices", json::array{choice}}};
}

}  // namespace

struct FakeServer::Impl {
  explicit Impl(FakeServerOptions o) : options(std::move(o)), acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ioc, accept_loop(), asio::detached);
    thread = std::thread([this] { ioc.run(); });
  }
  ~Impl() {
    ioc.stop();
    thread.join();
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(nothrow_awaitable);
      if (ec) co_return;
      asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      if (auto [ec, n] = co_await http::async_read(stream, buffer, req, nothrow_awaitable); ec) co_return;
      const bool keep_alive = req.keep_alive();
      bool ok = true;
      if (req.method() == http::verb::get && req.target() == "/v1/models") {
        // Built outside the co_await: GCC 12 miscompiles braced literals inside one.
        const json::value models = models_reply();
        ok = co_await write_json(stream, http::status::ok, models, keep_alive);
      } else if (req.method() == http::verb::post) {
        ok = co_await answer_post(stream, req, keep_alive);
      } else {
        const json::value error = no_route_reply();
        ok = co_await write_json(stream, http::status::not_found, error, keep_alive);
      }
      if (!ok || !keep_alive || options.hang_up_after_reply) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  json::value models_reply() const {
    return json::object{{"object", "list"}, {"data", json::array{json::object{{"id", options.model}}}}};
  }
  static json::value no_route_reply() { return json::object{{"error", "no route"}}; }

  asio::awaitable<bool> write_json(beast::tcp_stream& stream, http::status status, const json::value& body,
                                   bool keep_alive) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(keep_alive);
    res.body() = json::serialize(body);
    res.prepare_payload();
    auto [ec, n] = co_await http::async_write(stream, res, nothrow_awaitable);
    co_return !ec;
  }

  asio::awaitable<bool> answer_post(beast::tcp_stream& stream, const http::request<http::string_body>& req,
                                    bool keep_alive) {
    {
      std::lock_guard lock(mutex);
      last_body = req.body();
      last_target = std::string(req.target());
    }
    ++posts;
    const std::string_view target = req.target();
    const Kind kind = target == "/v1/messages"      ? Kind::messages
                      : target == "/v1/completions" ? Kind::completions
                                                    : Kind::chat;
    if (options.status != 200) {
      json::object error{{"type", kind == Kind::messages ? "overloaded_error" : "rate_limit_error"},
                         {"message", "fake server is busy"}};
      json::object body{{"error", error}};
      if (kind == Kind::messages) body["type"] = "error";
      co_return co_await write_json(stream, static_cast<http::status>(options.status), body, keep_alive);
    }
    const json::value request = json::parse(req.body());
    const json::value* stream_flag = request.as_object().if_contains("stream");
    const bool streamed = stream_flag && stream_flag->is_bool() && stream_flag->get_bool();
    const std::int64_t tokens = std::int64_t{options.chunks} * options.tokens_per_chunk;
    if (!streamed) {
      std::string text;
      for (int i = 0; i < options.chunks; ++i) text += "word ";
      json::object body;
      if (kind == Kind::messages) {
        body = {{"type", "message"},
                {"content", json::array{json::object{{"type", "text"}, {"text", text}}}},
                {"usage", json::object{{"input_tokens", 3}, {"output_tokens", tokens}}}};
      } else {
        json::object choice{{"index", 0}, {"finish_reason", "length"}};
        if (kind == Kind::chat) {
          choice["message"] = json::object{{"role", "assistant"}, {"content", text}};
        } else {
          choice["text"] = text;
        }
        body = {{"choices", json::array{choice}}, {"usage", json::object{{"completion_tokens", tokens}}}};
      }
      co_return co_await write_json(stream, http::status::ok, body, keep_alive);
    }
    bool include_usage = false;
    if (const auto* so = request.as_object().if_contains("stream_options"); so && so->is_object()) {
      const auto* flag = so->as_object().if_contains("include_usage");
      include_usage = flag && flag->is_bool() && flag->get_bool();
    }
    co_return co_await stream_reply(stream, kind, include_usage && options.honor_include_usage, tokens, keep_alive);
  }

  std::vector<std::string> events_for(Kind kind, bool include_usage, std::int64_t tokens) const {
    std::vector<std::string> events;
    if (kind == Kind::messages) {
      // CRLF line endings here, LF for OpenAI: the client must handle both.
      const char* crlf = "\r\n";
      events.push_back(sse(json::object{{"type", "message_start"},
                                        {"message", json::object{{"usage", json::object{{"output_tokens", 1}}}}}},
                           "message_start", crlf));
      events.push_back(sse(json::object{{"type", "ping"}}, "ping", crlf));
      for (int i = 0; i < options.chunks; ++i) {
        events.push_back(sse(json::object{{"type", "content_block_delta"},
                                          {"index", 0},
                                          {"delta", json::object{{"type", "text_delta"}, {"text", "word "}}}},
                             "content_block_delta", crlf));
        if (i == 0 && options.error_after_first_delta) {
          events.push_back(sse(json::object{{"type", "error"},
                                            {"error", json::object{{"type", "api_error"}, {"message", "boom"}}}},
                               "error", crlf));
          return events;
        }
      }
      events.push_back(sse(json::object{{"type", "message_delta"},
                                        {"delta", json::object{{"stop_reason", "max_tokens"}}},
                                        {"usage", json::object{{"output_tokens", tokens}}}},
                           "message_delta", crlf));
      events.push_back(sse(json::object{{"type", "message_stop"}}, "message_stop", crlf));
      return events;
    }
    if (kind == Kind::chat) events.push_back(sse(openai_chunk(kind, "")));  // role-only opener
    for (int i = 0; i < options.chunks; ++i) {
      events.push_back(sse(openai_chunk(kind, "word ")));
      if (i == 0 && options.error_after_first_delta) {
        events.push_back(sse(json::object{{"error", json::object{{"type", "server_error"}, {"message", "boom"}}}}));
        return events;
      }
    }
    if (include_usage)
      events.push_back(sse(json::object{{"choices", json::array{}},
                                        {"usage", json::object{{"completion_tokens", tokens}}}}));
    events.push_back("data: [DONE]\n\n");
    return events;
  }

  asio::awaitable<bool> stream_reply(beast::tcp_stream& stream, Kind kind, bool include_usage, std::int64_t tokens,
                                     bool keep_alive) {
    http::response<http::empty_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "text/event-stream");
    res.chunked(true);
    res.keep_alive(keep_alive);
    http::response_serializer<http::empty_body> serializer{res};
    if (auto [ec, n] = co_await http::async_write_header(stream, serializer, nothrow_awaitable); ec) co_return false;
    asio::steady_timer timer(stream.get_executor());
    for (const std::string& event : events_for(kind, include_usage, tokens)) {
      timer.expires_after(options.delay);
      co_await timer.async_wait(nothrow_awaitable);
      // Each event goes out in two HTTP chunks so the client's SSE parser sees split lines.
      const std::size_t half = event.size() / 2;
      for (auto part : {std::string_view(event).substr(0, half), std::string_view(event).substr(half)}) {
        auto [ec, n] = co_await asio::async_write(stream, http::make_chunk(asio::buffer(part)), nothrow_awaitable);
        if (ec) co_return false;
      }
    }
    auto [ec, n] = co_await asio::async_write(stream, http::make_chunk_last(), nothrow_awaitable);
    co_return !ec;
  }

  FakeServerOptions options;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  std::thread thread;
  std::atomic<int> posts{0};
  mutable std::mutex mutex;
  std::string last_body;
  std::string last_target;
};

FakeServer::FakeServer(FakeServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
FakeServer::~FakeServer() = default;

std::string FakeServer::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->acceptor.local_endpoint().port());
}
int FakeServer::posts_received() const { return impl_->posts.load(); }
std::string FakeServer::last_post_body() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->last_body;
}
std::string FakeServer::last_post_target() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->last_target;
}

}  // namespace tandem::load::test
