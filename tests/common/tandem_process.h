// Starts the real `tandem` binary for integration tests: on an ephemeral port (--port 0), with
// its stdout+stderr captured, so tests can talk HTTP to it, read its log, and signal it.
//
//   TandemProcess server({"--debug-routes"});
//   auto port = server.port();                  // waits for "listening on http://...:PORT"
//   auto response = http_request(port, "GET", "/health");
//   server.terminate();                         // SIGTERM
//   EXPECT_EQ(server.wait_exit(), 0);
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tandem::test {

// The tandem executable of this build tree.
std::string tandem_executable();

class TandemProcess {
 public:
  // Runs `tandem <arguments>`; for a server, add --port 0 yourself or use start_server().
  // `environment` is added to the inherited one (TANDEM_* variables are not inherited, so the
  // developer's shell cannot change a test).
  explicit TandemProcess(std::vector<std::string> arguments,
                         std::map<std::string, std::string> environment = {});
  ~TandemProcess();  // kills the process if it still runs
  TandemProcess(const TandemProcess&) = delete;
  TandemProcess& operator=(const TandemProcess&) = delete;

  // A server on 127.0.0.1 and an ephemeral port.
  static std::vector<std::string> server_arguments(std::vector<std::string> extra = {});

  // The port from the "listening on http://HOST:PORT" line; 0 (and a test failure) when it does
  // not appear within `timeout`.
  std::uint16_t port(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  bool wait_for_output(std::string_view needle,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::string output() const;

  void signal(int signal_number);
  void terminate();  // SIGTERM
  // The exit code (128+N for a signal), or -1 when it did not exit in time (it is then killed).
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(20));

 private:
  void read_output(int fd);

  int pid_ = -1;
  int exit_code_ = -1;
  bool exited_ = false;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable output_changed_;
  std::string output_;
  std::thread reader_;
};

// Runs tandem to completion: {exit code, combined output}.
std::pair<int, std::string> run_tandem(std::vector<std::string> arguments,
                                       std::map<std::string, std::string> environment = {});

}  // namespace tandem::test
