#include "actors/io_coordinator.h"

#include <boost/asio/post.hpp>
#include <caf/actor_system.hpp>
#include <caf/logger.hpp>
#include <caf/resumable.hpp>

#include <algorithm>
#include <stdexcept>

namespace tandem::actors {

IoCoordinator::IoCoordinator(caf::actor_system& system, std::vector<boost::asio::io_context*> io)
    : caf::scheduler::abstract_coordinator(system), io_(std::move(io)), local_(io_.size()), unit_(system, *this) {}

caf::actor_system::module* IoCoordinator::make(caf::actor_system& system, caf::detail::type_list<>) {
  const auto* cfg = dynamic_cast<const IoCoordinatorConfig*>(&system.config());
  if (cfg == nullptr || cfg->io.empty() || std::find(cfg->io.begin(), cfg->io.end(), nullptr) != cfg->io.end()) {
    throw std::logic_error("IoCoordinator needs an IoCoordinatorConfig with its io_contexts set");
  }
  return new IoCoordinator(system, cfg->io);
}

void IoCoordinator::start() {
  clock_thread_ = std::thread([this] {
    system().thread_started();
    clock_.run_dispatch_loop();
    system().thread_terminates();
  });
  abstract_coordinator::start();
}

void IoCoordinator::stop() {
  stop_actors();  // CAF's utility actors (the printer)
  // An actor that spawned another left CAF's logger in the io threads' thread-local; the system
  // waits for that reference to go (as for any non-worker thread, see runtime.h).
  for (auto* io : io_) {
    queued_.fetch_add(1, std::memory_order_relaxed);
    boost::asio::post(*io, [this] {
      caf::logger::set_current_actor_system(nullptr);
      job_finished();
    });
  }
  {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return queued_.load() == 0; });
  }
  clock_.cancel_dispatch_loop();
  clock_thread_.join();
}

std::optional<std::size_t> IoCoordinator::own_shard() const {
  for (std::size_t i = 0; i < io_.size(); ++i) {
    if (io_[i]->get_executor().running_in_this_thread()) return i;
  }
  return std::nullopt;
}

void IoCoordinator::enqueue(caf::resumable* job) {
  queued_.fetch_add(1, std::memory_order_relaxed);
  if (auto shard = own_shard()) {
    auto& local = local_[*shard];
    local.jobs.push_back(job);
    if (!local.drain_posted) {
      local.drain_posted = true;
      boost::asio::post(*io_[*shard], [this, index = *shard] { drain(index); });
    }
    return;
  }
  auto& io = *io_[io_.size() == 1 ? 0 : next_.fetch_add(1, std::memory_order_relaxed) % io_.size()];
  boost::asio::post(io, [this, job] { run(job); });
}

// Bounded, so that an actor that keeps itself busy cannot starve the shard's sockets: what is
// left after that many jobs waits for a new handler, behind the I/O that came in meanwhile.
void IoCoordinator::drain(std::size_t shard) {
  constexpr int kMaxJobsPerDrain = 64;
  auto& local = local_[shard];
  for (int n = 0; n < kMaxJobsPerDrain && !local.jobs.empty(); ++n) {
    caf::resumable* job = local.jobs.front();
    local.jobs.pop_front();
    run(job);
  }
  if (local.jobs.empty()) {
    local.drain_posted = false;
  } else {
    boost::asio::post(*io_[shard], [this, shard] { drain(shard); });
  }
}

// As CAF's own workers do: the queue holds one reference to the job, dropped unless the job asks
// to run again. CAF's default throughput is unbounded: an actor that keeps its own mailbox full
// (a self-send per message) would then never hand the shard back to its sockets.
void IoCoordinator::run(caf::resumable* job) {
  constexpr std::size_t kMaxMessagesPerRun = 100;
  switch (job->resume(&unit_, std::min(max_throughput(), kMaxMessagesPerRun))) {
    case caf::resumable::resume_later:
      enqueue(job);
      break;
    case caf::resumable::done:
    case caf::resumable::awaiting_message:
    case caf::resumable::shutdown_execution_unit:
      intrusive_ptr_release(job);
      break;
  }
  job_finished();
}

void IoCoordinator::job_finished() {
  if (queued_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(mutex_);
    idle_.notify_all();
  }
}

}  // namespace tandem::actors
