// The fake upstream's server: one coroutine per connection on a strand; the response is written
// by hand (status line, headers, chunk framing) so faults can strike anywhere.
#include "tests/fakes/fake_upstream.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <thread>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

namespace tandem::fakes {

std::string RecordedRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return value;
  return {};
}

bool RecordedRequest::has_header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return true;
  return false;
}

ScriptedResponse json_response(int status, std::string body, HeaderList extra_headers) {
  ScriptedResponse response;
  response.status = status;
  response.headers = std::move(extra_headers);
  response.headers.emplace_back("content-type", "application/json");
  response.pieces.push_back(std::move(body));
  return response;
}

ScriptedResponse sse_response(std::vector<std::string> frames, HeaderList extra_headers) {
  ScriptedResponse response;
  response.headers = std::move(extra_headers);
  response.headers.emplace_back("content-type", "text/event-stream");
  response.headers.emplace_back("cache-control", "no-cache");
  response.pieces = std::move(frames);
  response.chunked = true;
  return response;
}

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string chunk_frame(std::string_view piece) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
  std::string out(size);
  out.append(piece);
  out.append("\r\n");
  return out;
}

// What one in-flight response shares with the watcher that notices the client leaving.
struct ResponseState {
  explicit ResponseState(asio::any_io_executor executor) : timer(executor) {}
  asio::steady_timer timer;
  bool client_gone = false;
  bool done = false;
};

}  // namespace

struct FakeUpstream::Impl {
  Impl(int thread_count, std::uint16_t port) : acceptor(io) {
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    asio::co_spawn(io, accept_loop(), asio::detached);
    for (int i = 0; i < std::max(1, thread_count); ++i) threads.emplace_back([this] { io.run(); });
  }

  ~Impl() {
    io.stop();
    for (auto& thread : threads) thread.join();
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io), asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        continue;
      }
      std::uint64_t id = ++accepted;
      socket.set_option(tcp::no_delay(true));
      auto executor = socket.get_executor();
      asio::co_spawn(executor, session(std::move(socket), id), asio::detached);
    }
  }

  ScriptedResponse next_response(const RecordedRequest& request) {
    std::lock_guard lock(mutex);
    if (!queued.empty()) {
      ScriptedResponse response = std::move(queued.front());
      queued.pop_front();
      return response;
    }
    if (script) return script(request);
    return json_response(404, R"({"error":"the fake upstream has no answer scripted"})");
  }

  void record(RecordedRequest request) {
    std::lock_guard lock(mutex);
    ++request_total;
    if (recording) recorded.push_back(std::move(request));
    changed.notify_all();
  }

  void note_abort() {
    std::lock_guard lock(mutex);
    ++aborted;
    changed.notify_all();
  }

  asio::awaitable<void> session(tcp::socket socket, std::uint64_t connection) {
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      auto [ec, bytes] = co_await bhttp::async_read(socket, buffer, parser, asio::as_tuple(asio::use_awaitable));
      (void)bytes;
      if (ec) co_return;
      auto& message = parser.get();
      RecordedRequest request;
      request.method = std::string(message.method_string());
      request.target = std::string(message.target());
      for (const auto& field : message) request.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
      request.body = std::move(message.body());
      request.connection = connection;
      bool keep_alive = message.keep_alive();
      ScriptedResponse response = next_response(request);
      record(std::move(request));
      bool reusable = co_await respond(socket, response, keep_alive);
      if (!reusable) co_return;
    }
  }

  // Waits `delay` unless the client leaves first; false when it left.
  static asio::awaitable<bool> pause(const std::shared_ptr<ResponseState>& state, std::chrono::milliseconds delay) {
    if (state->client_gone) co_return false;
    state->timer.expires_after(delay);
    auto [ec] = co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
    co_return !state->client_gone;
  }

  void watch_for_close(tcp::socket& socket, const std::shared_ptr<ResponseState>& state) {
    socket.async_wait(tcp::socket::wait_read, [this, &socket, state](boost::system::error_code ec) {
      if (ec || state->done) return;
      char probe;
      boost::system::error_code peek_error;
      std::size_t n = socket.receive(asio::buffer(&probe, 1), tcp::socket::message_peek, peek_error);
      if (n > 0 && !peek_error) return;  // a pipelined request, not a close
      state->client_gone = true;
      state->timer.cancel();
    });
  }

  static void reset(tcp::socket& socket) {
    boost::system::error_code ignored;
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
  }

  asio::awaitable<bool> respond(tcp::socket& socket, const ScriptedResponse& response, bool keep_alive) {
    auto state = std::make_shared<ResponseState>(socket.get_executor());
    // Only an answer that waits can outlive its client; one written at once needs no watch (a
    // watch costs the fake a system call per request, which benchmarks count against the server).
    const bool waits = response.headers_delay.count() > 0 || (response.gap.count() > 0 && response.pieces.size() > 1) ||
                       response.fault == Fault::stall_before_headers || response.fault == Fault::stall_mid_body;
    if (waits) watch_for_close(socket, state);
    bool completed = co_await write_response(socket, response, keep_alive, state);
    state->done = true;
    if (!completed) {
      if (state->client_gone) note_abort();
      boost::system::error_code ignored;
      socket.close(ignored);
      co_return false;
    }
    boost::system::error_code ignored;
    socket.cancel(ignored);  // ends the watcher's wait
    if (!keep_alive) socket.shutdown(tcp::socket::shutdown_send, ignored);
    co_return keep_alive;
  }

  asio::awaitable<bool> stall(const std::shared_ptr<ResponseState>& state) {
    while (!state->client_gone) {
      bool still_there = co_await pause(state, std::chrono::hours(1));
      if (!still_there) break;
    }
    co_return false;
  }

  asio::awaitable<bool> write_response(tcp::socket& socket, const ScriptedResponse& response, bool keep_alive,
                                       const std::shared_ptr<ResponseState>& state) {
    if (response.headers_delay.count() > 0) {
      bool still_there = co_await pause(state, response.headers_delay);
      if (!still_there) co_return false;
    }
    if (response.fault == Fault::reset_before_headers) {
      reset(socket);
      co_return false;
    }
    if (response.fault == Fault::stall_before_headers) {
      bool unused = co_await stall(state);
      (void)unused;
      co_return false;
    }
    std::string reason(bhttp::obsolete_reason(static_cast<bhttp::status>(response.status)));
    if (response.status == 529) reason = "Overloaded";  // Anthropic's own status, unknown to Beast
    std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " + reason + "\r\n";
    for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
    if (response.chunked) {
      head += "transfer-encoding: chunked\r\n";
    } else {
      std::size_t length = 0;
      for (const auto& piece : response.pieces) length += piece.size();
      head += "content-length: " + std::to_string(length) + "\r\n";
    }
    head += keep_alive ? "connection: keep-alive\r\n\r\n" : "connection: close\r\n\r\n";

    std::string pending = std::move(head);  // the head goes out with the first piece
    for (std::size_t i = 0; i < response.pieces.size(); ++i) {
      bool mid_fault = response.fault != Fault::none && i == response.fault_after;
      if (mid_fault || (i > 0 && response.gap.count() > 0)) {
        if (!pending.empty()) {
          auto [ec, n] = co_await asio::async_write(socket, asio::buffer(pending), asio::as_tuple(asio::use_awaitable));
          (void)n;
          if (ec) { state->client_gone = true; co_return false; }
          pending.clear();
        }
      }
      if (mid_fault) {
        if (response.fault == Fault::reset_mid_body) { reset(socket); co_return false; }
        if (response.fault == Fault::close_mid_body) {
          boost::system::error_code ignored;
          socket.shutdown(tcp::socket::shutdown_both, ignored);
          socket.close(ignored);
          co_return false;
        }
        bool unused = co_await stall(state);
        (void)unused;
        co_return false;
      }
      if (i > 0 && response.gap.count() > 0) {
        bool still_there = co_await pause(state, response.gap);
        if (!still_there) co_return false;
      }
      pending += response.chunked ? chunk_frame(response.pieces[i]) : response.pieces[i];
      if (response.gap.count() > 0 || response.chunked) {
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(pending), asio::as_tuple(asio::use_awaitable));
        (void)n;
        if (ec) { state->client_gone = true; co_return false; }
        pending.clear();
      }
    }
    if (response.fault != Fault::none && response.fault_after >= response.pieces.size()) {
      // A fault scripted after the last piece: apply it before the end of the body.
      if (!pending.empty()) {
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(pending), asio::as_tuple(asio::use_awaitable));
        (void)n; (void)ec;
      }
      if (response.fault == Fault::stall_mid_body) {
        bool unused = co_await stall(state);
        (void)unused;
      } else {
        reset(socket);
      }
      co_return false;
    }
    if (response.chunked) pending += "0\r\n\r\n";
    if (!pending.empty()) {
      auto [ec, n] = co_await asio::async_write(socket, asio::buffer(pending), asio::as_tuple(asio::use_awaitable));
      (void)n;
      if (ec) { state->client_gone = true; co_return false; }
    }
    co_return true;
  }

  asio::io_context io;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> accepted{0};

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::deque<ScriptedResponse> queued;
  Script script;
  bool recording = true;
  std::vector<RecordedRequest> recorded;
  std::size_t request_total = 0;
  std::size_t aborted = 0;
};

FakeUpstream::FakeUpstream(int threads, std::uint16_t port) : impl_(std::make_unique<Impl>(threads, port)) {
  port_ = impl_->acceptor.local_endpoint().port();
}

FakeUpstream::~FakeUpstream() = default;

std::string FakeUpstream::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void FakeUpstream::enqueue(ScriptedResponse response) {
  std::lock_guard lock(impl_->mutex);
  impl_->queued.push_back(std::move(response));
}

void FakeUpstream::set_script(Script script) {
  std::lock_guard lock(impl_->mutex);
  impl_->script = std::move(script);
}

void FakeUpstream::set_recording(bool on) {
  std::lock_guard lock(impl_->mutex);
  impl_->recording = on;
}

std::vector<RecordedRequest> FakeUpstream::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->recorded;
}

std::size_t FakeUpstream::request_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->request_total;
}

bool FakeUpstream::wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->request_total >= count; });
}

std::size_t FakeUpstream::aborted_responses() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->aborted;
}

bool FakeUpstream::wait_for_aborted_responses(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->aborted >= count; });
}

std::size_t FakeUpstream::connections_accepted() const { return impl_->accepted.load(); }

}  // namespace tandem::fakes
