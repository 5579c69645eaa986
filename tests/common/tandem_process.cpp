#include "tests/common/tandem_process.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <regex>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tandem::test {

std::string tandem_executable() {
#ifdef TANDEM_EXECUTABLE
  return TANDEM_EXECUTABLE;
#else
  return std::string(TANDEM_BINARY_DIR) + "/tandem";
#endif
}

TandemProcess::TandemProcess(std::vector<std::string> arguments,
                             std::map<std::string, std::string> environment) {
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    // Neither tandem's own settings nor the developer's cloud credentials (which would register
    // real providers) may change what a test sees.
    if (std::strncmp(*entry, "TANDEM_", 7) == 0 || std::strncmp(*entry, "OPENAI_", 7) == 0 ||
        std::strncmp(*entry, "ANTHROPIC_", 10) == 0) {
      continue;
    }
    env_strings.emplace_back(*entry);
  }
  for (const auto& [name, value] : environment) env_strings.push_back(name + "=" + value);

  auto executable = tandem_executable();
  std::vector<char*> argv{executable.data()};
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
  int rc = posix_spawn(&pid_, executable.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (rc != 0) {
    close(pipe_fds[0]);
    throw std::runtime_error("cannot start " + executable + ": " + std::strerror(rc));
  }
  reader_ = std::thread([this, fd = pipe_fds[0]] { read_output(fd); });
}

TandemProcess::~TandemProcess() {
  if (!exited_) {
    kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
  }
  if (reader_.joinable()) reader_.join();
}

std::vector<std::string> TandemProcess::server_arguments(std::vector<std::string> extra) {
  std::vector<std::string> arguments{"--host", "127.0.0.1", "--port", "0"};
  arguments.insert(arguments.end(), extra.begin(), extra.end());
  return arguments;
}

void TandemProcess::read_output(int fd) {
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard lock(mutex_);
    output_.append(chunk, static_cast<std::size_t>(n));
    output_changed_.notify_all();
  }
  close(fd);
}

bool TandemProcess::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return output_changed_.wait_for(lock, timeout, [&] {
    return output_.find(needle) != std::string::npos;
  });
}

std::string TandemProcess::output() const {
  std::lock_guard lock(mutex_);
  return output_;
}

std::uint16_t TandemProcess::port(std::chrono::milliseconds timeout) {
  if (port_ != 0) return port_;
  static const std::regex kListening(R"(listening on http://[^\s:]+:(\d+))");
  std::smatch match;
  std::unique_lock lock(mutex_);
  bool found = output_changed_.wait_for(lock, timeout, [&] {
    return std::regex_search(output_, match, kListening);
  });
  if (!found) {
    ADD_FAILURE() << "tandem did not report a listening port; its output:\n" << output_;
    return 0;
  }
  port_ = static_cast<std::uint16_t>(std::stoi(match[1].str()));
  return port_;
}

void TandemProcess::signal(int signal_number) {
  if (!exited_) kill(pid_, signal_number);
}

void TandemProcess::terminate() { signal(SIGTERM); }

int TandemProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (exited_) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (reader_.joinable()) reader_.join();  // the pipe closed with the process: output complete
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      exited_ = true;
      exit_code_ = -1;
      if (reader_.joinable()) reader_.join();
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::pair<int, std::string> run_tandem(std::vector<std::string> arguments,
                                       std::map<std::string, std::string> environment) {
  TandemProcess process(std::move(arguments), std::move(environment));
  int code = process.wait_exit();
  return {code, process.output()};
}

}  // namespace tandem::test
