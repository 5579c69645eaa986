// tandem_policy_replay: replays a serving load against the engine's step API in virtual time, to
// compare scheduling policies (engine::StepPolicy, the step budget, the number of running
// sequences) on a shared machine. Each step advances the clock by the CPU time the process spent
// in it, not by wall time, which other processes' builds stretch by 2-4x at random; the engine
// runs one thread, so CPU time is its work. Requests are admitted as the scheduler does
// (actors/serving/scheduler.cpp: arrival order, at most --parallel running). Prompts are unique
// token ids (no prefix-cache hits): --short-prompt tokens, every --long-every-th --long-prompt.
//
//   tandem_policy_replay MODEL.gguf [--clients N | --rate R] [--requests N] [--max-tokens 64]
//     [--budget 512] [--order arrival|shortest] [--max-prefill-tokens N] [--max-prefill-seqs N]
//     [--prefill-first] [--parallel 64] [--short-prompt 40] [--long-prompt 330] [--long-every 4]
//
// Prints one line: TTFT p50/p99 and ITL p50 in virtual ms, and output tokens per virtual second.
#include "engine/engine.h"
#include "engine/loaded_model.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace tandem::engine;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(values.size())));
  return values[index];
}

struct Options {
  std::string model;
  int clients = 16;
  double rate = 0;
  int requests = 0;  // 0: 2 per client (closed loop) or 30 s of arrivals (open loop)
  uint32_t max_tokens = 64;
  size_t budget = 512;
  size_t parallel = 64;
  size_t short_prompt = 40, long_prompt = 330;
  int long_every = 4;
  StepPolicy policy;
};

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) {
    std::fprintf(stderr, "usage: tandem_policy_replay MODEL.gguf [options] (see the source's header)\n");
    std::exit(1);
  }
  o.model = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", flag.c_str());
        std::exit(1);
      }
      return argv[++i];
    };
    if (flag == "--clients") o.clients = std::stoi(value());
    else if (flag == "--rate") o.rate = std::stod(value());
    else if (flag == "--requests") o.requests = std::stoi(value());
    else if (flag == "--max-tokens") o.max_tokens = static_cast<uint32_t>(std::stoul(value()));
    else if (flag == "--budget") o.budget = std::stoul(value());
    else if (flag == "--parallel") o.parallel = std::stoul(value());
    else if (flag == "--short-prompt") o.short_prompt = std::stoul(value());
    else if (flag == "--long-prompt") o.long_prompt = std::stoul(value());
    else if (flag == "--long-every") o.long_every = std::stoi(value());
    else if (flag == "--order") o.policy.prefill_order = value() == "shortest" ? StepPolicy::PrefillOrder::shortest_first
                                                                               : StepPolicy::PrefillOrder::arrival;
    else if (flag == "--max-prefill-tokens") o.policy.max_prefill_tokens = std::stoul(value());
    else if (flag == "--max-prefill-seqs") o.policy.max_prefill_sequences = std::stoul(value());
    else if (flag == "--prefill-first") o.policy.prefill_first = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      std::exit(1);
    }
  }
  if (o.requests == 0) o.requests = o.rate > 0 ? static_cast<int>(o.rate * 30) : 2 * o.clients;
  return o;
}

struct Request {
  double arrival = 0;
  std::vector<TokenId> prompt;
  double last_token = -1;  // virtual time of its latest token; -1 before the first
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  ModelLoadOptions load_options;
  load_options.threads = 1;
  auto loaded = LoadedModel::load(o.model, load_options);
  const uint32_t vocab = loaded->model().config().n_vocab;
  const uint32_t context = static_cast<uint32_t>(o.long_prompt + o.max_tokens + 16);
  EngineConfig config;
  config.context_size = context;
  config.kv_tokens = context * static_cast<uint32_t>(o.parallel);
  Engine engine(loaded->model(), nullptr, config);

  std::mt19937 random(7);
  auto make_request = [&](int index, double arrival) {
    Request r;
    r.arrival = arrival;
    const bool is_long = o.long_every > 0 && index % o.long_every == o.long_every - 1;
    r.prompt.resize(is_long ? o.long_prompt : o.short_prompt);
    r.prompt[0] = 1;
    for (size_t i = 1; i < r.prompt.size(); ++i) r.prompt[i] = static_cast<TokenId>(300 + random() % (vocab - 300));
    return r;
  };

  std::deque<Request> future;  // not yet arrived (open loop: all of them, by arrival time)
  int issued = 0;
  if (o.rate > 0) {
    for (; issued < o.requests; ++issued) future.push_back(make_request(issued, issued / o.rate));
  } else {
    for (; issued < std::min(o.clients, o.requests); ++issued) future.push_back(make_request(issued, 0));
  }
  std::deque<Request> waiting;
  std::map<SequenceId, Request> running;
  std::vector<double> ttft, itl;
  uint64_t generated = 0;
  double now = 0;
  int finished = 0;
  while (finished < o.requests) {
    while (!future.empty() && future.front().arrival <= now) {
      waiting.push_back(std::move(future.front()));
      future.pop_front();
    }
    while (!waiting.empty() && running.size() < o.parallel) {
      SequenceRequest sequence;
      sequence.prompt = waiting.front().prompt;
      sequence.max_tokens = o.max_tokens;
      sequence.ignore_eos = true;
      sequence.sampling.temperature = 0;
      auto added = engine.add(std::move(sequence));
      if (added.status == AddStatus::pool_full) break;
      if (!added.ok()) {
        std::fprintf(stderr, "add: %s\n", added.error.c_str());
        return 1;
      }
      running.emplace(added.id, std::move(waiting.front()));
      waiting.pop_front();
    }
    if (!engine.has_work()) {
      if (future.empty()) break;
      std::sort(future.begin(), future.end(), [](const Request& a, const Request& b) { return a.arrival < b.arrival; });
      now = std::max(now, future.front().arrival);
      continue;
    }
    const double started = cpu_seconds();
    auto events = engine.step(o.budget, o.policy);
    now += cpu_seconds() - started;
    for (const auto& event : events) {
      auto it = running.find(event.id);
      if (it == running.end() || event.tokens.empty()) continue;
      Request& r = it->second;
      generated += event.tokens.size();
      if (r.last_token < 0) {
        ttft.push_back(now - r.arrival);
      } else {
        for (size_t i = 0; i < event.tokens.size(); ++i) itl.push_back((now - r.last_token) / static_cast<double>(event.tokens.size()));
      }
      r.last_token = now;
      if (!event.finished) continue;
      running.erase(it);
      ++finished;
      if (o.rate <= 0 && issued < o.requests) future.push_back(make_request(issued++, now));  // the client asks again
    }
  }
  std::printf("TTFT p50 %.0f p99 %.0f ms | ITL p50 %.1f p99 %.1f ms | %.1f tok/s | %d requests, %.1f virtual s\n",
              percentile(ttft, 50) * 1e3, percentile(ttft, 99) * 1e3, percentile(itl, 50) * 1e3, percentile(itl, 99) * 1e3,
              now > 0 ? static_cast<double>(generated) / now : 0.0, finished, now);
  return 0;
}
