// What per-actor metrics cost per message: batches of 1000 one-way messages (then one request,
// answered once the batch is handled) to a plain stateful actor, a metered one without a
// registry (stamps only), and a metered one recording into a registry (what the server runs).
// Time is per message. The difference, times the messages a request takes (router + backend +
// the provider's `decided`), against the gateway benchmark's time per request, is the overhead
// on throughput.
//
//   tandem-actor-metrics-bench [--benchmark_repetitions=5 ...]
#include "actors/actor_metrics.h"

#include <benchmark/benchmark.h>
#include <caf/all.hpp>
#include <prometheus/registry.h>

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using sync_atom = caf::atom_constant<caf::atom("sync")>;
using echo_actor = caf::typed_actor<caf::reacts_to<ping_atom, int>, caf::replies_to<sync_atom>::with<int>>;
constexpr int kBatch = 1000;

struct EchoState {
  int sum = 0;
  static inline const char* name = "bench.echo";
};

template <class Self>
echo_actor::behavior_type echo(Self self) {
  return {[self](ping_atom, int x) { self->state.sum += x; }, [self](sync_atom) { return self->state.sum; }};
}

echo_actor::behavior_type plain(echo_actor::stateful_pointer<EchoState> self) { return echo(self); }

echo_actor::behavior_type metered(tandem::actors::metered_pointer<echo_actor, EchoState> self) {
  self->meter("bench");
  return echo(self);
}

template <class Spawn>
void round_trips(benchmark::State& state, bool attach, Spawn spawn) {
  caf::actor_system_config config;
  config.set("scheduler.max-threads", 1);
  caf::actor_system system{config};
  if (attach) tandem::actors::attach_actor_metrics(system, std::make_shared<prometheus::Registry>());
  auto actor = spawn(system);
  caf::scoped_actor self{system};
  int value = 0;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) caf::anon_send(actor, ping_atom::value, i);
    self->request(actor, caf::infinite, sync_atom::value).receive([&](int x) { value = x; }, [](caf::error&) {});
  }
  benchmark::DoNotOptimize(value);
  state.SetItemsProcessed(state.iterations() * kBatch);
  self->send_exit(actor, caf::exit_reason::user_shutdown);
  tandem::actors::detach_actor_metrics(system);
}

void BM_PlainActor(benchmark::State& state) {
  round_trips(state, false, [](caf::actor_system& s) { return s.spawn(plain); });
}
void BM_MeteredActorNoRegistry(benchmark::State& state) {
  round_trips(state, false, [](caf::actor_system& s) { return s.spawn(metered); });
}
void BM_MeteredActor(benchmark::State& state) {
  round_trips(state, true, [](caf::actor_system& s) { return s.spawn(metered); });
}

BENCHMARK(BM_PlainActor)->UseRealTime();
BENCHMARK(BM_MeteredActorNoRegistry)->UseRealTime();
BENCHMARK(BM_MeteredActor)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
