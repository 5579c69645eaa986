#include "actors/serving/scheduler_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace tandem::actors {

namespace {

struct SchedulerMetrics {
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Gauge* running = nullptr;
  prometheus::Gauge* waiting = nullptr;
  prometheus::Gauge* kv_used = nullptr;
  prometheus::Gauge* kv_total = nullptr;
  prometheus::Histogram* batch_sequences = nullptr;
  prometheus::Histogram* batch_tokens = nullptr;
  prometheus::Counter* steps = nullptr;
  prometheus::Counter* prompt_tokens = nullptr;
  prometheus::Counter* generated_tokens = nullptr;
  prometheus::Counter* cancelled = nullptr;
  uint64_t cancelled_seen = 0;
  prometheus::Gauge* kv_cached = nullptr;
  prometheus::Counter* prefix_hit_tokens = nullptr;
  prometheus::Counter* prefix_miss_tokens = nullptr;
  prometheus::Counter* kv_evictions = nullptr;
  prometheus::Counter* preemptions = nullptr;
  uint64_t hit_seen = 0, miss_seen = 0, evictions_seen = 0, preemptions_seen = 0;
  prometheus::Histogram* queue_wait = nullptr;
  prometheus::Histogram* time_to_first_token = nullptr;
  prometheus::Histogram* inter_token = nullptr;
  prometheus::Histogram* step_seconds = nullptr;
  prometheus::Histogram* step_prefill_tokens = nullptr;
  prometheus::Histogram* step_decode_tokens = nullptr;
};

prometheus::Histogram* add_histogram(prometheus::Registry& registry, const std::string& name, const std::string& help,
                                     const prometheus::Labels& labels,
                                     const prometheus::Histogram::BucketBoundaries& buckets) {
  return &prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add(labels, buckets);
}

// Latencies from a millisecond (a decode step of a tiny model) to minutes (a long queue).
const prometheus::Histogram::BucketBoundaries kLatencyBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                              0.5,   1,      2.5,   5,    10,    30,    60,  120};
const prometheus::Histogram::BucketBoundaries kTokenBuckets{0, 1, 4, 16, 64, 256, 1024, 4096};

// Counters follow the scheduler's running totals.
void advance(prometheus::Counter* counter, uint64_t total, uint64_t& seen) {
  if (total <= seen) return;
  counter->Increment(static_cast<double>(total - seen));
  seen = total;
}

}  // namespace

SchedulerObserver make_scheduler_metrics(std::shared_ptr<prometheus::Registry> registry,
                                         const std::string& model_id, size_t queue_capacity) {
  auto m = std::make_shared<SchedulerMetrics>();
  m->registry = registry;
  const prometheus::Labels labels{{"model", model_id}};
  auto& reg = *registry;
  m->running = &prometheus::BuildGauge()
                    .Name("tandem_scheduler_running_sequences")
                    .Help("Sequences in the running batch")
                    .Register(reg)
                    .Add(labels);
  m->waiting = &prometheus::BuildGauge()
                    .Name("tandem_scheduler_waiting_requests")
                    .Help("Requests queued for admission to the batch")
                    .Register(reg)
                    .Add(labels);
  prometheus::BuildGauge()
      .Name("tandem_scheduler_queue_capacity")
      .Help("Requests that may wait for admission before new ones are refused (--max-queue)")
      .Register(reg)
      .Add(labels)
      .Set(static_cast<double>(queue_capacity));
  m->kv_used = &prometheus::BuildGauge()
                    .Name("tandem_scheduler_kv_blocks_used")
                    .Help("KV cache blocks held by sequences")
                    .Register(reg)
                    .Add(labels);
  m->kv_total = &prometheus::BuildGauge()
                     .Name("tandem_scheduler_kv_blocks_capacity")
                     .Help("KV cache blocks in the pool")
                     .Register(reg)
                     .Add(labels);
  m->batch_sequences = &prometheus::BuildHistogram()
                            .Name("tandem_scheduler_batch_size")
                            .Help("Sequences per engine step")
                            .Register(reg)
                            .Add(labels, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128});
  m->batch_tokens = &prometheus::BuildHistogram()
                         .Name("tandem_scheduler_step_tokens")
                         .Help("Token rows per engine step (prefill chunks + decodes)")
                         .Register(reg)
                         .Add(labels, prometheus::Histogram::BucketBoundaries{1, 4, 16, 64, 256, 1024});
  m->steps = &prometheus::BuildCounter()
                  .Name("tandem_scheduler_steps_total")
                  .Help("Engine steps run")
                  .Register(reg)
                  .Add(labels);
  m->prompt_tokens = &prometheus::BuildCounter()
                          .Name("tandem_scheduler_prompt_tokens_total")
                          .Help("Prompt tokens of finished requests")
                          .Register(reg)
                          .Add(labels);
  m->generated_tokens = &prometheus::BuildCounter()
                             .Name("tandem_scheduler_generated_tokens_total")
                             .Help("Tokens generated")
                             .Register(reg)
                             .Add(labels);
  m->cancelled = &prometheus::BuildCounter()
                      .Name("tandem_scheduler_cancelled_total")
                      .Help("Requests cancelled because the client went away or fell behind")
                      .Register(reg)
                      .Add(labels);

  m->kv_cached = &prometheus::BuildGauge()
                      .Name("tandem_scheduler_kv_blocks_cached")
                      .Help("Prefix-cache blocks no sequence holds (kept until the pool needs them; counted free)")
                      .Register(reg)
                      .Add(labels);
  m->prefix_hit_tokens = &prometheus::BuildCounter()
                              .Name("tandem_scheduler_prefix_cache_hit_tokens_total")
                              .Help("Prompt tokens whose KV came from the prefix cache")
                              .Register(reg)
                              .Add(labels);
  m->prefix_miss_tokens = &prometheus::BuildCounter()
                               .Name("tandem_scheduler_prefix_cache_miss_tokens_total")
                               .Help("Prompt tokens computed (not found in the prefix cache)")
                               .Register(reg)
                               .Add(labels);
  m->kv_evictions = &prometheus::BuildCounter()
                         .Name("tandem_scheduler_kv_evictions_total")
                         .Help("Cached KV blocks evicted to make room")
                         .Register(reg)
                         .Add(labels);
  m->preemptions = &prometheus::BuildCounter()
                        .Name("tandem_scheduler_preemptions_total")
                        .Help("Sequences preempted (KV freed, recomputed later) because the pool ran out")
                        .Register(reg)
                        .Add(labels);

  m->queue_wait = add_histogram(reg, "tandem_scheduler_queue_wait_seconds",
                                "Time a request waited from submission to joining the batch", labels, kLatencyBuckets);
  m->time_to_first_token =
      add_histogram(reg, "tandem_scheduler_time_to_first_token_seconds",
                    "Time from a request's submission to its first generated token", labels, kLatencyBuckets);
  m->inter_token = add_histogram(reg, "tandem_scheduler_inter_token_seconds",
                                 "Time between consecutive generated tokens of a request", labels, kLatencyBuckets);
  m->step_seconds = add_histogram(reg, "tandem_scheduler_step_seconds", "Forward-pass time of one engine step", labels,
                                  kLatencyBuckets);
  m->step_prefill_tokens = add_histogram(reg, "tandem_scheduler_step_prefill_tokens",
                                         "Prompt rows (prefill chunks, recomputes) per engine step", labels, kTokenBuckets);
  m->step_decode_tokens = add_histogram(reg, "tandem_scheduler_step_decode_tokens",
                                        "Decode rows (one per generating sequence) per engine step", labels, kTokenBuckets);

  SchedulerObserver observer;
  observer.on_step_timing = [m](const StepTiming& step) {
    m->step_seconds->Observe(step.seconds);
    m->step_prefill_tokens->Observe(static_cast<double>(step.prefill_tokens));
    m->step_decode_tokens->Observe(static_cast<double>(step.decode_tokens));
  };
  observer.on_queue_wait = [m](double seconds) { m->queue_wait->Observe(seconds); };
  observer.on_first_token = [m](double seconds) { m->time_to_first_token->Observe(seconds); };
  observer.on_inter_token = [m](double seconds) { m->inter_token->Observe(seconds); };
  observer.on_stats = [m](const SchedulerStats& stats) {
    m->running->Set(static_cast<double>(stats.running));
    m->waiting->Set(static_cast<double>(stats.waiting));
    m->kv_used->Set(stats.kv_blocks_used);
    m->kv_total->Set(stats.kv_blocks_total);
    m->kv_cached->Set(stats.kv_blocks_cached);
    advance(m->cancelled, stats.cancelled, m->cancelled_seen);
    advance(m->prefix_hit_tokens, stats.prefix_hit_tokens, m->hit_seen);
    advance(m->prefix_miss_tokens, stats.prefix_miss_tokens, m->miss_seen);
    advance(m->kv_evictions, stats.kv_evictions, m->evictions_seen);
    advance(m->preemptions, stats.preemptions, m->preemptions_seen);
  };
  observer.on_step = [m](size_t sequences, size_t tokens) {
    m->steps->Increment();
    m->batch_sequences->Observe(static_cast<double>(sequences));
    m->batch_tokens->Observe(static_cast<double>(tokens));
  };
  observer.on_tokens = [m](uint64_t prompt, uint64_t generated) {
    m->prompt_tokens->Increment(static_cast<double>(prompt));
    m->generated_tokens->Increment(static_cast<double>(generated));
  };
  return observer;
}

}  // namespace tandem::actors
