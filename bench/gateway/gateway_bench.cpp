// The cloud path's overhead, in one run against the in-process fake upstream:
//   direct       UpstreamClient → fake (the fake and libcurl alone: the baseline)
//   passthrough  provider actor (same protocol) → UpstreamClient → fake, consumed like a session
//                does (ask the actor, drain the event stream on an Asio thread)
//   translated   the same with an OpenAI caller and an Anthropic upstream (decode + events)
// each non-streaming and streaming: latency p50/p99 at a fixed request rate (open loop, measured
// from the scheduled start so queueing shows), then saturation throughput (closed loop).
//
//   tandem-gateway-bench [--rate 1000] [--seconds 3] [--concurrency 64] [--actor-metrics 1]
//
// --actor-metrics 1 (the default, as in the server) records the provider actor's tandem_actor_*
// series into a registry; 0 leaves the actor unmetered, to measure what the metrics cost.
//
// The HTTP front (session, SSE writer) is not in this path yet: it joins when the sessions ask
// the backend router (the seam issue); the numbers here are the cloud layer's share.
#include "actors/actor_metrics.h"
#include "actors/backend/backend.h"
#include "actors/bridge.h"
#include "actors/event_stream.h"
#include "actors/runtime.h"
#include "cloud/provider_actor.h"
#include "schemas/openai.h"
#include "schemas/anthropic.h"
#include "tests/fakes/fake_answers.h"
#include "tests/fakes/fake_upstream.h"

#include <boost/asio.hpp>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

namespace asio = boost::asio;
using namespace tandem;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  double rate = 1000;
  double seconds = 3;
  int concurrency = 64;
  bool actor_metrics = true;
};

struct Samples {
  std::mutex mutex;
  std::vector<double> latencies_us;
  std::atomic<long> errors{0};
  std::atomic<long> done{0};

  void add(double us) {
    std::lock_guard lock(mutex);
    latencies_us.push_back(us);
  }
  double percentile(double p) {
    std::lock_guard lock(mutex);
    if (latencies_us.empty()) return 0;
    std::sort(latencies_us.begin(), latencies_us.end());
    return latencies_us[std::min(latencies_us.size() - 1, static_cast<size_t>(p * latencies_us.size()))];
  }
};

enum class Path { direct, passthrough, translated };

struct Bench {
  Options options;
  fakes::FakeUpstream fake{1};
  std::shared_ptr<cloud::UpstreamClient> client = std::make_shared<cloud::UpstreamClient>();
  actors::ActorRuntime runtime{actors::RuntimeOptions{1}};
  caf::actor anthropic_provider;
  asio::io_context consumers;
  std::thread consumer_thread;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;

  explicit Bench(Options o) : options(o) {
    fake.set_recording(false);
    fake.set_script(fakes::protocol_answer);
    cloud::ProviderConfig anthropic;
    anthropic.name = "anthropic";
    anthropic.api_key = "sk-bench";
    anthropic.protocol = schemas::Protocol::anthropic;
    anthropic.base_url = fake.base_url();
    if (options.actor_metrics) {
      actors::attach_actor_metrics(runtime.system(), std::make_shared<prometheus::Registry>());
    }
    anthropic_provider = backend::as_actor(cloud::spawn_provider_actor(runtime.system(), anthropic, {}, client));
    work.emplace(consumers.get_executor());
    consumer_thread = std::thread([this] { consumers.run(); });
  }

  ~Bench() {
    work.reset();
    consumers.stop();
    consumer_thread.join();
    anthropic_provider = nullptr;
    client->shutdown();  // before the actor system: its thread may hold an actor's last reference
    runtime.shutdown();
  }

  std::string body(bool stream) const {
    return std::string(R"({"model":"bench-model","max_tokens":64,"stream":)") + (stream ? "true" : "false") +
           R"(,"messages":[{"role":"user","content":"hello"}]})";
  }

  void direct(bool stream, Clock::time_point scheduled, Samples& samples, std::function<void()> then) {
    cloud::UpstreamRequest request;
    request.url = fake.base_url() + "/v1/messages";
    request.headers = {{"content-type", "application/json"}, {"x-api-key", "sk-bench"}};
    request.body = body(stream);
    cloud::TransferCallbacks callbacks;
    callbacks.on_done = [&samples, scheduled, then](const cloud::TransferResult& result) {
      if (result.ok() && result.status == 200) {
        samples.add(std::chrono::duration<double, std::micro>(Clock::now() - scheduled).count());
      } else {
        samples.errors.fetch_add(1);
      }
      samples.done.fetch_add(1);
      if (then) then();
    };
    client->start(std::move(request), std::move(callbacks));
  }

  backend::BackendRequest provider_request(Path path, bool stream) const {
    backend::BackendRequest request;
    std::string raw = body(stream);
    auto parsed = path == Path::passthrough ? schemas::parse_anthropic_messages_request(raw, "application/json")
                                            : schemas::parse_openai_chat_request(raw, "application/json");
    if (!parsed.ok()) {
      std::fprintf(stderr, "bench request does not parse: %s\n", parsed.error().message.c_str());
      std::exit(1);
    }
    request.request = std::move(*parsed);
    request.raw_body = std::move(raw);
    request.requested_model = "bench-model";
    return request;
  }

  static asio::awaitable<void> via_provider(Bench* bench, Path path, bool stream, Clock::time_point scheduled,
                                            Samples* samples, std::function<void()> then) {
    auto stream_pair = actors::make_event_stream<backend::BackendEvent>(4096);
    actors::EventReceiver<backend::BackendEvent> rx = std::move(stream_pair.second);
    backend::EventSink sink(std::move(stream_pair.first));
    bool ok = false;
    try {
      backend::BackendRequest request = bench->provider_request(path, stream);
      // Passthrough: an Anthropic caller; translated: an OpenAI caller. Both to the Anthropic upstream.
      const caf::actor& target = bench->anthropic_provider;
      auto reply = co_await actors::ask<backend::GenerateReply>(bench->runtime, target, std::chrono::seconds(10),
                                                                backend::generate_atom::value, std::move(request), sink);
      sink = backend::EventSink();
      if (reply.accepted) {
        ok = true;
        for (;;) {
          auto event = co_await rx.next();
          if (!event) break;
          if (auto* e = std::get_if<schemas::StreamEvent>(&*event); e && std::holds_alternative<schemas::StreamError>(*e))
            ok = false;
        }
      }
    } catch (const std::exception&) {
      ok = false;
    }
    if (ok) {
      samples->add(std::chrono::duration<double, std::micro>(Clock::now() - scheduled).count());
    } else {
      samples->errors.fetch_add(1);
    }
    samples->done.fetch_add(1);
    if (then) then();
  }

  void start(Path path, bool stream, Clock::time_point scheduled, Samples& samples, std::function<void()> then) {
    if (path == Path::direct) return direct(stream, scheduled, samples, std::move(then));
    asio::co_spawn(consumers, via_provider(this, path, stream, scheduled, &samples, std::move(then)), asio::detached);
  }

  void wait_for(Samples& samples, long count) {
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (samples.done.load() < count && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  // Fixed rate, open loop.
  void open_loop(Path path, bool stream, Samples& samples) {
    long total = static_cast<long>(options.rate * options.seconds);
    auto interval = std::chrono::duration<double>(1.0 / options.rate);
    auto begin = Clock::now();
    for (long i = 0; i < total; ++i) {
      auto scheduled = begin + std::chrono::duration_cast<Clock::duration>(interval * i);
      std::this_thread::sleep_until(scheduled);
      start(path, stream, scheduled, samples, {});
    }
    wait_for(samples, total);
  }

  // Saturation: `concurrency` requests always in flight for the duration; requests/s.
  double closed_loop(Path path, bool stream) {
    Samples samples;
    std::atomic<bool> running{true};
    std::function<void()> next;
    next = [&, path, stream] {
      if (running.load()) start(path, stream, Clock::now(), samples, next);
    };
    auto begin = Clock::now();
    for (int i = 0; i < options.concurrency; ++i) start(path, stream, Clock::now(), samples, next);
    std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
    running.store(false);
    long finished = samples.done.load();
    double elapsed = std::chrono::duration<double>(Clock::now() - begin).count();
    wait_for(samples, finished + options.concurrency);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return finished / elapsed;
  }
};

const char* name(Path path) {
  switch (path) {
    case Path::direct: return "direct";
    case Path::passthrough: return "passthrough";
    case Path::translated: return "translated";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rate")) options.rate = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds")) options.seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--concurrency")) options.concurrency = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--actor-metrics")) options.actor_metrics = std::atoi(argv[i + 1]) != 0;
    else {
      std::fprintf(stderr, "usage: %s [--rate R] [--seconds S] [--concurrency C] [--actor-metrics 0|1]\n", argv[0]);
      return 2;
    }
  }
  Bench bench(options);
  std::printf("%-12s %-6s %10s %10s %8s %12s\n", "path", "stream", "p50_us", "p99_us", "errors", "sat_req_s");
  for (bool stream : {false, true}) {
    for (Path path : {Path::direct, Path::passthrough, Path::translated}) {
      // Warm up: connections open, caches fill, before anything is measured.
      Options warm = bench.options;
      bench.options.seconds = 0.5;
      bench.closed_loop(path, stream);
      bench.options = warm;
      Samples samples;
      bench.open_loop(path, stream, samples);
      double saturation = bench.closed_loop(path, stream);
      std::printf("%-12s %-6s %10.0f %10.0f %8ld %12.0f\n", name(path), stream ? "yes" : "no", samples.percentile(0.5),
                  samples.percentile(0.99), samples.errors.load(), saturation);
      std::fflush(stdout);
    }
  }
  actors::ActorRuntime::release_calling_thread();
  return 0;
}
