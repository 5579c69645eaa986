// The messages of the serving actors (router, schedulers) and the types they carry.
// All are local-only (CAF_ALLOW_UNSAFE_MESSAGE_TYPE): they hold shared pointers and stream
// handles. Engine nodes on other hosts (a later wave) will get inspectable twins of these.
#pragma once

#include "actors/event_stream.h"
#include "actors/serving/scheduler.h"

#include <caf/all.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tandem::engine {
class LoadedModel;
}

namespace tandem::actors {

using submit_atom = caf::atom_constant<caf::atom("submit")>;
using route_atom = caf::atom_constant<caf::atom("route")>;
using models_atom = caf::atom_constant<caf::atom("models")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;

// A model this server can answer with, as the router hands it to HTTP sessions: sessions use
// `model` (tokenizer, chat template) to build prompts and send them to `scheduler`.
struct ServedModel {
  std::string id;                    // the name clients use
  std::vector<std::string> aliases;  // further names that route here
  std::string path;                  // the GGUF it was loaded from
  int64_t created = 0;               // unix seconds (load time)
  uint32_t context_size = 0;
  std::shared_ptr<const engine::LoadedModel> model;
  caf::actor scheduler;
};

struct RouteResult {
  std::shared_ptr<const ServedModel> model;  // null: no such model
  std::vector<std::string> available;        // ids, for the "not found" message
};

struct ModelList {
  std::vector<std::shared_ptr<const ServedModel>> models;
};

}  // namespace tandem::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tandem::actors::GenerationRequest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tandem::actors::SubmitResult)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tandem::actors::SchedulerStats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tandem::actors::RouteResult)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tandem::actors::ModelList)
