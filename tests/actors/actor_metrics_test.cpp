#include "actors/actor_metrics.h"

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

namespace tandem::actors {
namespace {

using hold_atom = caf::atom_constant<caf::atom("hold")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using relay_atom = caf::atom_constant<caf::atom("relay")>;
using probe_actor = caf::typed_actor<caf::replies_to<ping_atom, int>::with<int>,
                                     caf::replies_to<hold_atom>::with<caf::ok_atom>,
                                     caf::replies_to<relay_atom, caf::actor>::with<int>>;

// Lets the test hold the probe inside its `hold` handler and see when it got there.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  int entered = 0;
  int released = 0;

  void enter_and_wait() {
    std::unique_lock lock(mutex);
    const int me = ++entered;
    changed.notify_all();
    changed.wait(lock, [&] { return released >= me; });
  }
  void wait_entered(int n) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return entered >= n; });
  }
  void release_one() {
    std::lock_guard lock(mutex);
    ++released;
    changed.notify_all();
  }
};

struct ProbeState {
  static inline const char* name = "tandem.test.probe";
};

probe_actor::behavior_type probe(metered_pointer<probe_actor, ProbeState> self, std::string label, Gate* gate) {
  self->meter(label);
  return {
      [](ping_atom, int x) { return x + 1; },
      [gate](hold_atom) {
        gate->enter_and_wait();
        return caf::ok_atom::value;
      },
      // Asks another actor, so a response message reaches this one.
      [self](relay_atom, caf::actor other) -> caf::result<int> {
        auto promise = self->make_response_promise<int>();
        self->request(other, caf::infinite, ping_atom::value, 41).then([promise](int x) mutable {
          promise.deliver(x);
        });
        return promise;
      },
  };
}

struct Sample {
  double value = 0;         // counter or gauge
  std::uint64_t count = 0;  // histogram
  double sum = 0;           // histogram
};

std::optional<Sample> find(prometheus::Registry& registry, const std::string& family, const std::string& actor,
                           const std::string& type = "") {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& metric : f.metric) {
      bool actor_matches = false;
      bool type_matches = type.empty();
      for (const auto& label : metric.label) {
        if (label.name == "actor" && label.value == actor) actor_matches = true;
        if (label.name == "type" && label.value == type) type_matches = true;
      }
      if (!actor_matches || !type_matches) continue;
      Sample sample;
      sample.value = f.type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value;
      sample.count = metric.histogram.sample_count;
      sample.sum = metric.histogram.sample_sum;
      return sample;
    }
  }
  return std::nullopt;
}

// The sample, failing the test (and reading as NaN) when the series does not exist.
Sample get(prometheus::Registry& registry, const std::string& family, const std::string& actor,
           const std::string& type = "") {
  if (auto found = find(registry, family, actor, type)) return *found;
  ADD_FAILURE() << "no series " << family << "{actor=" << actor << ",type=" << type << "}";
  return Sample{std::numeric_limits<double>::quiet_NaN(), 0, std::numeric_limits<double>::quiet_NaN()};
}

// A message is observed just after its handler replied, so a test that has the reply may look
// a moment too early: wait (bounded) for the series to reach the expected value.
template <class Predicate>
bool eventually(Predicate predicate) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

class ActorMetricsTest : public ::testing::Test {
 protected:
  caf::actor_system_config config;
  caf::actor_system system{config};
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  Gate gate;

  void SetUp() override { attach_actor_metrics(system, registry); }
  void TearDown() override { detach_actor_metrics(system); }
};

TEST_F(ActorMetricsTest, CountsEachMessageByItsLeadingAtom) {
  auto actor = system.spawn(probe, std::string("probe"), &gate);
  caf::scoped_actor self{system};
  for (int i = 0; i < 5; ++i) {
    int answer = 0;
    self->request(actor, caf::infinite, ping_atom::value, i).receive([&](int x) { answer = x; },
                                                                      [](caf::error&) { FAIL(); });
    EXPECT_EQ(answer, i + 1);
  }
  auto pings = find(*registry, "tandem_actor_messages_total", "probe", "ping");
  ASSERT_TRUE(pings);
  EXPECT_EQ(pings->value, 5);
  // Every message was stamped at enqueue and timed in its handler.
  EXPECT_TRUE(eventually([&] { return find(*registry, "tandem_actor_handling_seconds", "probe").value_or(Sample{}).count == 5; }));
  EXPECT_EQ(get(*registry, "tandem_actor_queue_wait_seconds", "probe").count, 5u);
  EXPECT_EQ(get(*registry, "tandem_actor_handling_seconds", "probe").count, 5u);
  EXPECT_FALSE(find(*registry, "tandem_actor_messages_total", "probe", "hold"));
  self->send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST_F(ActorMetricsTest, ResponsesToTheActorsOwnRequestsAreCountedAsResponse) {
  auto actor = system.spawn(probe, std::string("asker"), &gate);
  auto other = caf::actor_cast<caf::actor>(system.spawn(probe, std::string("answerer"), &gate));
  caf::scoped_actor self{system};
  int answer = 0;
  self->request(actor, caf::infinite, relay_atom::value, other).receive([&](int x) { answer = x; },
                                                                         [](caf::error&) { FAIL(); });
  EXPECT_EQ(answer, 42);
  EXPECT_EQ(get(*registry, "tandem_actor_messages_total", "asker", "relay").value, 1);
  EXPECT_EQ(get(*registry, "tandem_actor_messages_total", "asker", "response").value, 1);
  EXPECT_EQ(get(*registry, "tandem_actor_messages_total", "answerer", "ping").value, 1);
  self->send_exit(actor, caf::exit_reason::user_shutdown);
  self->send_exit(other, caf::exit_reason::user_shutdown);
}

TEST_F(ActorMetricsTest, MailboxDepthIsWhatWaitedBehindTheLastMessageAndWaitsAreMeasured) {
  auto actor = system.spawn(probe, std::string("busy"), &gate);
  caf::anon_send(actor, hold_atom::value);
  gate.wait_entered(1);
  // Three more arrive while the first is held: the second is taken with two behind it.
  const auto queued_at = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) caf::anon_send(actor, hold_atom::value);
  const auto held_for = std::chrono::milliseconds(20);
  while (std::chrono::steady_clock::now() - queued_at < held_for) std::this_thread::yield();
  gate.release_one();
  gate.wait_entered(2);
  gate.release_one();
  gate.wait_entered(3);  // the second's handler has finished and been observed
  EXPECT_EQ(get(*registry, "tandem_actor_mailbox_depth", "busy").value, 2);
  // The second message waited at least as long as the test held the first; the held handler ran
  // at least that long too (lower bounds only: they hold on any machine).
  const double held_seconds = std::chrono::duration<double>(held_for).count();
  EXPECT_GE(get(*registry, "tandem_actor_queue_wait_seconds", "busy").sum, held_seconds);
  EXPECT_GE(get(*registry, "tandem_actor_handling_seconds", "busy").sum, held_seconds);
  gate.release_one();
  gate.wait_entered(4);
  gate.release_one();
  caf::scoped_actor self{system};
  self->request(actor, caf::infinite, ping_atom::value, 0).receive([](int) {}, [](caf::error&) { FAIL(); });
  EXPECT_TRUE(eventually([&] { return find(*registry, "tandem_actor_messages_total", "busy", "ping") &&
                                      get(*registry, "tandem_actor_handling_seconds", "busy").count == 5; }));
  EXPECT_EQ(get(*registry, "tandem_actor_mailbox_depth", "busy").value, 0);
  EXPECT_EQ(get(*registry, "tandem_actor_messages_total", "busy", "hold").value, 4);
  self->send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST(ActorMetricsDetached, ASystemWithoutARegistryRecordsNothingAndStillServes) {
  caf::actor_system_config config;
  caf::actor_system system{config};
  Gate gate;
  auto actor = system.spawn(probe, std::string("quiet"), &gate);
  caf::scoped_actor self{system};
  int answer = 0;
  self->request(actor, caf::infinite, ping_atom::value, 1).receive([&](int x) { answer = x; },
                                                                    [](caf::error&) { FAIL(); });
  EXPECT_EQ(answer, 2);
  self->send_exit(actor, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace tandem::actors
