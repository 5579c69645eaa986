// A small persistent pool for the matmuls of one forward pass: the calling thread takes part,
// workers spin briefly between calls (matmuls of a layer follow each other within microseconds)
// and then sleep, so an idle engine costs no CPU. Tasks are claimed dynamically, so a worker the
// OS has parked on a busy core delays a call by at most one task; which thread runs a task never
// changes what it computes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tandem::engine::detail {

class ThreadPool {
 public:
  explicit ThreadPool(unsigned threads);  // total threads, the caller included (>= 1)
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned threads() const { return static_cast<unsigned>(workers_.size()) + 1; }

  // Calls fn(ctx, task) for every task in [0, n_tasks) and returns when all have run. If another
  // thread is using the pool, the caller runs every task itself (same results, no waiting).
  using TaskFn = void (*)(void* ctx, size_t task);
  void run(size_t n_tasks, TaskFn fn, void* ctx);

  template <class F>
  void parallel_for(size_t n_tasks, F&& f) {
    run(n_tasks, [](void* ctx, size_t task) { (*static_cast<std::remove_reference_t<F>*>(ctx))(task); },
        const_cast<void*>(static_cast<const void*>(&f)));
  }

 private:
  void worker_loop();
  // Claims the next task of generation `gen`; false when that generation has none left.
  bool claim(uint32_t gen, size_t& task);
  void work(uint32_t gen);

  // state_ = generation << 32 | n_tasks << 16 | next task: a claim succeeds only for the live
  // generation, and the job fields below stay valid while a claimed task is unfinished.
  std::atomic<uint64_t> state_{0};
  std::atomic<uint32_t> done_{0};
  std::atomic<uint32_t> wake_{0};
  std::atomic<uint32_t> sleepers_{0};
  std::atomic<bool> stop_{false};
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::mutex busy_;
  std::vector<std::thread> workers_;
};

// The process-wide pool the matmul kernels use (like OpenBLAS's thread count, one setting per
// process; the engine runs one step thread per model, and concurrent callers degrade to inline).
void set_compute_threads(unsigned threads);
std::shared_ptr<ThreadPool> compute_pool();

}  // namespace tandem::engine::detail
