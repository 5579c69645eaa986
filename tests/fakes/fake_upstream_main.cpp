// The fake upstream as a program, for the SDK tests (node), the gateway benchmark and the chaos
// run:
//   tandem-fake-upstream [--port N] [--threads N] [--cycle healthy=5,failing=3,... [--phase S]]
// prints "listening on http://127.0.0.1:PORT" and answers with fakes::protocol_answer (see
// fake_answers.h: both protocols, streamed or not, "error-NNN" models for errors) until killed.
// With --cycle it goes round the listed modes by wall time (seconds each, starting --phase
// seconds into the cycle): healthy (the normal answer), failing (500), throttling (429 with
// retry-after-ms: 300), stalling (never answers until the client leaves), cutting (a stream
// reset after its second piece).
#include "tests/fakes/fake_answers.h"
#include "tests/fakes/fake_upstream.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Phase {
  std::string mode;
  double seconds = 0;
};

std::vector<Phase> parse_cycle(const std::string& text) {
  std::vector<Phase> phases;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    std::size_t equals = item.find('=');
    if (equals == std::string::npos) return {};
    phases.push_back({item.substr(0, equals), std::atof(item.substr(equals + 1).c_str())});
    start = end + 1;
  }
  return phases;
}

tandem::fakes::ScriptedResponse answer_in(const std::string& mode, const tandem::fakes::RecordedRequest& request) {
  using namespace tandem::fakes;
  if (mode == "failing") return json_response(500, openai_error_json("server_error", "chaos: failing"));
  if (mode == "throttling")
    return json_response(429, openai_error_json("rate_limit_error", "chaos: throttling"), {{"retry-after-ms", "300"}});
  ScriptedResponse response = protocol_answer(request);
  if (mode == "stalling") response.fault = Fault::stall_before_headers;
  if (mode == "cutting") {
    response.fault = Fault::reset_mid_body;
    response.fault_after = 2;
  }
  return response;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  int port = 0;
  std::vector<Phase> cycle;
  double phase_offset = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--cycle") == 0) cycle = parse_cycle(argv[i + 1]);
    else if (std::strcmp(argv[i], "--phase") == 0) phase_offset = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--port N] [--threads N] [--cycle mode=seconds,... [--phase S]]\n", argv[0]);
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the server threads start: they inherit it

  tandem::fakes::FakeUpstream fake(threads, static_cast<std::uint16_t>(port));
  fake.set_recording(false);
  if (cycle.empty()) {
    fake.set_script(tandem::fakes::protocol_answer);
  } else {
    double total = 0;
    for (const auto& phase : cycle) total += phase.seconds;
    auto started = std::chrono::steady_clock::now();
    fake.set_script([cycle, total, phase_offset, started](const tandem::fakes::RecordedRequest& request) {
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      double at = total > 0 ? std::fmod(elapsed + phase_offset, total) : 0;
      for (const auto& phase : cycle) {
        if (at < phase.seconds) return answer_in(phase.mode, request);
        at -= phase.seconds;
      }
      return answer_in(cycle.back().mode, request);
    });
  }
  std::printf("listening on %s\n", fake.base_url().c_str());
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  return 0;
}
