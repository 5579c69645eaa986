// The fake upstream as a program, for the SDK tests (node) and the gateway benchmark:
//   tandem-fake-upstream [--port N] [--threads N]
// prints "listening on http://127.0.0.1:PORT" and answers with fakes::protocol_answer (see
// fake_answers.h: both protocols, streamed or not, "error-NNN" models for errors) until killed.
#include "tests/fakes/fake_answers.h"
#include "tests/fakes/fake_upstream.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  int threads = 1;
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--port N] [--threads N]\n", argv[0]);
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
  fake.set_script(tandem::fakes::protocol_answer);
  std::printf("listening on %s\n", fake.base_url().c_str());
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  return 0;
}
