// The process-wide CAF actor system, started and stopped by main.
//
//   tandem::actors::RuntimeOptions options;
//   options.worker_threads = 2;
//   tandem::actors::ActorRuntime runtime(options);
//   auto router = runtime.system().spawn(...);
//   runtime.track(router);        // server-lifetime actor: shutdown() tells it to exit
//   ... run the io_context ...
//   runtime.shutdown();           // or let the destructor do it
//
// CAF headers stay out of this file (pimpl) so main and HTTP code including it compile quickly.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace caf {
class actor;
class actor_system;
class actor_system_config;
}  // namespace caf

namespace tandem::actors {

namespace detail {
class AskGate;
}

struct RuntimeOptions {
  // CAF scheduler workers. Actors never block (engine steps run on their own threads), so one or
  // two are enough for a server.
  std::size_t worker_threads = 1;
  // Instead of CAF's workers, threads of the runtime's own (io_threads of them, one io_context
  // each) run every actor (io_coordinator.h), and other I/O — HTTP sessions, libcurl's transfers —
  // can share them, so a hand-over between an actor and that I/O needs no other thread.
  // worker_threads is then ignored.
  bool share_io_thread = false;
  std::size_t io_threads = 1;
  // Loads caf::io::middleman so actors can be published to / reached on other nodes.
  bool enable_networking = false;
  // Last-minute access to the config, e.g. cfg.add_message_type<T>("tandem::T") for types sent
  // to remote nodes (see actors/README.md).
  std::function<void(caf::actor_system_config&)> configure = {};
};

class ActorRuntime {
 public:
  explicit ActorRuntime(const RuntimeOptions& options = {});
  ~ActorRuntime();
  ActorRuntime(const ActorRuntime&) = delete;
  ActorRuntime& operator=(const ActorRuntime&) = delete;

  // Throws std::logic_error after shutdown().
  caf::actor_system& system();

  std::size_t worker_threads() const;

  // With share_io_thread: the io_contexts the actors run on, each run by one thread until
  // shutdown() has stopped every actor; then shutdown() stops the threads and destroys the
  // io_contexts, with whatever handlers are still queued there (so objects those handlers refer
  // to must outlive shutdown()). Otherwise empty.
  const std::vector<boost::asio::io_context*>& io_contexts();

  // What ask(runtime, ...) sends through (bridge.h). Throws std::logic_error after shutdown().
  std::shared_ptr<detail::AskGate> ask_gate();

  // Marks an actor as living as long as the server: shutdown() sends it an exit message, which
  // also fails every pending ask() to it with BridgeErrc::actor_down.
  void track(const caf::actor& actor);

  // Exits the tracked actors, then waits for every actor to finish and stops the scheduler.
  // Idempotent. Pending asks to untracked actors finish by their own timeouts first; asks still
  // pending once every actor is gone fail with actor_down, later ones with runtime_stopped.
  // CAF 0.17 caveat: a thread that is not a CAF worker and called system().spawn() keeps a
  // reference to CAF's logger in a thread-local, and the system's destructor waits until it is
  // gone — so shutdown() from another thread blocks until that thread exits or calls
  // release_calling_thread(). The bridge (ask, spawn_stream_feeder) does this itself.
  void shutdown();

  // Drops the calling thread's CAF thread-local state (see shutdown()). Call it after
  // system().spawn() on a long-lived non-CAF thread (I/O thread, engine step thread); never on a
  // CAF worker.
  static void release_calling_thread();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::actors
