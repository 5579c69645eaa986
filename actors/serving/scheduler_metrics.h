// Prometheus metrics of a scheduler, labelled by model: running sequences, waiting requests,
// KV blocks, the batch-size histogram, token counters and the KV reuse counters (prefix-cache
// hits/misses in tokens, evictions, preemptions).
#pragma once

#include "actors/serving/scheduler.h"

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace tandem::actors {

// The observer to pass to Scheduler; it keeps `registry` alive. `queue_capacity` (--max-queue)
// is exported as tandem_scheduler_queue_capacity, so "queue saturated" is a ratio in PromQL.
SchedulerObserver make_scheduler_metrics(std::shared_ptr<prometheus::Registry> registry,
                                         const std::string& model_id, size_t queue_capacity = 0);

}  // namespace tandem::actors
