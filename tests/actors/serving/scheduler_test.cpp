// The scheduler on a real model (stories260K): continuous batching gives every request the
// same tokens it gets alone, cancellation frees KV blocks, admission limits hold.
#include "actors/serving/scheduler.h"
#include "engine/model.h"
#include "engine/model_config.h"
#include "engine/tokenizer.h"
#include "tests/common/test_data.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

namespace tandem::actors {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct LoadedStories {
  std::shared_ptr<const engine::GgufFile> file;
  std::unique_ptr<engine::Model> model;
  std::unique_ptr<engine::Tokenizer> tokenizer;
};

LoadedStories& stories() {
  static LoadedStories loaded = [] {
    LoadedStories l;
    auto path = test::shared_file("models/stories260K.gguf");
    l.file = std::make_shared<const engine::GgufFile>(engine::GgufFile::open(path));
    l.model = engine::Model::load(l.file, engine::read_model_config(*l.file));
    l.tokenizer = engine::Tokenizer::from_gguf(*l.file);
    return l;
  }();
  return loaded;
}

GenerationRequest greedy(const std::string& prompt, uint32_t max_tokens) {
  GenerationRequest request;
  request.prompt = stories().tokenizer->encode(prompt, true, false);
  request.sampling.temperature = 0.0f;
  request.max_tokens = max_tokens;
  return request;
}

struct Collected {
  std::vector<engine::TokenId> tokens;
  std::string text;
  bool finished = false;
  std::string error;
  size_t waiting_events = 0;
  uint32_t cached_tokens = 0;
};

// Drains a stream on `io`, the way an HTTP session does.
void collect(asio::io_context& io, EventReceiver<GenerationEvent> rx, Collected& out,
             size_t stop_after_outputs = SIZE_MAX) {
  asio::co_spawn(
      io,
      [rx = std::move(rx), &out, stop_after_outputs]() mutable -> asio::awaitable<void> {
        size_t outputs = 0;
        try {
          while (auto event = co_await rx.next()) {
            if (event->kind == GenerationEvent::Kind::waiting) {
              ++out.waiting_events;
              continue;
            }
            for (auto& t : event->output.tokens) out.tokens.push_back(t.id);
            out.text += event->output.text;
            out.finished = out.finished || event->output.finished;
            out.cached_tokens = event->output.cached_tokens;
            if (++outputs >= stop_after_outputs) co_return;  // drops rx: the client went away
          }
        } catch (const std::exception& e) {
          out.error = e.what();
        }
      },
      asio::detached);
}

SchedulerOptions small_options() {
  SchedulerOptions options;
  options.max_running = 8;
  options.max_waiting = 64;
  options.step_token_budget = 64;
  options.engine.kv_tokens = 8192;
  options.engine.context_size = 512;
  return options;
}

Collected run_alone(const GenerationRequest& request) {
  Scheduler scheduler(*stories().model, stories().tokenizer.get(), small_options());
  asio::io_context io;
  auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
  Collected out;
  EXPECT_TRUE(scheduler.submit(request, tx).accepted());
  collect(io, std::move(rx), out);
  io.run();
  return out;
}

template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return predicate();
}

TEST(Scheduler, ConcurrentRequestsMatchTheirSoloRuns) {
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily liked",
                                            "One day, a boy", "The sun was", "Tom and Sue",
                                            "A big red ball", "She went to the park"};
  std::vector<Collected> solo;
  for (auto& p : prompts) solo.push_back(run_alone(greedy(p, 40)));

  Scheduler scheduler(*stories().model, stories().tokenizer.get(), small_options());
  asio::io_context io;
  std::vector<Collected> together(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
    ASSERT_TRUE(scheduler.submit(greedy(prompts[i], 40), tx).accepted());
    collect(io, std::move(rx), together[i]);
  }
  io.run();
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_TRUE(together[i].finished) << prompts[i] << ": " << together[i].error;
    EXPECT_EQ(together[i].tokens, solo[i].tokens) << prompts[i];
    EXPECT_EQ(together[i].text, solo[i].text) << prompts[i];
    EXPECT_FALSE(together[i].text.empty());
  }
  EXPECT_GT(scheduler.stats().max_batch_sequences, 1u) << "requests should have shared steps";
  // The last stream closes just before the step thread publishes its stats.
  EXPECT_TRUE(eventually([&] {
    auto s = scheduler.stats();
    return s.running == 0 && s.kv_blocks_used == 0;
  }));
}

TEST(Scheduler, ClientThatGoesAwayFreesItsSequenceAndBlocks) {
  Scheduler scheduler(*stories().model, stories().tokenizer.get(), small_options());
  asio::io_context io;
  auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
  auto request = greedy("Once upon a time", 400);
  request.ignore_eos = true;  // would run for 400 tokens if nobody cancelled it
  ASSERT_TRUE(scheduler.submit(request, tx).accepted());
  Collected out;
  collect(io, std::move(rx), out, /*stop_after_outputs=*/3);
  io.run();
  EXPECT_FALSE(out.finished);
  EXPECT_TRUE(eventually([&] {
    auto s = scheduler.stats();
    return s.running == 0 && s.kv_blocks_used == 0;
  })) << "running=" << scheduler.stats().running << " kv_used=" << scheduler.stats().kv_blocks_used;
  EXPECT_EQ(scheduler.stats().cancelled, 1u);
  EXPECT_LT(scheduler.stats().generated_tokens, 400u);
}

TEST(Scheduler, FullQueueSaysOverloaded) {
  auto options = small_options();
  options.max_running = 1;
  options.max_waiting = 2;
  Scheduler scheduler(*stories().model, stories().tokenizer.get(), options);
  std::vector<EventReceiver<GenerationEvent>> receivers;
  size_t accepted = 0, overloaded = 0;
  for (int i = 0; i < 6; ++i) {
    auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
    auto request = greedy("Once upon a time", 300);
    request.ignore_eos = true;
    auto result = scheduler.submit(request, tx);
    if (result.accepted()) ++accepted;
    if (result.status == SubmitStatus::overloaded) {
      ++overloaded;
      EXPECT_NE(result.message.find("queue is full"), std::string::npos);
    }
    receivers.push_back(std::move(rx));
  }
  // At most max_running + max_waiting are held at once; which ones depends on timing.
  EXPECT_GE(accepted, 2u);
  EXPECT_LE(accepted, 3u);
  EXPECT_EQ(accepted + overloaded, 6u);
}

TEST(Scheduler, RequestLongerThanTheContextIsRefusedUpFront) {
  Scheduler scheduler(*stories().model, stories().tokenizer.get(), small_options());
  auto [tx, rx] = make_event_stream<GenerationEvent>(16);
  auto result = scheduler.submit(greedy("Once upon a time", 600), tx);
  EXPECT_EQ(result.status, SubmitStatus::too_long);
  EXPECT_NE(result.message.find("context size (512"), std::string::npos) << result.message;
}

TEST(Scheduler, SlowConsumerLosesOnlyItsOwnRequest) {
  auto options = small_options();
  options.stream_capacity = 4;
  Scheduler scheduler(*stories().model, stories().tokenizer.get(), options);
  asio::io_context io;
  // The slow one never reads: its buffer (4 events) overflows and it is cancelled.
  auto [slow_tx, slow_rx] = make_event_stream<GenerationEvent>(4);
  auto slow = greedy("The little dog", 200);
  slow.ignore_eos = true;
  ASSERT_TRUE(scheduler.submit(slow, slow_tx).accepted());
  auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
  Collected healthy;
  ASSERT_TRUE(scheduler.submit(greedy("Once upon a time", 60), tx).accepted());
  collect(io, std::move(rx), healthy);
  io.run();
  EXPECT_TRUE(healthy.finished) << healthy.error;
  EXPECT_TRUE(eventually([&] { return scheduler.stats().running == 0; }));
  EXPECT_EQ(scheduler.stats().cancelled, 1u);
  EXPECT_EQ(scheduler.stats().kv_blocks_used, 0u);
}

TEST(Scheduler, StopEndsOpenStreamsWithAnError) {
  auto scheduler = std::make_unique<Scheduler>(*stories().model, stories().tokenizer.get(), small_options());
  asio::io_context io;
  auto [tx, rx] = make_event_stream<GenerationEvent>(4096);
  auto request = greedy("Once upon a time", 500);
  request.ignore_eos = true;
  request.max_tokens = 400;
  ASSERT_TRUE(scheduler->submit(request, tx).accepted());
  scheduler->stop();
  Collected out;
  collect(io, std::move(rx), out);
  io.run();
  EXPECT_FALSE(out.finished);
  EXPECT_NE(out.error.find("shutting down"), std::string::npos) << out.error;
  auto [tx2, rx2] = make_event_stream<GenerationEvent>(16);
  EXPECT_EQ(scheduler->submit(greedy("Hi", 4), tx2).status, SubmitStatus::shutting_down);
}

// Scoring (legacy completions' echo + logprobs) runs on the step thread and arrives as one
// `scored` event ahead of the generated tokens; max_tokens 0 scores without generating.
TEST(Scheduler, ScoresThePromptBeforeGenerating) {
  auto request = greedy("Once upon a time", 0);
  request.score_prompt = true;
  request.score_top_n = 2;
  engine::EngineConfig config;
  config.kv_tokens = 512;
  engine::Engine reference(*stories().model, stories().tokenizer.get(), config);
  const auto expected = reference.score(request.prompt, 2);

  for (uint32_t max_tokens : {0u, 5u}) {
    request.max_tokens = max_tokens;
    Scheduler scheduler(*stories().model, stories().tokenizer.get(), small_options());
    auto [tx, rx] = make_event_stream<GenerationEvent>(64);
    ASSERT_TRUE(scheduler.submit(request, tx).accepted());
    asio::io_context io;
    std::vector<GenerationEvent> events;
    std::string error;
    asio::co_spawn(
        io,
        [&, rx = std::move(rx)]() mutable -> asio::awaitable<void> {
          try {
            while (auto event = co_await rx.next()) events.push_back(std::move(*event));
          } catch (const std::exception& e) {
            error = e.what();
          }
        },
        asio::detached);
    io.run();
    ASSERT_TRUE(error.empty()) << error;
    ASSERT_GE(events.size(), 2u);
    ASSERT_EQ(events[0].kind, GenerationEvent::Kind::scored);
    ASSERT_EQ(events[0].scored.size(), request.prompt.size() - 1);
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(events[0].scored[i].actual_logprob, expected[i].actual_logprob) << i;
      ASSERT_EQ(events[0].scored[i].top.size(), 2u);
      EXPECT_EQ(events[0].scored[i].top[0].id, expected[i].top[0].id);
    }
    uint32_t generated = 0;
    for (size_t i = 1; i < events.size(); ++i) {
      EXPECT_EQ(events[i].kind, GenerationEvent::Kind::output);
      generated += static_cast<uint32_t>(events[i].output.tokens.size());
    }
    EXPECT_TRUE(events.back().output.finished);
    EXPECT_EQ(events.back().output.prompt_tokens, request.prompt.size());
    EXPECT_EQ(generated, max_tokens);
    EXPECT_EQ(scheduler.stats().kv_blocks_used, 0u);
  }
}

// On-demand KV: 6 requests of up to 105 tokens share a pool of 128 (8 blocks of 16), so
// sequences are preempted and recomputed; every stream still completes with exactly its solo
// tokens (no event lost or repeated while it paused).
TEST(Scheduler, PoolTooSmallForEveryMaxTokensStillCompletesAllExactly) {
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily liked",
                                            "One day, a boy", "The sun was", "Tom and Sue"};
  auto request_for = [](const std::string& prompt) {
    auto request = greedy(prompt, 100);
    request.ignore_eos = true;
    return request;
  };
  std::vector<Collected> solo;
  for (auto& p : prompts) solo.push_back(run_alone(request_for(p)));

  auto options = small_options();
  options.engine.kv_tokens = 128;
  Scheduler scheduler(*stories().model, stories().tokenizer.get(), options);
  asio::io_context io;
  std::vector<Collected> together(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
    ASSERT_TRUE(scheduler.submit(request_for(prompts[i]), tx).accepted());
    collect(io, std::move(rx), together[i]);
  }
  io.run();
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_TRUE(together[i].finished) << prompts[i] << ": " << together[i].error;
    EXPECT_EQ(together[i].tokens, solo[i].tokens) << prompts[i];
    EXPECT_EQ(together[i].text, solo[i].text) << prompts[i];
  }
  EXPECT_GT(scheduler.stats().preemptions, 0u);
  EXPECT_TRUE(eventually([&] {
    auto s = scheduler.stats();
    return s.running == 0 && s.kv_blocks_used == 0 && s.preempted == 0;
  }));
}

// The prefix cache: the same prompt again reuses its blocks, reports them as cached tokens,
// and gives the same answer.
TEST(Scheduler, RepeatedPromptIsServedFromThePrefixCache) {
  Scheduler scheduler(*stories().model, stories().tokenizer.get(), small_options());
  const auto request = greedy("Once upon a time, there was a little girl named Lily. She loved to play "
                              "outside in the park with her friends and her dog.", 20);
  ASSERT_GT(request.prompt.size(), 17u);
  std::vector<Collected> runs(2);
  for (auto& run : runs) {
    asio::io_context io;
    auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
    ASSERT_TRUE(scheduler.submit(request, tx).accepted());
    collect(io, std::move(rx), run);
    io.run();
    EXPECT_TRUE(run.finished) << run.error;
  }
  EXPECT_EQ(runs[0].cached_tokens, 0u);
  EXPECT_EQ(runs[1].cached_tokens, (request.prompt.size() - 2) / 16 * 16);
  EXPECT_GT(runs[1].cached_tokens, 0u);
  EXPECT_EQ(runs[1].tokens, runs[0].tokens);
  EXPECT_TRUE(eventually([&] {
    auto s = scheduler.stats();
    return s.prefix_hit_tokens == runs[1].cached_tokens &&
           s.prefix_miss_tokens == 2 * request.prompt.size() - runs[1].cached_tokens && s.kv_blocks_cached > 0;
  }));
}

TEST(Scheduler, ReportsQueueWaitFirstTokenInterTokenAndStepSplit) {
  // Counts what the observer hears; the step thread calls it, the test reads after joining.
  struct Heard {
    std::mutex mutex;
    size_t queue_waits = 0, first_tokens = 0, inter_tokens = 0, steps = 0;
    size_t prefill_rows = 0, decode_rows = 0, step_rows = 0;
    bool negative = false;
  };
  auto heard = std::make_shared<Heard>();
  SchedulerObserver observer;
  auto note = [heard](size_t Heard::*field, double seconds) {
    std::lock_guard lock(heard->mutex);
    ++((*heard).*field);
    heard->negative = heard->negative || seconds < 0;
  };
  observer.on_queue_wait = [note](double s) { note(&Heard::queue_waits, s); };
  observer.on_first_token = [note](double s) { note(&Heard::first_tokens, s); };
  observer.on_inter_token = [note](double s) { note(&Heard::inter_tokens, s); };
  observer.on_step_timing = [note, heard](const StepTiming& step) {
    note(&Heard::steps, step.seconds);
    std::lock_guard lock(heard->mutex);
    heard->prefill_rows += step.prefill_tokens;
    heard->decode_rows += step.decode_tokens;
  };
  observer.on_step = [heard](size_t, size_t tokens) {
    std::lock_guard lock(heard->mutex);
    heard->step_rows += tokens;
  };
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily liked"};
  std::vector<Collected> outs(prompts.size());
  size_t prompt_rows = 0;
  {
    Scheduler scheduler(*stories().model, stories().tokenizer.get(), small_options(), observer);
    asio::io_context io;
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto request = greedy(prompts[i], 12);
      request.ignore_eos = true;
      prompt_rows += request.prompt.size();
      auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
      ASSERT_TRUE(scheduler.submit(std::move(request), tx).accepted());
      collect(io, std::move(rx), outs[i]);
    }
    io.run();
  }  // joins the step thread
  size_t generated = 0;
  for (auto& out : outs) {
    EXPECT_TRUE(out.finished) << out.error;
    generated += out.tokens.size();
  }
  ASSERT_EQ(generated, 3u * 12u);
  EXPECT_EQ(heard->queue_waits, 3u);
  EXPECT_EQ(heard->first_tokens, 3u);
  EXPECT_EQ(heard->inter_tokens, generated - 3u);  // every token after each request's first
  EXPECT_FALSE(heard->negative);
  EXPECT_GT(heard->steps, 0u);
  // Every row of every step is either a prompt row or a decode row: all prompts are prefilled
  // (no prefix cache hit on a fresh scheduler), and each token but the last of each request is
  // fed back as one decode row.
  EXPECT_EQ(heard->prefill_rows + heard->decode_rows, heard->step_rows);
  EXPECT_EQ(heard->prefill_rows, prompt_rows);
  EXPECT_EQ(heard->decode_rows, generated - 3u);
}

// What the load model learns from (app/api/local_load.h): one report per finished request, even
// when several end in the same step, and each running sequence's progress in the stats.
TEST(Scheduler, ReportsEachFinishedRequestAndTheRunningSequencesProgress) {
  struct Heard {
    std::mutex mutex;
    std::vector<FinishedRequest> finished;
    size_t progress_mismatches = 0, progress_seen = 0;
  };
  auto heard = std::make_shared<Heard>();
  SchedulerObserver observer;
  observer.on_finished = [heard](const FinishedRequest& request) {
    std::lock_guard lock(heard->mutex);
    heard->finished.push_back(request);
  };
  observer.on_stats = [heard](const SchedulerStats& stats) {
    std::lock_guard lock(heard->mutex);
    if (stats.running_progress.size() != stats.running) ++heard->progress_mismatches;
    for (const auto& progress : stats.running_progress) {
      if (progress.max_tokens != 12 || progress.generated > 12) ++heard->progress_mismatches;
      if (progress.generated > 0) ++heard->progress_seen;
    }
  };
  // Same length, admitted together: they end in the same step.
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily liked"};
  std::vector<Collected> outs(prompts.size());
  std::vector<size_t> prompt_sizes;
  {
    Scheduler scheduler(*stories().model, stories().tokenizer.get(), small_options(), observer);
    asio::io_context io;
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto request = greedy(prompts[i], 12);
      request.ignore_eos = true;
      request.request_bytes = 100 + i;
      request.seconds_before_submit = 0.5 + double(i);
      prompt_sizes.push_back(request.prompt.size());
      auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
      ASSERT_TRUE(scheduler.submit(std::move(request), tx).accepted());
      collect(io, std::move(rx), outs[i]);
    }
    io.run();
  }  // joins the step thread
  ASSERT_EQ(heard->finished.size(), prompts.size());
  std::sort(heard->finished.begin(), heard->finished.end(),
            [](const FinishedRequest& a, const FinishedRequest& b) { return a.request_bytes < b.request_bytes; });
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(heard->finished[i].request_bytes, 100 + i);
    EXPECT_EQ(heard->finished[i].prompt_tokens, prompt_sizes[i]);
    EXPECT_EQ(heard->finished[i].cached_tokens, 0u);
    EXPECT_EQ(heard->finished[i].generated_tokens, 12u);
    EXPECT_EQ(heard->finished[i].seconds_before_submit, 0.5 + double(i));
  }
  EXPECT_EQ(heard->progress_mismatches, 0u);
  EXPECT_GT(heard->progress_seen, 0u);
}

TEST(Scheduler, MaxTokensZeroWithoutScoringIsInvalid) {
  Scheduler scheduler(*stories().model, stories().tokenizer.get(), small_options());
  auto [tx, rx] = make_event_stream<GenerationEvent>(16);
  EXPECT_EQ(scheduler.submit(greedy("Once upon a time", 0), tx).status, SubmitStatus::invalid);
}

}  // namespace
}  // namespace tandem::actors

namespace tandem::actors {
namespace {

// n > 1: choices submitted together with a shared prompt compute it once; the later choices take
// its full blocks from the prefix cache (only the last, partial block is computed again), and
// each choice samples with its own seed.
TEST(Scheduler, ChoicesSharingAPromptComputeItOnce) {
  Scheduler scheduler(*stories().model, stories().tokenizer.get(), small_options());
  auto request = greedy("Once upon a time, there was a little girl named Lily. She loved to play "
                        "outside in the park with her friends and her dog.", 24);
  request.sampling.temperature = 1.0f;
  const size_t prompt = request.prompt.size();
  ASSERT_GT(prompt, 33u);
  const uint32_t shared_blocks = static_cast<uint32_t>((prompt - 2) / 16 * 16);
  auto shared = std::make_shared<std::atomic<bool>>(false);
  asio::io_context io;
  std::vector<Collected> choices(3);
  std::vector<std::pair<GenerationRequest, GenerationSink>> requests;
  for (size_t i = 0; i < choices.size(); ++i) {
    auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
    GenerationRequest choice = request;
    choice.sampling.seed = 40 + i;
    choice.shared_prompt = shared;
    choice.waits_for_shared_prompt = i > 0;
    requests.emplace_back(std::move(choice), GenerationSink(std::move(tx)));
    collect(io, std::move(rx), choices[i]);
  }
  ASSERT_TRUE(scheduler.submit_all(std::move(requests)).accepted());
  io.run();
  for (auto& choice : choices) EXPECT_TRUE(choice.finished) << choice.error;
  EXPECT_EQ(choices[0].cached_tokens, 0u);
  EXPECT_EQ(choices[1].cached_tokens, shared_blocks);
  EXPECT_EQ(choices[2].cached_tokens, shared_blocks);
  EXPECT_NE(choices[0].tokens, choices[1].tokens) << "seeds 40 and 41 drew the same tokens";
  EXPECT_TRUE(eventually([&] {
    auto s = scheduler.stats();
    return s.prefix_hit_tokens == 2 * shared_blocks && s.prefix_miss_tokens == 3 * prompt - 2 * shared_blocks;
  }));
}

TEST(Scheduler, SubmitAllQueuesEveryRequestOrNone) {
  auto options = small_options();
  options.max_waiting = 2;
  Scheduler scheduler(*stories().model, stories().tokenizer.get(), options);
  std::vector<std::pair<GenerationRequest, GenerationSink>> requests;
  std::vector<EventReceiver<GenerationEvent>> receivers;
  for (int i = 0; i < 3; ++i) {
    auto [tx, rx] = make_event_stream<GenerationEvent>(16);
    requests.emplace_back(greedy("Once", 4), GenerationSink(std::move(tx)));
    receivers.push_back(std::move(rx));
  }
  EXPECT_EQ(scheduler.submit_all(std::move(requests)).status, SubmitStatus::overloaded);
  EXPECT_EQ(scheduler.stats().waiting, 0u);
}

// The scheduler hands its StepPolicy to every step: with a prompt-row cap, a prompt that arrives
// while another request decodes is computed a few rows per step beside that decode, and its
// tokens are those it gets alone.
TEST(Scheduler, StepPolicyCapsPromptRowsBesideRunningDecodes) {
  struct Steps {
    std::mutex mutex;
    std::vector<StepTiming> seen;
  };
  auto steps = std::make_shared<Steps>();
  SchedulerObserver observer;
  observer.on_step_timing = [steps](const StepTiming& step) {
    std::lock_guard lock(steps->mutex);
    steps->seen.push_back(step);
  };
  auto options = small_options();
  options.step_policy.max_prefill_tokens = 4;
  options.step_delay = 2ms;  // the first request provably decodes while the second's prompt runs
  auto running = greedy("Once upon a time", 200);
  running.ignore_eos = true;
  const auto late = greedy("The little dog ran to the park with his ball, and the sun was warm on his back", 4);
  Collected running_out, late_out;
  {
    Scheduler scheduler(*stories().model, stories().tokenizer.get(), options, observer);
    asio::io_context io;
    auto [tx, rx] = make_event_stream<GenerationEvent>(1024);
    ASSERT_TRUE(scheduler.submit(running, tx).accepted());
    ASSERT_TRUE(eventually([&] { return scheduler.stats().generated_tokens > 0; }));
    auto [late_tx, late_rx] = make_event_stream<GenerationEvent>(1024);
    ASSERT_TRUE(scheduler.submit(late, late_tx).accepted());
    collect(io, std::move(rx), running_out);
    collect(io, std::move(late_rx), late_out);
    io.run();
  }
  ASSERT_TRUE(running_out.finished) << running_out.error;
  ASSERT_TRUE(late_out.finished) << late_out.error;
  size_t prompt_rows_beside_decodes = 0;
  for (const auto& step : steps->seen) {
    if (step.decode_tokens == 0) continue;
    EXPECT_LE(step.prefill_tokens, 4u);
    prompt_rows_beside_decodes += step.prefill_tokens;
  }
  EXPECT_EQ(prompt_rows_beside_decodes, late.prompt.size());
  EXPECT_EQ(late_out.tokens, run_alone(late).tokens);
}

}  // namespace
}  // namespace tandem::actors
