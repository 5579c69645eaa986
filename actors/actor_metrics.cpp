#include "actors/actor_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>

namespace tandem::actors {

namespace {

struct Families {
  std::shared_ptr<prometheus::Registry> registry;  // kept alive while any meter uses it
  prometheus::Family<prometheus::Counter>* messages = nullptr;
  prometheus::Family<prometheus::Gauge>* mailbox_depth = nullptr;
  prometheus::Family<prometheus::Histogram>* queue_wait = nullptr;
  prometheus::Family<prometheus::Histogram>* handling = nullptr;
};

// Which registry each actor system's metered actors report to. Keyed by the system's address:
// CAF 0.17's actor_system_config cannot carry a registry of ours.
std::mutex attached_mutex;
std::map<const caf::actor_system*, std::shared_ptr<Families>>& attached() {
  static std::map<const caf::actor_system*, std::shared_ptr<Families>> systems;
  return systems;
}

// Handling is microseconds for a router hop, up to a second for a blocked handler; queue waits
// grow with the backlog.
const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,    0.025,    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5};
  return buckets;
}

double seconds(std::chrono::nanoseconds duration) { return std::chrono::duration<double>(duration).count(); }

}  // namespace

void attach_actor_metrics(caf::actor_system& system, std::shared_ptr<prometheus::Registry> registry) {
  auto families = std::make_shared<Families>();
  families->messages = &prometheus::BuildCounter()
                            .Name("tandem_actor_messages_total")
                            .Help("Messages an actor handled, by actor and message type")
                            .Register(*registry);
  families->mailbox_depth = &prometheus::BuildGauge()
                                 .Name("tandem_actor_mailbox_depth")
                                 .Help("Messages waiting in an actor's mailbox when it last picked one")
                                 .Register(*registry);
  families->queue_wait = &prometheus::BuildHistogram()
                              .Name("tandem_actor_queue_wait_seconds")
                              .Help("Time from a message's enqueue to the start of its handling")
                              .Register(*registry);
  families->handling = &prometheus::BuildHistogram()
                            .Name("tandem_actor_handling_seconds")
                            .Help("Time an actor's handler ran for one message (its synchronous part)")
                            .Register(*registry);
  families->registry = std::move(registry);
  std::lock_guard lock(attached_mutex);
  attached()[&system] = std::move(families);
}

void detach_actor_metrics(caf::actor_system& system) {
  std::lock_guard lock(attached_mutex);
  attached().erase(&system);
}

struct ActorMeter::Series {
  std::shared_ptr<Families> families;
  std::string actor;
  prometheus::Gauge* mailbox_depth = nullptr;
  prometheus::Histogram* queue_wait = nullptr;
  prometheus::Histogram* handling = nullptr;
  // Counters by type, looked up once each (only the actor's own thread touches this).
  std::map<std::string, prometheus::Counter*, std::less<>> messages;
  std::map<caf::atom_value, prometheus::Counter*> messages_by_atom;

  prometheus::Counter& counter(const std::string& type) {
    auto found = messages.find(type);
    if (found != messages.end()) return *found->second;
    auto& added = families->messages->Add({{"actor", actor}, {"type", type}});
    messages.emplace(type, &added);
    return added;
  }
};

ActorMeter::ActorMeter(std::unique_ptr<Series> series) : series_(std::move(series)) {}
ActorMeter::~ActorMeter() = default;

std::unique_ptr<ActorMeter> ActorMeter::create(caf::actor_system& system, const std::string& actor) {
  std::shared_ptr<Families> families;
  {
    std::lock_guard lock(attached_mutex);
    auto found = attached().find(&system);
    if (found == attached().end()) return nullptr;
    families = found->second;
  }
  auto series = std::make_unique<Series>();
  series->actor = actor;
  series->mailbox_depth = &families->mailbox_depth->Add({{"actor", actor}});
  series->queue_wait = &families->queue_wait->Add({{"actor", actor}}, latency_buckets());
  series->handling = &families->handling->Add({{"actor", actor}}, latency_buckets());
  series->families = std::move(families);
  return std::unique_ptr<ActorMeter>(new ActorMeter(std::move(series)));
}

std::string ActorMeter::message_type(caf::mailbox_element& message) {
  if (message.mid.is_response()) return "response";
  auto& content = message.content();
  if (content.empty()) return "other";
  if (content.type_nr(0) == caf::type_nr<caf::atom_value>::value) {
    return caf::to_string(content.get_as<caf::atom_value>(0));
  }
  if (content.match_element<caf::down_msg>(0)) return "down";
  if (content.match_element<caf::exit_msg>(0)) return "exit";
  return "other";
}

void ActorMeter::count(caf::mailbox_element& message) {
  auto& content = message.content();
  // The common case, a request led by an atom, skips building the label string.
  if (!message.mid.is_response() && !content.empty() &&
      content.type_nr(0) == caf::type_nr<caf::atom_value>::value) {
    const auto atom = content.get_as<caf::atom_value>(0);
    auto found = series_->messages_by_atom.find(atom);
    if (found == series_->messages_by_atom.end()) {
      found = series_->messages_by_atom.emplace(atom, &series_->counter(caf::to_string(atom))).first;
    }
    found->second->Increment();
    return;
  }
  series_->counter(message_type(message)).Increment();
}

void ActorMeter::observe(std::optional<std::chrono::nanoseconds> queue_wait, std::chrono::nanoseconds handling,
                         std::size_t waiting_behind) {
  if (queue_wait) series_->queue_wait->Observe(seconds(*queue_wait));
  series_->handling->Observe(seconds(handling));
  series_->mailbox_depth->Set(static_cast<double>(waiting_behind));
}

}  // namespace tandem::actors
