// The local backend on a real model (stories260K): prompts are built as the endpoints expect,
// scheduler refusals become the table's errors, and a generate through the actor streams
// MessageStart, deltas and Finish with exact usage into the sink.
#include "actors/serving/local_backend.h"
#include "tests/actors/coroutine_runner.h"
#include "tests/common/test_data.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>

#include <chrono>
#include <future>
#include <thread>

namespace tandem::local {
namespace {

using namespace std::chrono_literals;
using actors::test::run_coroutine;
namespace asio = boost::asio;

std::shared_ptr<engine::LoadedModel> stories() {
  static std::shared_ptr<engine::LoadedModel> model =
      engine::LoadedModel::load(test::shared_file("models/stories260K.gguf"));
  return model;
}

schemas::InternalRequest chat(std::string text, schemas::Protocol protocol = schemas::Protocol::openai) {
  schemas::InternalRequest request;
  request.protocol = protocol;
  request.endpoint = protocol == schemas::Protocol::anthropic ? schemas::Endpoint::messages
                                                              : schemas::Endpoint::chat_completions;
  request.model = "stories260K";
  schemas::Message message;
  message.content.push_back(schemas::TextPart{std::move(text)});
  request.messages.push_back(std::move(message));
  request.sampling.temperature = 0.0;
  request.max_tokens = 8;
  return request;
}

TEST(LocalPrompt, ChatUsesTheTemplateAndCompletionsTheRawPrompt) {
  auto model = stories();
  auto prepared = prepare_generation(*model, "stories260K", 512, chat("Once upon a time"), "req_1");
  ASSERT_TRUE(prepared) << prepared.error().message;
  EXPECT_EQ(prepared->request.prompt, *chat_prompt_tokens(*model, chat("Once upon a time")));
  EXPECT_EQ(prepared->request.max_tokens, 8u);
  EXPECT_EQ(prepared->plan.prompt_tokens, static_cast<int64_t>(prepared->request.prompt.size()));

  schemas::InternalRequest legacy;
  legacy.endpoint = schemas::Endpoint::completions;
  legacy.prompts.push_back(schemas::Prompt{"Once upon a time", {}, false});
  legacy.echo = true;
  legacy.max_tokens = 0;
  auto scoring = prepare_generation(*model, "stories260K", 512, legacy, "req_2");
  ASSERT_TRUE(scoring) << scoring.error().message;
  EXPECT_EQ(scoring->request.prompt, model->tokenize_text("Once upon a time"));
  EXPECT_TRUE(scoring->request.score_prompt);  // max_tokens 0 with echo scores the prompt
  std::string echoed;
  for (const auto& piece : scoring->plan.prompt_pieces) echoed += piece;
  EXPECT_EQ(echoed, model->tokenizer().decode(scoring->request.prompt));
}

TEST(LocalPrompt, RefusalsNameTheField) {
  auto model = stories();
  // n > 1 is served for chat and legacy completions; not for Anthropic messages (no such field
  // there, but an internal request could carry it from elsewhere).
  auto two = chat("hi");
  two.sampling.n = 2;
  EXPECT_TRUE(prepare_generation(*model, "m", 512, two, "r"));
  schemas::InternalRequest two_completions;
  two_completions.endpoint = schemas::Endpoint::completions;
  two_completions.prompts.push_back(schemas::Prompt{"Once", {}, false});
  two_completions.sampling.n = 2;
  EXPECT_TRUE(prepare_generation(*model, "m", 512, two_completions, "r"));
  auto two_messages = chat("hi", schemas::Protocol::anthropic);
  two_messages.sampling.n = 2;
  EXPECT_EQ(prepare_generation(*model, "m", 512, two_messages, "r").error().param, "n");

  schemas::InternalRequest legacy;
  legacy.endpoint = schemas::Endpoint::completions;
  EXPECT_EQ(prepare_generation(*model, "m", 512, legacy, "r").error().message, "prompt: field required");
  legacy.prompts.push_back(schemas::Prompt{"", {1, 1 << 30}, true});
  EXPECT_EQ(prepare_generation(*model, "m", 512, legacy, "r").error().param, "prompt[1]");
}

TEST(LocalBackend, SchedulerRefusalsMapThroughTheOneTable) {
  using schemas::ErrorKind;
  using schemas::Protocol;
  auto full = submit_refusal(actors::SubmitStatus::overloaded, "queue full");
  EXPECT_EQ(full.kind, ErrorKind::queue_full);
  EXPECT_EQ(full.retry_after, 1);
  EXPECT_EQ(full.http_status(Protocol::openai), 429);
  EXPECT_EQ(full.http_status(Protocol::anthropic), 529);
  auto too_long = submit_refusal(actors::SubmitStatus::too_long, "too long");
  EXPECT_EQ(too_long.param, "max_tokens");
  EXPECT_EQ(schemas::error_shape(too_long.kind, Protocol::openai).code, "context_length_exceeded");
  EXPECT_EQ(too_long.http_status(Protocol::anthropic), 400);
  auto stopping = submit_refusal(actors::SubmitStatus::shutting_down, "stopping");
  EXPECT_EQ(stopping.http_status(Protocol::openai), 503);
  EXPECT_EQ(stopping.http_status(Protocol::anthropic), 503);
  EXPECT_EQ(stopping.retry_after, 5);
}

TEST(LocalAnswer, MessageStartComesFirstEvenWhenTheSchedulerIsQuicker) {
  auto [tx, rx] = actors::make_event_stream<backend::BackendEvent>(16);
  OutputPlan plan;
  plan.model_id = "stories260K";
  plan.prompt_tokens = 3;
  auto answer = std::make_shared<LocalAnswer>(plan, stories(), backend::EventSink(std::move(tx)));
  actors::GenerationEvent event;
  event.output.text = "Once";
  event.output.finished = true;
  event.output.reason = engine::FinishReason::length;
  event.output.completion_tokens = 1;
  EXPECT_TRUE(answer->try_push(std::move(event)));
  answer->close();
  EXPECT_FALSE(rx.try_pop());  // held until start()
  answer->start();
  std::vector<schemas::StreamEvent> events;
  while (auto item = rx.try_pop()) events.push_back(std::get<schemas::StreamEvent>(*item));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(std::get<schemas::MessageStart>(events[0]).model, "stories260K");
  EXPECT_EQ(std::get<schemas::TextDelta>(events[1]).text, "Once");
  const auto& finish = std::get<schemas::Finish>(events[2]);
  EXPECT_EQ(finish.reason, schemas::FinishReason::length);
  EXPECT_EQ(finish.usage.input_tokens, 3);
  EXPECT_EQ(finish.usage.output_tokens, 1);
}

LocalModel local_model(uint32_t context = 256) {
  LocalModel local;
  local.id = "stories260K";
  local.aliases = {"tiny"};
  local.created = 1700000000;
  auto model = stories();
  local.model = model;
  actors::SchedulerOptions options;
  options.max_running = 2;
  options.engine.context_size = context;
  options.engine.kv_tokens = context * 2;
  local.scheduler = std::make_shared<actors::Scheduler>(model->model(), &model->tokenizer(), options,
                                                        actors::SchedulerObserver{}, model);
  local.context_size = local.scheduler->context_size();
  return local;
}

struct Generated {
  backend::GenerateReply reply;
  std::vector<schemas::StreamEvent> events;
};

asio::awaitable<Generated> generate(actors::ActorRuntime& runtime, caf::actor backend,
                                    schemas::InternalRequest request) {
  auto [tx, rx] = actors::make_event_stream<backend::BackendEvent>(512);
  backend::BackendRequest forwarded;
  forwarded.request = std::move(request);
  Generated out;
  {
    backend::EventSink sink(std::move(tx));
    out.reply = co_await actors::ask<backend::GenerateReply>(runtime, backend, 30s, backend::generate_atom::value,
                                                             std::move(forwarded), std::move(sink));
  }
  if (!out.reply.accepted) co_return out;
  while (auto event = co_await rx.next()) {
    if (auto* stream_event = std::get_if<schemas::StreamEvent>(&*event)) out.events.push_back(*stream_event);
  }
  co_return out;
}

// With --actor-threads 0 the actors share the HTTP sessions' and libcurl's thread: the local
// backend's work (templates, tokenizing a whole prompt) must not run there, or every session of
// that shard would wait for it. A handler posted to that thread while a long prompt is being
// counted runs at once, not after the count.
TEST(LocalBackend, ItsWorkLeavesTheSharedIoThreadFree) {
  actors::ActorRuntime runtime(actors::RuntimeOptions{.share_io_thread = true});
  auto backend = backend::as_actor(spawn_local_backend(runtime.system(), local_model()));
  runtime.track(backend);
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "Once upon a time there was a little girl. ";
  backend::BackendRequest count_request;
  count_request.request = chat(text, schemas::Protocol::anthropic);
  using Clock = std::chrono::steady_clock;
  const auto asked = Clock::now();
  auto counting = std::async(std::launch::async, [&] {
    return run_coroutine(
        actors::ask<backend::TokenCount>(runtime, backend, 120s, backend::count_atom::value, count_request));
  });
  // The front actor runs on the shared thread first; the probe queues behind it.
  std::this_thread::sleep_for(20ms);
  std::promise<Clock::duration> probe_waited;
  const auto posted = Clock::now();
  asio::post(*runtime.io_contexts()[0], [&] { probe_waited.set_value(Clock::now() - posted); });
  auto count = counting.get();
  const auto count_took = Clock::now() - asked;
  ASSERT_TRUE(count.counted);
  EXPECT_GT(count.tokens, 100000);
  const auto waited = probe_waited.get_future().get();
  EXPECT_LT(waited, count_took / 2) << "the shared thread was busy for "
                                    << std::chrono::duration<double, std::milli>(waited).count() << " ms of a "
                                    << std::chrono::duration<double, std::milli>(count_took).count() << " ms count";
}

TEST(LocalBackend, GeneratesCountsAndDescribesThroughTheSeam) {
  actors::ActorRuntime runtime;
  auto backend = backend::as_actor(spawn_local_backend(runtime.system(), local_model()));
  runtime.track(backend);

  auto generated = run_coroutine(generate(runtime, backend, chat("Once upon a time", schemas::Protocol::anthropic)));
  ASSERT_TRUE(generated.reply.accepted) << generated.reply.error.message;
  ASSERT_GE(generated.events.size(), 2u);
  const auto& start = std::get<schemas::MessageStart>(generated.events.front());
  EXPECT_EQ(start.model, "stories260K");
  EXPECT_EQ(start.id.rfind("msg_", 0), 0u);
  const auto& finish = std::get<schemas::Finish>(generated.events.back());
  EXPECT_EQ(finish.reason, schemas::FinishReason::length);
  EXPECT_EQ(finish.usage.output_tokens, 8);
  const auto prompt = *chat_prompt_tokens(*stories(), chat("Once upon a time"));
  EXPECT_EQ(finish.usage.input_tokens, static_cast<int64_t>(prompt.size()));

  auto too_long = chat("Once upon a time");
  too_long.max_tokens = 100000;
  auto refused = run_coroutine(generate(runtime, backend, too_long));
  EXPECT_FALSE(refused.reply.accepted);
  EXPECT_EQ(refused.reply.error.kind, schemas::ErrorKind::context_length_exceeded);

  backend::BackendRequest count_request;
  count_request.request = chat("Once upon a time", schemas::Protocol::anthropic);
  auto count = run_coroutine(
      actors::ask<backend::TokenCount>(runtime, backend, 30s, backend::count_atom::value, count_request));
  ASSERT_TRUE(count.counted);
  EXPECT_EQ(count.tokens, static_cast<int64_t>(prompt.size()));

  auto list = run_coroutine(actors::ask<backend::ModelList>(runtime, backend, 30s, backend::describe_atom::value));
  ASSERT_EQ(list.models.size(), 1u);
  EXPECT_EQ(list.models[0].id, "stories260K");
  EXPECT_EQ(list.models[0].aliases, std::vector<std::string>{"tiny"});
  EXPECT_EQ(list.models[0].owned_by, "tandem");
  EXPECT_EQ(list.models[0].context_window, 256u);
  EXPECT_EQ(list.models[0].created, 1700000000);
  runtime.shutdown();
}

}  // namespace
}  // namespace tandem::local
