// The serving actors: one scheduler actor per local model (the CAF face of Scheduler) and the
// router that maps a requested model name or alias to what serves it.
//
//   scheduler:  (submit_atom, GenerationRequest, EventSender<GenerationEvent>) -> SubmitResult
//               (stats_atom) -> SchedulerStats
//   router:     (route_atom, std::string name) -> RouteResult
//               (models_atom) -> ModelList
//
// The scheduler actor only admits and enqueues (quick); the step loop runs on the Scheduler's
// own thread. When the actor exits, the Scheduler stops and pending streams end with an error.
#pragma once

#include "actors/serving/messages.h"

#include <memory>
#include <vector>

namespace tandem::actors {

caf::actor spawn_scheduler_actor(caf::actor_system& system, std::shared_ptr<Scheduler> scheduler);

// `models` are routed by id and aliases (exact match first, then case-insensitive).
caf::actor spawn_router_actor(caf::actor_system& system,
                              std::vector<std::shared_ptr<const ServedModel>> models);

}  // namespace tandem::actors
