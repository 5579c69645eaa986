// What per-actor metrics cost per message: request/response round trips to a plain stateful
// actor, a metered one without a registry (stamps only), and a metered one recording into a
// registry (what the server runs). The difference per round trip, times the messages a request
// takes (router + backend + the provider's `decided`), against the gateway benchmark's time per
// request, is the overhead on throughput.
//
//   tandem-actor-metrics-bench [--benchmark_repetitions=5 ...]
#include "actors/actor_metrics.h"

#include <benchmark/benchmark.h>
#include <caf/all.hpp>
#include <prometheus/registry.h>

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using echo_actor = caf::typed_actor<caf::replies_to<ping_atom, int>::with<int>>;

struct EchoState {
  static inline const char* name = "bench.echo";
};

echo_actor::behavior_type plain(echo_actor::stateful_pointer<EchoState>) {
  return {[](ping_atom, int x) { return x + 1; }};
}

echo_actor::behavior_type metered(tandem::actors::metered_pointer<echo_actor, EchoState> self) {
  self->meter("bench");
  return {[](ping_atom, int x) { return x + 1; }};
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
    self->request(actor, caf::infinite, ping_atom::value, value).receive([&](int x) { value = x; },
                                                                         [](caf::error&) {});
  }
  benchmark::DoNotOptimize(value);
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
