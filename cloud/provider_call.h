// One generate request to a provider, across its attempts: the state an upstream transfer's
// callbacks carry (on the upstream client's thread) and the reports they hand to the provider
// actor, which owns the breaker and the retry policy (cloud/resilience) and decides what happens
// after each attempt. Internal to cloud/: provider_actor.cpp is its one user.
//
// The commit point is the first event an attempt pushes into the client's sink (the response
// head of a stream, or a complete answer): before it, an attempt's failure is reported to the
// actor, which retries, refuses (the router may fall back) or answers with the error; after it,
// a failure is an in-band error and the attempt only reports how it ended, for the breaker.
#pragma once

#include "actors/backend/backend.h"
#include "cloud/provider_actor.h"
#include "schemas/usage_reader.h"
#include "cloud/provider_monitor.h"
#include "cloud/providers.h"
#include "cloud/resilience/outcome.h"
#include "cloud/upstream_client.h"
#include "schemas/translate.h"

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

namespace tandem::cloud {

schemas::ApiError api_error(schemas::ErrorKind kind, std::string message, std::string param = {});

// What one attempt tells the actor.
struct AttemptReport {
  enum class Kind {
    committed,  // the first event went to the client: accept the generate, never retry again
    failed,     // failed before the commit point: `outcome` and `error` say how
    ended,      // a committed attempt ended (success or a cut stream): `outcome` for the breaker
  };
  Kind kind = Kind::failed;
  resilience::CallOutcome outcome;
  schemas::ApiError error;
  bool has_answer = false;  // passthrough: the upstream's own error answer is kept (emit_answer())
};

// How a transfer failure counts (cloud/resilience/outcome.h) and its label in
// tandem_upstream_requests_total ("connect_error", "timeout", "reset", ...).
resilience::FailureKind failure_of(const TransferResult& result);
std::string status_label(const TransferResult& result);

struct GenerateCall : std::enable_shared_from_this<GenerateCall> {
  // Fixed for the request.
  std::shared_ptr<const ProviderConfig> provider;
  std::shared_ptr<ProviderMonitor> monitor;
  backend::EventSink sink;
  std::weak_ptr<UpstreamClient> client;
  UpstreamRequest upstream;  // every attempt sends this
  std::string request_id;
  std::string model;         // the upstream model (token metrics)
  schemas::Protocol caller = schemas::Protocol::openai;
  bool passthrough = false;
  bool client_stream = false;
  bool can_fall_back = false;    // the router has a next target: refuse rather than pass an error on
  std::function<void()> notify;  // a report is waiting (called on the client thread)
  std::atomic<TransferId> transfer{0};
  std::atomic<bool> client_gone{false};

  // Request-wide, client thread once attempts run.
  bool committed = false;
  bool closed = false;

  // One attempt's state: reset by begin_attempt() (on the actor, while no transfer runs).
  ResponseHead head;
  bool streaming = false;  // frames / events flow as they arrive (else the body is collected)
  std::string body;
  SseFrameSplitter frames;
  schemas::UsageReader passthrough_usage;  // what a passed-through answer says it used
  std::optional<SseBodyAdapter> adapter;
  std::variant<schemas::OpenAiStreamDecoder, schemas::AnthropicStreamDecoder> decoder;
  bool terminal = false;  // a Finish or StreamError went out
  bool first_content = false;
  std::chrono::steady_clock::time_point started;
  resilience::Millis headers_latency{0};

  void begin_attempt();
  TransferCallbacks callbacks(const std::shared_ptr<GenerateCall>& self);
  std::optional<AttemptReport> take_report();

  // After the actor gave up before the commit point on a call that still has to answer through
  // the sink (a passthrough already accepted, or the upstream's own 4xx passed back as is):
  // the upstream's last answer byte for byte, or `error` in the caller's protocol.
  void emit_answer();
  // Token metrics (and spend) of a passed-through answer, from the usage it carried.
  void count_passthrough_usage();
  void emit_error(const schemas::ApiError& error);

 private:
  void report(AttemptReport report);
  void commit();
  void abort_transfer();
  void push(backend::BackendEvent event);
  void close();
  void fail(schemas::ApiError error);
  HeaderList passthrough_headers() const;
  void on_headers(const ResponseHead& response);
  void on_event(const schemas::SseEvent& event);
  void forward(std::vector<schemas::StreamEvent>& events);
  void on_body(std::string_view bytes);
  void on_done(const TransferResult& result);
  void finish_collected(const TransferResult& result);
  void failed_before_commit(resilience::FailureKind kind, schemas::ApiError error, bool has_answer);
  void content_sent();

  std::mutex mutex_;
  std::deque<AttemptReport> reports_;
};

}  // namespace tandem::cloud
