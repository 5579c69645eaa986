// libcurl multi-socket on Asio: libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION)
// and when to wake it (CURLMOPT_TIMERFUNCTION); Asio waits for readiness without owning the
// sockets (a posix::stream_descriptor that is released, never closed) and reports back through
// curl_multi_socket_action. Everything touching one multi handle runs on its shard's one thread.
#include "cloud/upstream_client.h"
#include "cloud/detail/curl_support.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <curl/curl.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace asio = boost::asio;

namespace tandem::cloud {

using detail::classify;
using detail::lower;
using detail::trim;

namespace {

using Clock = std::chrono::steady_clock;

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

}  // namespace

struct SocketWatch {
  explicit SocketWatch(asio::io_context& io, curl_socket_t fd) : descriptor(io, fd), fd(fd) {}
  asio::posix::stream_descriptor descriptor;
  curl_socket_t fd;
  int wanted = 0;  // CURL_POLL_IN / OUT bits
  bool read_armed = false;
  bool write_armed = false;
  bool removed = false;
};

struct Transfer {
  Transfer(asio::io_context& io) : headers_timer(io), idle_timer(io), total_timer(io) {}
  TransferId id = 0;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  CURLU* owned_url = nullptr;  // a parsed URL the shard did not keep
  UpstreamRequest request;
  TransferCallbacks callbacks;
  ResponseHead head;
  bool headers_done = false;
  std::uint64_t body_bytes = 0;
  Clock::time_point last_byte;
  asio::steady_timer headers_timer;
  asio::steady_timer idle_timer;
  asio::steady_timer total_timer;
  char error_buffer[CURL_ERROR_SIZE] = {};
};

// One libcurl multi handle with its connections, on one io_context (one thread): the client has
// one per shared I/O thread, or one on a thread of its own.
struct UpstreamShard {
  UpstreamShard(const UpstreamClientOptions& opts, asio::io_context* shared_io, std::atomic<std::size_t>& active)
      : options(opts),
        proxy(opts.proxy.value()),  // the client read the environment once, for every shard
        own_io(shared_io ? nullptr : std::make_unique<asio::io_context>(1)),
        io(shared_io ? *shared_io : *own_io),
        curl_timer(io),
        work(asio::make_work_guard(io)),
        active(active) {
    init_curl_once();
    multi = curl_multi_init();
    if (!multi) throw std::runtime_error("curl_multi_init failed");
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &UpstreamShard::on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &UpstreamShard::on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
    if (options.max_connections_per_host > 0)
      curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, options.max_connections_per_host);
    if (options.max_cached_connections > 0)
      curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, options.max_cached_connections);
    if (own_io) thread = std::thread([this] { io.run(); });
  }

  ~UpstreamShard() { shutdown(); }

  void shutdown() { std::call_once(shut_down, [this] { stop_thread(); }); }

  void stop_thread() {
    std::promise<void> done;
    asio::post(io, [this, &done] {
      while (!transfers.empty()) {
        auto transfer = transfers.begin()->second;
        finish(transfer, TransferError::cancelled, "cancelled: the upstream client shut down");
      }
      curl_timer.cancel();
      for (CURL* easy : spare_easy) curl_easy_cleanup(easy);
      spare_easy.clear();
      for (auto& [url, parsed] : parsed_urls) curl_url_cleanup(parsed);
      parsed_urls.clear();
      curl_multi_cleanup(multi);  // closes the cached connections (their sockets leave via on_close_socket)
      multi = nullptr;
      for (auto& [fd, watch] : watches) release(*watch);
      watches.clear();
      done.set_value();
    });
    done.get_future().wait();
    work.reset();
    if (!own_io) return;  // a shared io_context goes on for its owner
    io.stop();
    thread.join();
  }

  // ---------------------------------------------------------------- libcurl -> Asio

  // CURL_POLL_REMOVE comes at the end of every transfer, also for a connection that goes back
  // to the pool and is reused by the next one. So a socket stays registered with Asio (a pending
  // wait simply finds nobody interested) until libcurl closes it (on_close_socket): re-adding it
  // costs no epoll_ctl / ioctl, where a new descriptor per transfer cost three system calls.
  static int on_socket(CURL*, curl_socket_t fd, int what, void* userp, void*) {
    auto* self = static_cast<UpstreamShard*>(userp);
    if (what == CURL_POLL_REMOVE) {
      auto found = self->watches.find(fd);
      if (found != self->watches.end()) found->second->wanted = 0;
      return 0;
    }
    auto& watch = self->watches[fd];
    if (!watch) watch = std::make_shared<SocketWatch>(self->io, fd);
    watch->wanted = what;
    self->arm(watch);
    return 0;
  }

  // libcurl asks for a new deadline many times per transfer (0 ms on every added handle, then
  // each phase's limit). Re-arming the Asio timer each time costs a timerfd_settime and a
  // cancelled wait, so the timer is only moved earlier: a wake-up before libcurl's deadline just
  // re-arms for it, and a deadline libcurl dropped (-1) is noticed when the timer fires. A zero
  // timeout is a post (libcurl must not be re-entered from this callback), not a timer.
  static int on_timer(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<UpstreamShard*>(userp);
    if (timeout_ms < 0) {
      self->curl_deadline.reset();
      return 0;
    }
    if (timeout_ms == 0) {
      self->curl_deadline.reset();
      if (!self->timeout_posted) {
        self->timeout_posted = true;
        asio::post(self->io, [self] {
          self->timeout_posted = false;
          self->on_curl_timeout();
        });
      }
      return 0;
    }
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    self->curl_deadline = deadline;
    if (self->timer_armed && self->curl_timer.expiry() <= deadline) return 0;
    self->arm_curl_timer(deadline);
    return 0;
  }

  void arm_curl_timer(Clock::time_point deadline) {
    timer_armed = true;
    curl_timer.expires_at(deadline);
    curl_timer.async_wait([this](boost::system::error_code ec) {
      if (ec == asio::error::operation_aborted) return;  // re-armed earlier: that wait owns the timer
      timer_armed = false;
      if (!multi || !curl_deadline) return;
      if (Clock::now() < *curl_deadline) {
        arm_curl_timer(*curl_deadline);
        return;
      }
      curl_deadline.reset();
      on_curl_timeout();
    });
  }

  void on_curl_timeout() {
    if (!multi) return;
    int running = 0;
    InCurl guard(*this);
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect_finished();
  }

  // CURLOPT_CLOSESOCKETFUNCTION: libcurl closes one of its sockets; forget it before the number
  // can be reused.
  static int on_close_socket(void* clientp, curl_socket_t fd) {
    auto* self = static_cast<UpstreamShard*>(clientp);
    auto found = self->watches.find(fd);
    if (found != self->watches.end()) {
      self->release(*found->second);
      self->watches.erase(found);
    }
    return ::close(fd);
  }

  void release(SocketWatch& watch) {
    watch.removed = true;
    // The socket is libcurl's: stop watching it (pending waits end with operation_aborted) but
    // never close it.
    boost::system::error_code ignored;
    watch.descriptor.cancel(ignored);
    (void)watch.descriptor.release();
  }

  void arm(const std::shared_ptr<SocketWatch>& watch) {
    if ((watch->wanted & CURL_POLL_IN) && !watch->read_armed) {
      watch->read_armed = true;
      watch->descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                                   [this, watch](boost::system::error_code ec) {
                                     watch->read_armed = false;
                                     on_ready(watch, ec, CURL_CSELECT_IN, CURL_POLL_IN);
                                   });
    }
    if ((watch->wanted & CURL_POLL_OUT) && !watch->write_armed) {
      watch->write_armed = true;
      watch->descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                                   [this, watch](boost::system::error_code ec) {
                                     watch->write_armed = false;
                                     on_ready(watch, ec, CURL_CSELECT_OUT, CURL_POLL_OUT);
                                   });
    }
  }

  void on_ready(const std::shared_ptr<SocketWatch>& watch, boost::system::error_code ec, int select_bit, int poll_bit) {
    if (watch->removed || !multi || ec == asio::error::operation_aborted) return;
    if (!(watch->wanted & poll_bit)) return;  // libcurl lost interest meanwhile
    int running = 0;
    {
      InCurl guard(*this);
      curl_multi_socket_action(multi, watch->fd, ec ? CURL_CSELECT_ERR : select_bit, &running);
    }
    collect_finished();
    if (!watch->removed) arm(watch);
  }

  void collect_finished() {
    if (!multi) return;
    int pending = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &pending)) {
      if (message->msg != CURLMSG_DONE) continue;
      Transfer* raw = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&raw));
      CURLcode code = message->data.result;
      auto found = raw ? transfers.find(raw->id) : transfers.end();
      if (found == transfers.end()) continue;
      auto transfer = found->second;
      curl_off_t connect_us = 0;
      curl_easy_getinfo(transfer->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
      TransferError error = classify(code, connect_us > 0 || transfer->headers_done);
      if (error == TransferError::none && !transfer->headers_done) error = TransferError::protocol_error;
      std::string message_text;
      if (error != TransferError::none) {
        message_text = std::string(transfer_error_name(error)) + ": " +
                       (transfer->error_buffer[0] ? transfer->error_buffer : curl_easy_strerror(code));
        if (error == TransferError::connect_timeout)
          message_text = "connect timeout: no connection within " +
                         std::to_string(transfer->request.timeouts.connect.count()) + " ms (" +
                         transfer->error_buffer + ")";
      }
      finish(transfer, error, std::move(message_text));
    }
  }

  // ---------------------------------------------------------------- transfers

  static size_t on_header_line(char* data, size_t size, size_t count, void* userp) {
    auto* transfer = static_cast<Transfer*>(userp);
    std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {  // a new response (after a 1xx, or the first)
      transfer->head.headers.clear();
      transfer->head.headers.reserve(16);
      auto space = line.find(' ');
      transfer->head.http_version = std::string(line.substr(5, space == std::string_view::npos ? 0 : space - 5));
      return line.size();
    }
    if (line == "\r\n" || line == "\n") {
      long status = 0;
      curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &status);
      if (status >= 100 && status < 200) return line.size();  // interim response: wait for the real one
      transfer->head.status = static_cast<int>(status);
      transfer->headers_done = true;
      transfer->last_byte = Clock::now();
      transfer->headers_timer.cancel();
      if (transfer->callbacks.on_headers) transfer->callbacks.on_headers(transfer->head);
      return line.size();
    }
    auto colon = line.find(':');
    if (colon != std::string_view::npos)
      transfer->head.headers.emplace_back(lower(line.substr(0, colon)), trim(line.substr(colon + 1)));
    return line.size();
  }

  static size_t on_body(char* data, size_t size, size_t count, void* userp) {
    auto* transfer = static_cast<Transfer*>(userp);
    size_t bytes = size * count;
    transfer->body_bytes += bytes;
    transfer->last_byte = Clock::now();
    if (transfer->callbacks.on_body) transfer->callbacks.on_body(std::string_view(data, bytes));
    return bytes;
  }

  // Easy handles are kept for the next transfer, with their buffers and their options: creating
  // one per request, and later resetting its options, were each a measurable share of libcurl's
  // work per proxied request. begin() sets every option that differs between transfers.
  CURL* take_easy() {
    if (spare_easy.empty()) {
      CURL* easy = curl_easy_init();
      if (easy) set_fixed_options(easy);
      return easy;
    }
    CURL* easy = spare_easy.back();
    spare_easy.pop_back();
    return easy;
  }

  void set_fixed_options(CURL* easy) {
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &UpstreamShard::on_header_line);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &UpstreamShard::on_body);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &UpstreamShard::on_close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    // HTTP/2 through ALPN on TLS; cleartext upstreams (local vLLM, Ollama) stay on HTTP/1.1.
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    // Set, even when empty, so that libcurl does not read the environment on every transfer.
    curl_easy_setopt(easy, CURLOPT_NOPROXY, proxy.no_proxy.c_str());
    if (options.verbose) curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L);
  }

  // The parsed form of a URL, kept for the next transfer to it: libcurl parsed CURLOPT_URL again
  // on every transfer. Few distinct URLs exist (a provider's endpoints); past kMaxParsedUrls a
  // transfer parses its own.
  CURLU* parsed_url(const std::string& url, CURLU*& owned) {
    if (auto found = parsed_urls.find(url); found != parsed_urls.end()) return found->second;
    CURLU* parsed = curl_url();
    if (!parsed) return nullptr;
    if (curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
      curl_url_cleanup(parsed);
      return nullptr;  // libcurl then gets the text and reports the error itself
    }
    if (parsed_urls.size() < kMaxParsedUrls) {
      parsed_urls.emplace(url, parsed);
    } else {
      owned = parsed;
    }
    return parsed;
  }
  void give_back(CURL* easy) {
    if (spare_easy.size() < kMaxSpareEasy) {
      spare_easy.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
  }

  void begin(std::shared_ptr<Transfer> transfer) {
    CURL* easy = take_easy();
    if (!easy) {
      active.fetch_sub(1, std::memory_order_relaxed);
      TransferResult result{TransferError::other, "curl_easy_init failed"};
      if (transfer->callbacks.on_done) transfer->callbacks.on_done(result);
      return;
    }
    transfer->easy = easy;
    const auto& request = transfer->request;
    if (CURLU* parsed = parsed_url(request.url, transfer->owned_url)) {
      curl_easy_setopt(easy, CURLOPT_URL, nullptr);  // it would win over CURLOPT_CURLU
      curl_easy_setopt(easy, CURLOPT_CURLU, parsed);
    } else {
      curl_easy_setopt(easy, CURLOPT_CURLU, nullptr);
      curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_PROXY, proxy.for_url(request.url).c_str());
    curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error_buffer);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, request.url.starts_with("https://") ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::max<std::int64_t>(0, request.timeouts.connect.count())));

    if (request.method == "GET") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, nullptr);
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, nullptr);
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method == "POST" ? nullptr : request.method.c_str());
    }
    for (const auto& [name, value] : request.headers) {
      std::string line = name + ": " + value;
      transfer->header_list = curl_slist_append(transfer->header_list, line.c_str());
    }
    // No "Expect: 100-continue" round trip before large bodies.
    transfer->header_list = curl_slist_append(transfer->header_list, "Expect:");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->header_list);

    transfers.emplace(transfer->id, transfer);
    arm_own_timers(transfer);
    // libcurl asks for a zero timeout on every added handle, and on_timer posts that action: the
    // requests that came in with one reactor round go out together after it. Acting at once
    // (tried) spread the sends out, and each woke the upstream's side separately: more context
    // switches at the upstream and more CPU per request on both sides at saturation.
    CURLMcode added;
    {
      InCurl guard(*this);
      added = curl_multi_add_handle(multi, easy);
    }
    if (added != CURLM_OK) finish(transfer, TransferError::other, "curl_multi_add_handle failed");
  }

  void arm_own_timers(const std::shared_ptr<Transfer>& transfer) {
    const auto& limits = transfer->request.timeouts;
    std::weak_ptr<Transfer> weak = transfer;
    if (limits.headers.count() > 0) {
      transfer->headers_timer.expires_after(limits.headers);
      transfer->headers_timer.async_wait([this, weak, limits](boost::system::error_code ec) {
        auto transfer = weak.lock();
        if (ec || !transfer || transfer->headers_done || !transfer->easy) return;
        finish(transfer, TransferError::headers_timeout,
               "headers timeout: no response headers within " + std::to_string(limits.headers.count()) + " ms");
      });
    }
    if (limits.total.count() > 0) {
      transfer->total_timer.expires_after(limits.total);
      transfer->total_timer.async_wait([this, weak, limits](boost::system::error_code ec) {
        auto transfer = weak.lock();
        if (ec || !transfer || !transfer->easy) return;
        finish(transfer, TransferError::total_timeout,
               "total timeout: the transfer took longer than " + std::to_string(limits.total.count()) + " ms");
      });
    }
    if (limits.idle.count() > 0) arm_idle_check(transfer, limits.idle);
  }

  // One timer per transfer, re-armed from the last byte's time when it fires, rather than reset on
  // every body chunk (cheap at thousands of streams).
  void arm_idle_check(const std::shared_ptr<Transfer>& transfer, std::chrono::milliseconds idle) {
    auto deadline = (transfer->headers_done ? transfer->last_byte : Clock::now()) + idle;
    transfer->idle_timer.expires_at(deadline);
    std::weak_ptr<Transfer> weak = transfer;
    transfer->idle_timer.async_wait([this, weak, idle](boost::system::error_code ec) {
      auto transfer = weak.lock();
      if (ec || !transfer || !transfer->easy) return;
      if (!transfer->headers_done || Clock::now() - transfer->last_byte < idle) {
        arm_idle_check(transfer, idle);  // before the headers that deadline is the headers timer's
        return;
      }
      finish(transfer, TransferError::idle_timeout,
             "idle timeout: no bytes from the upstream for " + std::to_string(idle.count()) + " ms");
    });
  }

  void finish(const std::shared_ptr<Transfer>& transfer, TransferError error, std::string message) {
    if (!transfer->easy) return;
    TransferResult result;
    result.error = error;
    result.message = std::move(message);
    result.headers_received = transfer->headers_done;
    result.status = transfer->headers_done ? transfer->head.status : 0;
    result.body_bytes = transfer->body_bytes;
    // Removing an unfinished transfer closes its connection (HTTP/1.1) or resets its stream
    // (HTTP/2): that is how the upstream learns the client went away.
    if (multi) {
      curl_multi_remove_handle(multi, transfer->easy);
      give_back(transfer->easy);
    } else {
      curl_easy_cleanup(transfer->easy);
    }
    transfer->easy = nullptr;
    curl_slist_free_all(transfer->header_list);
    transfer->header_list = nullptr;
    if (transfer->owned_url) curl_url_cleanup(transfer->owned_url);
    transfer->owned_url = nullptr;
    transfer->headers_timer.cancel();
    transfer->idle_timer.cancel();
    transfer->total_timer.cancel();
    transfers.erase(transfer->id);
    active.fetch_sub(1, std::memory_order_relaxed);
    auto on_done = std::move(transfer->callbacks.on_done);
    transfer->callbacks = {};
    if (on_done) on_done(result);
  }

  UpstreamClientOptions options;
  ProxySettings proxy;
  std::unique_ptr<asio::io_context> own_io;  // null when running on options.io_context
  asio::io_context& io;
  asio::steady_timer curl_timer;
  bool timer_armed = false;                        // a wait on curl_timer is pending
  std::optional<Clock::time_point> curl_deadline;  // when libcurl wants its timeout action
  bool timeout_posted = false;                     // a zero-timeout action is queued
  int in_curl = 0;  // > 0 while libcurl runs (and its callbacks): it must not be re-entered
  struct InCurl {
    explicit InCurl(UpstreamShard& shard) : shard(shard) { ++shard.in_curl; }
    ~InCurl() { --shard.in_curl; }
    UpstreamShard& shard;
  };
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::atomic<std::size_t>& active;  // the client's count, over all shards
  CURLM* multi = nullptr;
  std::unordered_map<curl_socket_t, std::shared_ptr<SocketWatch>> watches;
  std::unordered_map<TransferId, std::shared_ptr<Transfer>> transfers;
  // Each kept handle holds its buffers (tens of KB): enough for the connections a shard keeps
  // busy, not for every handle of a burst of thousands of streams.
  static constexpr std::size_t kMaxSpareEasy = 64;
  std::vector<CURL*> spare_easy;  // finished transfers' handles, with their fixed options set
  static constexpr std::size_t kMaxParsedUrls = 256;
  std::unordered_map<std::string, CURLU*> parsed_urls;
  std::thread thread;
  std::once_flag shut_down;
};

struct UpstreamClient::Impl {
  explicit Impl(UpstreamClientOptions options) {
    if (!options.proxy) options.proxy = ProxySettings::from_environment();
    if (options.io_contexts.empty()) {
      shards.push_back(std::make_unique<UpstreamShard>(options, nullptr, active));
    } else {
      for (auto* io : options.io_contexts) shards.push_back(std::make_unique<UpstreamShard>(options, io, active));
    }
  }

  // The shard whose thread this is (a provider actor runs on the shard its request came from),
  // else the next one in turn.
  std::size_t pick() const {
    if (shards.size() == 1) return 0;
    for (std::size_t i = 0; i < shards.size(); ++i) {
      if (shards[i]->io.get_executor().running_in_this_thread()) return i;
    }
    return next_shard.fetch_add(1, std::memory_order_relaxed) % shards.size();
  }

  std::atomic<std::size_t> active{0};  // before the shards, which refer to it
  std::vector<std::unique_ptr<UpstreamShard>> shards;
  std::atomic<TransferId> next_id{1};
  mutable std::atomic<std::size_t> next_shard{0};
};

UpstreamClient::UpstreamClient(UpstreamClientOptions options) : impl_(std::make_unique<Impl>(options)) {}
UpstreamClient::~UpstreamClient() = default;
void UpstreamClient::shutdown() {
  for (auto& shard : impl_->shards) shard->shutdown();
}

// A transfer's id names its shard: id % shards.
TransferId UpstreamClient::start(UpstreamRequest request, TransferCallbacks callbacks) {
  const std::size_t index = impl_->pick();
  auto& shard = *impl_->shards[index];
  TransferId id = impl_->next_id.fetch_add(1, std::memory_order_relaxed) * impl_->shards.size() + index;
  impl_->active.fetch_add(1, std::memory_order_relaxed);
  auto transfer = std::make_shared<Transfer>(shard.io);
  transfer->id = id;
  transfer->request = std::move(request);
  transfer->callbacks = std::move(callbacks);
  // A provider actor on this shard's thread starts its transfer at once (not from libcurl's own
  // callbacks, which must not re-enter it); any other thread hands it over.
  if (shard.io.get_executor().running_in_this_thread() && shard.in_curl == 0 && shard.multi) {
    shard.begin(std::move(transfer));
    return id;
  }
  asio::post(shard.io, [shard = &shard, transfer = std::move(transfer)]() mutable {
    if (!shard->multi) return;
    shard->begin(std::move(transfer));
  });
  return id;
}

void UpstreamClient::cancel(TransferId id) {
  auto* shard = impl_->shards[id % impl_->shards.size()].get();
  asio::post(shard->io, [shard, id] {
    auto found = shard->transfers.find(id);
    if (found == shard->transfers.end()) return;
    auto transfer = found->second;
    shard->finish(transfer, TransferError::cancelled, "cancelled: the client went away");
  });
}

void UpstreamClient::after_callback(std::function<void()> work) {
  for (auto& shard : impl_->shards) {
    if (shard->io.get_executor().running_in_this_thread()) {
      asio::post(shard->io, std::move(work));
      return;
    }
  }
  work();
}

std::size_t UpstreamClient::active_transfers() const { return impl_->active.load(std::memory_order_relaxed); }

}  // namespace tandem::cloud
