#include "actors/serving/serving_actors.h"

#include <algorithm>
#include <cctype>

namespace tandem::actors {

namespace {

bool equals_ignoring_case(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool names(const ServedModel& model, const std::string& name, bool ignore_case) {
  auto same = [&](const std::string& candidate) {
    return ignore_case ? equals_ignoring_case(candidate, name) : candidate == name;
  };
  return same(model.id) || std::any_of(model.aliases.begin(), model.aliases.end(), same);
}

}  // namespace

caf::actor spawn_scheduler_actor(caf::actor_system& system, std::shared_ptr<Scheduler> scheduler) {
  return system.spawn([scheduler](caf::event_based_actor* self) -> caf::behavior {
    self->attach_functor([scheduler](const caf::error&) { scheduler->stop(); });
    return {
        [scheduler](submit_atom, GenerationRequest& request, EventSender<GenerationEvent>& sink) {
          return scheduler->submit(std::move(request), std::move(sink));
        },
        [scheduler](stats_atom) { return scheduler->stats(); },
    };
  });
}

caf::actor spawn_router_actor(caf::actor_system& system,
                              std::vector<std::shared_ptr<const ServedModel>> models) {
  return system.spawn([models = std::move(models)](caf::event_based_actor*) -> caf::behavior {
    return {
        [models](route_atom, const std::string& name) {
          RouteResult result;
          for (bool ignore_case : {false, true}) {
            for (const auto& model : models) {
              if (names(*model, name, ignore_case)) {
                result.model = model;
                return result;
              }
            }
          }
          for (const auto& model : models) result.available.push_back(model->id);
          return result;
        },
        [models](models_atom) { return ModelList{models}; },
    };
  });
}

}  // namespace tandem::actors
