// A CAF scheduler that runs actors on Asio io_contexts' threads instead of CAF's own workers.
//
// Why: on the gateway path an actor hands each request to libcurl, whose socket callbacks run on
// an io_context, and gets the answer back from there. With CAF's worker threads every hand-over
// between a worker and that io_context woke another thread — on a 2-core machine a context switch
// per hop, the single biggest cost per request. Here an actor's mailbox is drained by a handler
// posted to the io_context, so an actor starting a transfer, libcurl's callbacks and the actor
// that receives them all run on one thread, one after the other.
//
// With several io_contexts (one thread each, e.g. one per HTTP I/O thread: the server's shards),
// an actor scheduled from one of their threads runs on that thread, so a request whose HTTP session,
// actors and upstream transfer all started on one shard never leaves it. A job scheduled from any
// other thread (CAF's clock, an engine thread) goes to the shards in turn. An actor still runs on
// one thread at a time (CAF's mailbox guarantees it), just not always the same one.
//
// Jobs scheduled from a shard's own thread go to that shard's local queue, drained by one posted
// handler until it is empty: a request handed from the session to the router, the router to a
// provider, and so on, runs as one Asio handler. Posting each job on its own cost the io_context
// a reactor poll (an epoll_wait system call) between every two of them.
//
// Actors must not block (they already must not: engine steps run on their own threads; the local
// backend is detached). Timeouts and delayed messages still come from CAF's clock thread, which
// enqueues like any sender.
//
//   IoCoordinatorConfig cfg;           // a caf::actor_system_config
//   cfg.io = {&io};                    // each run by exactly one thread, for as long as the system lives
//   cfg.load<IoCoordinator>();
//   caf::actor_system system(cfg);
#pragma once

#include <boost/asio/io_context.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <caf/execution_unit.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace tandem::actors {

struct IoCoordinatorConfig : caf::actor_system_config {
  std::vector<boost::asio::io_context*> io;
};

class IoCoordinator : public caf::scheduler::abstract_coordinator {
 public:
  IoCoordinator(caf::actor_system& system, std::vector<boost::asio::io_context*> io);

  // What cfg.load<IoCoordinator>() calls; the config must be an IoCoordinatorConfig with `io` set.
  static caf::actor_system::module* make(caf::actor_system& system, caf::detail::type_list<>);

  void enqueue(caf::resumable* job) override;
  caf::detail::thread_safe_actor_clock& clock() noexcept override { return clock_; }

 protected:
  void start() override;
  // Called once every actor is gone; waits until no job of this system is queued or running on
  // the io_contexts (which must still be running), so none runs after the system is destroyed.
  void stop() override;

 private:
  // The execution unit actors see while they run: a send to an idle actor from inside a handler
  // comes back here as exec_later.
  class Unit : public caf::execution_unit {
   public:
    Unit(caf::actor_system& system, IoCoordinator& owner) : caf::execution_unit(&system), owner_(owner) {}
    void exec_later(caf::resumable* job) override { owner_.enqueue(job); }

   private:
    IoCoordinator& owner_;
  };

  // A shard's jobs scheduled from its own thread; touched only by that thread.
  struct LocalQueue {
    std::deque<caf::resumable*> jobs;
    bool drain_posted = false;
  };

  void run(caf::resumable* job);
  void drain(std::size_t shard);
  void job_finished();
  // The shard whose io_context runs on this thread, if any.
  std::optional<std::size_t> own_shard() const;

  std::vector<boost::asio::io_context*> io_;
  std::vector<LocalQueue> local_;
  std::atomic<std::size_t> next_{0};
  Unit unit_;
  caf::detail::thread_safe_actor_clock clock_;
  std::thread clock_thread_;
  std::atomic<std::size_t> queued_{0};  // jobs posted and not yet finished
  std::mutex mutex_;
  std::condition_variable idle_;
};

}  // namespace tandem::actors
