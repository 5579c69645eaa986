// Promises the README makes about serving, each checked over HTTP against the real binary:
// metric families and their types, --alias and several --model, --ctx-size (N and 0) and the KV
// pool it sizes, max_tokens left out, stop / seed / penalties reaching the sampler, the open
// health endpoints under API keys, the request id on log lines, and the options table.
#include "tests/api/api_test_util.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace tandem::test {
namespace {

json::object completion_request(const std::string& model, const std::string& prompt) {
  json::object body;
  body["model"] = model;
  body["prompt"] = prompt;
  body["temperature"] = 0;
  return body;
}

json::object chat_request(const std::string& model, const std::string& content, int max_tokens) {
  json::object user;
  user["role"] = "user";
  user["content"] = content;
  json::object body;
  body["model"] = model;
  body["messages"] = json::array{user};
  body["max_tokens"] = max_tokens;
  body["temperature"] = 0;
  return body;
}

std::string text_of(const json::value& completion) {
  return std::string(completion.at("choices").at(0).at("text").as_string());
}

std::string readme() {
  std::ifstream in(std::string(TANDEM_SOURCE_DIR) + "/README.md");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// ------------------------------------------------------------------------------------ metrics

TEST(Promises, EveryDocumentedMetricFamilyExistsWithItsType) {
  auto model = stories_path();
  ASSERT_FALSE(model.empty());
  TandemProcess server(TandemProcess::server_arguments({"--model", model}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();
  json::object request = completion_request("stories260K", "Once upon a time");
  request["max_tokens"] = 4;
  ASSERT_EQ(post_json(port, "/v1/completions", request).status, 200);
  // A streamed chat in each protocol: the client-side TTFT / inter-token families get samples.
  json::object streamed = chat_request("stories260K", "Tell me a story", 8);
  streamed["stream"] = true;
  auto openai_stream = stream_text(port, "/v1/chat/completions", streamed);
  ASSERT_FALSE(openai_stream.text.empty());
  auto anthropic_stream = stream_text(port, "/v1/messages", streamed);
  ASSERT_FALSE(anthropic_stream.text.empty());

  std::string text;
  ASSERT_TRUE(metrics_eventually(port, [&](const std::string& t) {
    text = t;
    return metric(t, "tandem_scheduler_generated_tokens_total{").value_or(0) >= 20;
  })) << text;
  const std::map<std::string, std::string> families = {
      {"tandem_http_requests_total", "counter"},
      {"tandem_http_request_duration_seconds", "histogram"},
      {"tandem_http_open_connections", "gauge"},
      {"tandem_scheduler_running_sequences", "gauge"},
      {"tandem_scheduler_waiting_requests", "gauge"},
      {"tandem_scheduler_kv_blocks_used", "gauge"},
      {"tandem_scheduler_kv_blocks_capacity", "gauge"},
      {"tandem_scheduler_batch_size", "histogram"},
      {"tandem_scheduler_step_tokens", "histogram"},
      {"tandem_scheduler_prompt_tokens_total", "counter"},
      {"tandem_scheduler_generated_tokens_total", "counter"},
      {"tandem_scheduler_steps_total", "counter"},
      {"tandem_scheduler_cancelled_total", "counter"},
      {"tandem_scheduler_prefix_cache_hit_tokens_total", "counter"},
      {"tandem_scheduler_prefix_cache_miss_tokens_total", "counter"},
      {"tandem_scheduler_kv_evictions_total", "counter"},
      {"tandem_scheduler_preemptions_total", "counter"},
      {"tandem_scheduler_kv_blocks_cached", "gauge"},
      {"tandem_scheduler_queue_wait_seconds", "histogram"},
      {"tandem_scheduler_time_to_first_token_seconds", "histogram"},
      {"tandem_scheduler_inter_token_seconds", "histogram"},
      {"tandem_scheduler_step_seconds", "histogram"},
      {"tandem_scheduler_step_prefill_tokens", "histogram"},
      {"tandem_scheduler_step_decode_tokens", "histogram"},
      {"tandem_http_time_to_first_token_seconds", "histogram"},
      {"tandem_http_inter_token_seconds", "histogram"},
      {"tandem_scheduler_queue_capacity", "gauge"},
      {"tandem_actor_messages_total", "counter"},
      {"tandem_actor_mailbox_depth", "gauge"},
      {"tandem_actor_queue_wait_seconds", "histogram"},
      {"tandem_actor_handling_seconds", "histogram"},
  };
  for (const auto& [name, type] : families) {
    EXPECT_NE(text.find("# TYPE " + name + " " + type + "\n"), std::string::npos) << name << " " << type;
  }
  for (const char* per_model : {"tandem_scheduler_running_sequences", "tandem_scheduler_kv_blocks_capacity",
                                "tandem_scheduler_steps_total", "tandem_scheduler_batch_size_count"}) {
    EXPECT_NE(text.find(std::string(per_model) + "{model=\"stories260K\"}"), std::string::npos) << per_model;
  }
  // Three requests, each counted once per stage: queue wait and TTFT in the scheduler; the two
  // streams' first tokens as the client saw them, by protocol (backend "local" once the router
  // names it, "unknown" before).
  EXPECT_EQ(metric(text, "tandem_scheduler_queue_capacity{model=\"stories260K\"}").value_or(0), 64);
  EXPECT_GT(metric(text, "process_start_time_seconds").value_or(0), 1.6e9);
  EXPECT_EQ(metric(text, "tandem_scheduler_queue_wait_seconds_count{model=\"stories260K\"}").value_or(0), 3);
  EXPECT_EQ(metric(text, "tandem_scheduler_time_to_first_token_seconds_count{model=\"stories260K\"}").value_or(0), 3);
  EXPECT_GT(metric(text, "tandem_scheduler_inter_token_seconds_count{model=\"stories260K\"}").value_or(0), 0);
  EXPECT_GT(metric(text, "tandem_scheduler_step_prefill_tokens_sum{model=\"stories260K\"}").value_or(0), 0);
  EXPECT_GT(metric(text, "tandem_scheduler_step_decode_tokens_sum{model=\"stories260K\"}").value_or(0), 0);
  for (const char* protocol : {"openai", "anthropic"}) {
    double first_tokens = 0;
    for (const char* backend : {"local", "unknown"}) {
      first_tokens += metric(text, std::string("tandem_http_time_to_first_token_seconds_count{backend=\"") + backend +
                                       "\",protocol=\"" + protocol + "\"}")
                          .value_or(0);
    }
    EXPECT_EQ(first_tokens, 1) << protocol << "\n" << text;
  }
  EXPECT_NE(text.find("tandem_http_request_duration_seconds_count{method=\"POST\",protocol=\"anthropic\","
                      "route=\"/v1/messages\",status=\"200\"}"),
            std::string::npos)
      << text;
  // Per-actor series: the router forwarded three generations to the model's backend actor.
  EXPECT_EQ(metric(text, "tandem_actor_messages_total{actor=\"router\",type=\"generate\"}").value_or(0), 3);
  EXPECT_EQ(metric(text, "tandem_actor_messages_total{actor=\"scheduler:stories260K\",type=\"generate\"}").value_or(0), 3);
  EXPECT_GE(metric(text, "tandem_actor_queue_wait_seconds_count{actor=\"router\"}").value_or(0), 3);
  EXPECT_NE(text.find("tandem_actor_mailbox_depth{actor=\"scheduler:stories260K\"}"), std::string::npos);
  // The README lists every family with its meaning, and names no other (a renamed metric breaks
  // dashboards).
  const std::string doc = readme();
  ASSERT_FALSE(doc.empty());
  std::regex name_pattern("`(tandem_(?:http|scheduler|actor)_[a-z_]+)`");
  std::set<std::string> documented;
  for (std::sregex_iterator it(doc.begin(), doc.end(), name_pattern), end; it != end; ++it) {
    documented.insert((*it)[1].str());
    EXPECT_TRUE(families.count((*it)[1].str())) << "README names " << (*it)[1].str();
  }
  for (const auto& [name, type] : families) EXPECT_TRUE(documented.count(name)) << "README lacks " << name;
#ifdef PROMTOOL
  const std::string path = ::testing::TempDir() + "/tandem_promises_metrics.txt";
  std::ofstream(path) << text;
  FILE* pipe = popen((std::string(PROMTOOL) + " check metrics < " + path + " 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string report;
  char line[512];
  while (fgets(line, sizeof line, pipe) != nullptr) report += line;
  EXPECT_EQ(pclose(pipe), 0) << "promtool check metrics:\n" << report;
#endif
}

// ------------------------------------------------------------------------ models and context

TEST(Promises, AliasAndSeveralModelsAreServedByTheirIds) {
  auto stories = stories_path();
  auto synth = shared_file("models/synth-llama-Q8_0.gguf");
  ASSERT_FALSE(stories.empty() || synth.empty());
  TandemProcess server(TandemProcess::server_arguments(
      {"--model", stories, "--alias", "tiny", "--model", synth, "--ctx-size", "256"}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();

  auto models = parse(http_request(port, "GET", "/v1/models").body);
  std::set<std::string> ids;
  for (const auto& entry : models.at("data").as_array()) ids.insert(std::string(entry.at("id").as_string()));
  EXPECT_EQ(ids, (std::set<std::string>{"tiny", "synth-llama-Q8_0"}));

  std::map<std::string, std::string> answers;
  for (const char* name : {"tiny", "stories260K", "synth-llama-Q8_0"}) {
    json::object request = completion_request(name, "Once upon a time");
    request["max_tokens"] = 8;
    auto response = post_json(port, "/v1/completions", request);
    ASSERT_EQ(response.status, 200) << name << ": " << response.body;
    answers[name] = text_of(parse(response.body));
  }
  // The alias and the file name reach the same model; the other file is another model.
  EXPECT_EQ(answers["tiny"], answers["stories260K"]);
  EXPECT_NE(answers["tiny"], answers["synth-llama-Q8_0"]);
  auto unknown = post_json(port, "/v1/completions", completion_request("nope", "x"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("tiny"), std::string::npos) << unknown.body;
  EXPECT_NE(unknown.body.find("synth-llama-Q8_0"), std::string::npos) << unknown.body;
}

// The KV pool size the scheduler reports (published after its first step, so one tiny request
// goes first).
double kv_blocks_total(std::uint16_t port) {
  json::object request = completion_request("stories260K", "Hi");
  request["max_tokens"] = 1;
  EXPECT_EQ(post_json(port, "/v1/completions", request).status, 200);
  std::string text;
  metrics_eventually(port, [&](const std::string& t) {
    text = t;
    return metric(t, "tandem_scheduler_kv_blocks_capacity{").value_or(0) > 0;
  });
  return metric(text, "tandem_scheduler_kv_blocks_capacity{").value_or(0);
}

struct ContextServer {
  TandemProcess process;
  std::uint16_t port;
  ContextServer(const std::string& ctx_size, const std::string& parallel)
      : process(TandemProcess::server_arguments(
            {"--model", stories_path(), "--ctx-size", ctx_size, "--parallel", parallel})),
        port(process.port()) {}
};

TEST(Promises, CtxSizeBoundsEachSequenceAndSizesTheKvPool) {
  ContextServer server("64", "3");
  ASSERT_NE(server.port, 0) << server.process.output();
  // The KV pool holds ctx-size x parallel tokens: 64 x 3 / 16-token blocks.
  EXPECT_EQ(kv_blocks_total(server.port), 12.0);

  json::object too_long = completion_request("stories260K", "Once upon a time");
  too_long["max_tokens"] = 70;
  auto refused = post_json(server.port, "/v1/completions", too_long);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.body.find("64"), std::string::npos) << refused.body;

  // max_tokens left out of a chat request: the rest of the context. (The legacy completions
  // endpoint keeps OpenAI's default of 16.)
  json::object chat = chat_request("stories260K", "Tell me a story.", 1);
  chat.erase("max_tokens");
  auto rest = post_json(server.port, "/v1/chat/completions", chat);
  ASSERT_EQ(rest.status, 200) << rest.body;
  auto body = parse(rest.body);
  EXPECT_EQ(body.at("choices").at(0).at("finish_reason"), "length") << rest.body;
  EXPECT_EQ(body.at("usage").at("prompt_tokens").to_number<int>() +
                body.at("usage").at("completion_tokens").to_number<int>(),
            64)
      << rest.body;
}

TEST(Promises, CtxSizeZeroMeansTheModelsTrainedContext) {
  ContextServer server("0", "2");
  ASSERT_NE(server.port, 0) << server.process.output();
  // stories260K was trained with 512 tokens of context.
  EXPECT_EQ(kv_blocks_total(server.port), 512.0 * 2 / 16);
  json::object request = completion_request("stories260K", "Once upon a time");
  request["max_tokens"] = 600;
  auto refused = post_json(server.port, "/v1/completions", request);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.body.find("512"), std::string::npos) << refused.body;
  request["max_tokens"] = 500;
  EXPECT_EQ(post_json(server.port, "/v1/completions", request).status, 200);
}

// ---------------------------------------------------------------------- sampling over HTTP

class SamplingOverHttp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new TandemProcess(TandemProcess::server_arguments({"--model", stories_path()}));
    port_ = server_->port();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(port_, 0) << "the shared server did not start"; }

  static json::object request(int max_tokens) {
    json::object body = completion_request("stories260K", "Once upon a time, there was a");
    body["max_tokens"] = max_tokens;
    return body;
  }
  static json::value complete(const json::object& body) {
    auto response = post_json(port_, "/v1/completions", body);
    EXPECT_EQ(response.status, 200) << response.body;
    return parse(response.body);
  }

  static TandemProcess* server_;
  static std::uint16_t port_;
};
TandemProcess* SamplingOverHttp::server_ = nullptr;
std::uint16_t SamplingOverHttp::port_ = 0;

TEST_F(SamplingOverHttp, StopEndsTheTextBeforeTheFirstMatch) {
  const std::string full = text_of(complete(request(40)));
  ASSERT_GT(full.size(), 30u) << full;
  // A stop string from the middle of the greedy text: the answer is everything before it.
  const std::string stop = full.substr(20, 4);
  const size_t first = full.find(stop);
  json::object body = request(40);
  body["stop"] = json::array{"@@never@@", json::string(stop)};
  auto stopped = complete(body);
  EXPECT_EQ(text_of(stopped), full.substr(0, first)) << "stop [" << stop << "] in [" << full << "]";
  EXPECT_EQ(stopped.at("choices").at(0).at("finish_reason"), "stop");
}

TEST_F(SamplingOverHttp, SeedMakesSampledTextsRepeatable) {
  auto sampled = [&](int seed) {
    json::object body = request(24);
    body["temperature"] = 1.0;
    body["seed"] = seed;
    return text_of(complete(body));
  };
  EXPECT_EQ(sampled(7), sampled(7));
  std::set<std::string> texts;
  for (int seed = 1; seed <= 6; ++seed) texts.insert(sampled(seed));
  EXPECT_GE(texts.size(), 3u) << "different seeds should sample different texts";
}

TEST_F(SamplingOverHttp, PenaltiesChangeTheGreedyText) {
  const std::string plain = text_of(complete(request(48)));
  for (const char* penalty : {"frequency_penalty", "presence_penalty"}) {
    json::object body = request(48);
    body[penalty] = 2.0;
    EXPECT_NE(text_of(complete(body)), plain) << penalty << " did not reach the sampler";
    // And within range only: OpenAI allows -2..2.
    body[penalty] = 2.5;
    auto refused = post_json(port_, "/v1/completions", body);
    EXPECT_EQ(refused.status, 400) << penalty << ": " << refused.body;
    EXPECT_NE(refused.body.find(penalty), std::string::npos) << refused.body;
  }
}

// ------------------------------------------------------------------ keys, ids, options

TEST(Promises, HealthReadyAndMetricsStayOpenWhenApiKeysAreSet) {
  const std::string key = "sk-promises-test-key-0123456789";
  TandemProcess server(TandemProcess::server_arguments({"--model", stories_path(), "--api-keys", key}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();
  EXPECT_EQ(http_request(port, "GET", "/health").status, 200);
  EXPECT_EQ(http_request(port, "GET", "/ready").status, 200);
  EXPECT_EQ(http_request(port, "GET", "/metrics").status, 200);
  EXPECT_EQ(http_request(port, "GET", "/v1/models").status, 401);
  EXPECT_EQ(http_request(port, "GET", "/v1/models", {}, {{"authorization", "Bearer " + key}}).status, 200);
  EXPECT_EQ(http_request(port, "GET", "/v1/models", {}, {{"x-api-key", key}}).status, 200);
  server.terminate();
  EXPECT_EQ(server.wait_exit(), 0);
  EXPECT_EQ(server.output().find(key), std::string::npos) << "the key reached the log";
}

TEST(Promises, TheRequestIdStartsEveryLogLineAboutTheRequest) {
  TandemProcess server(TandemProcess::server_arguments({"--model", stories_path(), "--log-level", "debug"}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();
  const std::string id = "req-promises-4711";
  HttpClient client("127.0.0.1", port, std::chrono::seconds(60));
  auto response = client.request("POST", "/v1/chat/completions",
                                 json::serialize(chat_request("stories260K", "Hello", 6)),
                                 {{"content-type", "application/json"}, {"x-request-id", id}});
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.header("x-request-id"), id);
  ASSERT_TRUE(server.wait_for_output("[" + id + "] POST /v1/chat/completions 200")) << server.output();
  server.terminate();
  server.wait_exit();

  // Every line that mentions the request has its id first, right after the time and level:
  // "2026-11-29T19:59:15.955 info [req-promises-4711] POST /v1/chat/completions 200 14.6ms".
  std::istringstream lines(server.output());
  std::string line;
  int about_request = 0;
  const std::regex starts_with_id("^\\S+ \\S+ \\[" + id + "\\] ");
  while (std::getline(lines, line)) {
    if (line.find(id) == std::string::npos) continue;
    ++about_request;
    EXPECT_TRUE(std::regex_search(line, starts_with_id)) << line;
  }
  EXPECT_GE(about_request, 1);
}

// The README's options table: | `--flag` (or `-x, --flag`) | default | meaning |.
std::map<std::string, std::string> readme_options() {
  std::map<std::string, std::string> options;
  std::regex row(R"(^\| `(?:-[a-z]+, )?(--[a-z-]+)` \| ([^|]+) \|)");
  std::istringstream doc(readme());
  std::string line;
  while (std::getline(doc, line)) {
    std::smatch match;
    if (std::regex_search(line, match, row)) {
      std::string value = match[2].str();
      value.erase(value.find_last_not_of(' ') + 1);
      options[match[1].str()] = value;
    }
  }
  return options;
}

// What --help shows as the default for a README value: "none" shows nothing (or "[]" for a
// repeatable option), sizes in bytes, "all cores" as this machine's core count.
bool same_default(const std::string& readme_value, const std::string& shown) {
  if (readme_value == "none") return shown.empty() || shown == "[]";
  if (readme_value == "8MiB") return shown == std::to_string(8 * 1024 * 1024);
  if (readme_value == "all cores") return shown == std::to_string(std::thread::hardware_concurrency());
  return shown == readme_value;
}

TEST(Promises, HelpListsEveryOptionAndTheReadmeTableMatchesItsDefaults) {
  auto documented = readme_options();
  ASSERT_GE(documented.size(), 15u) << "the README's options table did not parse";
  auto [code, help] = run_tandem({"--help"});
  ASSERT_EQ(code, 0) << help;

  // Option lines of CLI11's help: "  -c,--ctx-size INT:INT in [0 - 1048576]=4096   Context ...".
  std::regex option_line(R"(^  (-[^ ]+)(?: ([^=]*?)(?:=(\S+))?( \.\.\.)?)?(?:\s{2,}|$))");
  std::set<std::string> listed;
  std::istringstream lines(help);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch match;
    if (!std::regex_search(line, match, option_line)) continue;
    std::vector<std::string> names;
    std::istringstream split(match[1].str());
    for (std::string name; std::getline(split, name, ',');) {
      if (name.rfind("--", 0) == 0) names.push_back(name);
    }
    if (names.empty() || names[0] == "--help") continue;
    // The option is documented under one of its names, with the default --help shows.
    std::string row;
    for (const auto& name : names) {
      if (documented.count(name)) row = name;
    }
    EXPECT_FALSE(row.empty()) << line << "\n  is not in the README's options table";
    if (row.empty()) continue;
    listed.insert(row);
    const std::string shown = match[3].matched ? match[3].str() : "";
    EXPECT_TRUE(same_default(documented[row], shown))
        << row << ": --help shows default [" << shown << "], the README says " << documented[row];
  }
  for (const auto& [flag, value] : documented) EXPECT_TRUE(listed.count(flag)) << flag << " is not in --help";
}

// The defaults the README's table documents are the ones a server actually runs with.
TEST(Promises, ReadmeDefaultsAreTheRunningDefaults) {
  auto documented = readme_options();
  TandemProcess server(TandemProcess::server_arguments({"--model", stories_path()}));
  auto port = server.port();
  ASSERT_NE(port, 0) << server.output();
  const std::string log = server.output();
  // "tandem starting: io-threads 1, actor-threads 2, engine threads N, max-connections 256,
  // body-limit 8388608 bytes, 0 API key(s)"
  EXPECT_NE(log.find("io-threads " + documented["--io-threads"]), std::string::npos) << log;
  EXPECT_NE(log.find("actor-threads " + documented["--actor-threads"]), std::string::npos) << log;
  EXPECT_NE(log.find("max-connections " + documented["--max-connections"]), std::string::npos) << log;
  EXPECT_EQ(documented["--body-limit"], "8MiB");
  EXPECT_NE(log.find("body-limit 8388608 bytes"), std::string::npos) << log;
  // --ctx-size 4096 is capped at stories260K's 512, --parallel 4: 512 x 4 / 16 blocks.
  EXPECT_EQ(documented["--ctx-size"], "4096");
  EXPECT_EQ(documented["--parallel"], "4");
  EXPECT_EQ(kv_blocks_total(port), 512.0 * 4 / 16);
}

}  // namespace
}  // namespace tandem::test
