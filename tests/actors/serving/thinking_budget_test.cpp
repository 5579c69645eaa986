// Thinking budgets end to end on the local backend: a scripted model (SynthModelSpec::script,
// as `tandem synth-model --script` writes it) with DeepSeek-R1's template thinks for 16 tokens
// and then answers. With a smaller budget the engine is made to write </think> early: the
// thinking block stays within the budget, the answer still follows, and usage says how many
// tokens were reasoning.
#include "actors/serving/local_backend.h"
#include "engine/gguf_writer.h"
#include "tests/actors/coroutine_runner.h"
#include "tests/common/test_data.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace tandem::local {
namespace {

using namespace std::chrono_literals;
using actors::test::run_coroutine;
namespace asio = boost::asio;

const std::string kReasoning = "a b c d e f g h i j k l m n o p";  // 16 tokens
const std::string kAnswer = "hi";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Written once per test binary into the temp directory (as cmd_synth_model does: the script's
// tokens come from the model's own vocabulary).
std::shared_ptr<engine::LoadedModel> scripted_r1() {
  static std::shared_ptr<engine::LoadedModel> model = [] {
    const auto template_path = test::shared_file("templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja");
    engine::SynthModelSpec spec;
    spec.dim = 64;
    spec.layers = 1;
    spec.heads = 2;
    spec.kv_heads = 2;
    spec.ff = 64;
    spec.context = 512;
    spec.chat_template = read_file(template_path);
    const auto path = (std::filesystem::temp_directory_path() /
                       ("tandem-thinking-budget-" + std::to_string(::getpid()) + ".gguf"))
                          .string();
    engine::write_synthetic_model(spec, path);
    auto plain = engine::LoadedModel::load(path);
    auto tokens = plain->tokenizer().encode(kReasoning + "</think>" + kAnswer, false, true);
    tokens.push_back(plain->tokenizer().eos_id());
    spec.script.assign(tokens.begin(), tokens.end());
    engine::write_synthetic_model(spec, path);
    std::shared_ptr<engine::LoadedModel> loaded = engine::LoadedModel::load(path);
    std::filesystem::remove(path);  // mapped: the file may go
    return loaded;
  }();
  return model;
}

LocalModel local_model() {
  LocalModel local;
  local.id = "r1-scripted";
  auto model = scripted_r1();
  local.model = model;
  actors::SchedulerOptions options;
  options.engine.context_size = 512;
  options.engine.kv_tokens = 1024;
  local.scheduler = std::make_shared<actors::Scheduler>(model->model(), &model->tokenizer(), options,
                                                        actors::SchedulerObserver{}, model);
  local.context_size = local.scheduler->context_size();
  return local;
}

schemas::InternalRequest request(schemas::Protocol protocol, schemas::ThinkingConfig thinking, int64_t max_tokens) {
  schemas::InternalRequest out;
  out.protocol = protocol;
  out.endpoint = protocol == schemas::Protocol::anthropic ? schemas::Endpoint::messages
                                                          : schemas::Endpoint::chat_completions;
  out.model = "r1-scripted";
  schemas::Message message;
  message.content.push_back(schemas::TextPart{"Say hi."});
  out.messages.push_back(std::move(message));
  out.max_tokens = max_tokens;
  out.thinking = thinking;
  return out;
}

schemas::ThinkingConfig enabled(int64_t budget) {
  schemas::ThinkingConfig config;
  config.mode = schemas::ThinkingConfig::Mode::enabled;
  config.enabled = true;
  config.budget_tokens = budget;
  return config;
}

schemas::ThinkingConfig effort(schemas::Effort level) {
  schemas::ThinkingConfig config;
  config.mode = schemas::ThinkingConfig::Mode::adaptive;
  config.enabled = true;
  config.effort = level;
  return config;
}

asio::awaitable<std::vector<schemas::StreamEvent>> generate(actors::ActorRuntime& runtime, caf::actor backend,
                                                             schemas::InternalRequest request) {
  auto [tx, rx] = actors::make_event_stream<backend::BackendEvent>(512);
  backend::BackendRequest forwarded;
  forwarded.request = std::move(request);
  std::vector<schemas::StreamEvent> events;
  backend::GenerateReply reply;
  {
    backend::EventSink sink(std::move(tx));
    reply = co_await actors::ask<backend::GenerateReply>(runtime, backend, 30s, backend::generate_atom::value,
                                                         std::move(forwarded), std::move(sink));
  }
  EXPECT_TRUE(reply.accepted) << reply.error.message;
  if (!reply.accepted) co_return events;
  while (auto event = co_await rx.next()) {
    if (auto* stream_event = std::get_if<schemas::StreamEvent>(&*event)) events.push_back(*stream_event);
  }
  co_return events;
}

struct Answer {
  std::string thinking;
  std::string text;
  schemas::Usage usage;
  schemas::FinishReason reason = schemas::FinishReason::error;
};

// The streamed deltas joined, checked against the complete answer the same events fold into.
Answer collect(const std::vector<schemas::StreamEvent>& events) {
  Answer out;
  schemas::ResultBuilder builder;
  for (const auto& event : events) {
    builder.add(event);
    if (const auto* thinking = std::get_if<schemas::ThinkingDelta>(&event)) out.thinking += thinking->thinking;
    if (const auto* text = std::get_if<schemas::TextDelta>(&event)) out.text += text->text;
    if (const auto* finish = std::get_if<schemas::Finish>(&event)) {
      out.usage = finish->usage;
      out.reason = finish->reason;
    }
  }
  EXPECT_TRUE(builder.finished());
  std::string folded_thinking;
  for (const auto& part : builder.result().content) {
    if (const auto* thinking = std::get_if<schemas::ThinkingPart>(&part)) folded_thinking += thinking->thinking;
  }
  EXPECT_EQ(folded_thinking, out.thinking);
  EXPECT_EQ(builder.result().text(), out.text);
  return out;
}

int64_t token_count(const std::string& text) {
  return static_cast<int64_t>(scripted_r1()->tokenizer().encode(text, false, false).size());
}

class ThinkingBudget : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = backend::as_actor(spawn_local_backend(runtime_.system(), local_model()));
    runtime_.track(backend_);
  }
  void TearDown() override { runtime_.shutdown(); }
  Answer ask(schemas::InternalRequest request) { return collect(run_coroutine(generate(runtime_, backend_, request))); }

  actors::ActorRuntime runtime_;
  caf::actor backend_;
};

TEST_F(ThinkingBudget, UnboundedTheModelThinksItsWholeScript) {
  auto answer = ask(request(schemas::Protocol::anthropic, enabled(150), 200));
  EXPECT_EQ(answer.thinking, kReasoning);
  EXPECT_EQ(answer.text, kAnswer);
  EXPECT_EQ(answer.reason, schemas::FinishReason::stop);
  // The 16 reasoning tokens and the marker's, all generated.
  const int64_t marker = static_cast<int64_t>(end_marker_tokens(scripted_r1()->tokenizer()).size());
  EXPECT_EQ(answer.usage.reasoning_tokens.value_or(-1), 16 + marker);
}

TEST_F(ThinkingBudget, BudgetEndsTheBlockAndTheAnswerFollows) {
  const int64_t marker = static_cast<int64_t>(end_marker_tokens(scripted_r1()->tokenizer()).size());
  ASSERT_GE(marker, 1);
  for (int64_t budget : {marker + 1, marker + 4, int64_t{12}}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    auto answer = ask(request(schemas::Protocol::anthropic, enabled(budget), 64));
    EXPECT_FALSE(answer.thinking.empty());
    EXPECT_LE(token_count(answer.thinking), budget);
    EXPECT_EQ(answer.thinking, kReasoning.substr(0, answer.thinking.size()));
    EXPECT_LT(answer.thinking.size(), kReasoning.size());
    EXPECT_EQ(answer.text, kAnswer);
    EXPECT_EQ(answer.reason, schemas::FinishReason::stop);
    EXPECT_EQ(answer.usage.reasoning_tokens.value_or(-1), budget);
    // The answer and the marker count as output like the reasoning does.
    EXPECT_EQ(answer.usage.output_tokens, budget + token_count(kAnswer) + 1);  // + end of text
  }
}

TEST_F(ThinkingBudget, EffortIsAShareOfMaxTokens) {
  // OpenAI reasoning_effort low: a quarter of max_tokens 40 = 10 tokens of reasoning.
  auto answer = ask(request(schemas::Protocol::openai, effort(schemas::Effort::low), 40));
  EXPECT_LE(token_count(answer.thinking), 10);
  EXPECT_LT(answer.thinking.size(), kReasoning.size());
  EXPECT_EQ(answer.text, kAnswer);
  EXPECT_EQ(answer.usage.reasoning_tokens.value_or(-1), 10);
  // high: three quarters of 40 = 30 > the script's reasoning: untouched.
  answer = ask(request(schemas::Protocol::openai, effort(schemas::Effort::high), 40));
  EXPECT_EQ(answer.thinking, kReasoning);
  EXPECT_EQ(answer.text, kAnswer);
}

TEST_F(ThinkingBudget, MaxTokensStillBoundsTheWholeOutput) {
  // Budget 12 of max_tokens 13: the block closes at 12, one token of answer fits.
  auto answer = ask(request(schemas::Protocol::anthropic, enabled(12), 13));
  EXPECT_EQ(answer.usage.output_tokens, 13);
  EXPECT_EQ(answer.text, kAnswer);
  EXPECT_EQ(answer.reason, schemas::FinishReason::length);
  EXPECT_LE(token_count(answer.thinking), 12);
}

}  // namespace
}  // namespace tandem::local
