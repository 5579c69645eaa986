#include "engine/runtime/thread_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace tandem::engine::detail {

namespace {

constexpr uint64_t kMaxTasks = 0xFFFF;
// About 50 us of polling before sleeping: longer than the gap between two matmuls of a layer,
// much shorter than the gap between steps.
constexpr int kSpinRounds = 20000;

uint32_t gen_of(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
uint64_t n_of(uint64_t s) { return (s >> 16) & kMaxTasks; }
uint64_t next_of(uint64_t s) { return s & kMaxTasks; }

}  // namespace

ThreadPool::ThreadPool(unsigned threads) {
  for (unsigned i = 1; i < std::max(1u, threads); ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  wake_.fetch_add(1);
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

bool ThreadPool::claim(uint32_t gen, size_t& task) {
  uint64_t s = state_.load(std::memory_order_acquire);
  while (gen_of(s) == gen && next_of(s) < n_of(s)) {
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      task = next_of(s);
      return true;
    }
  }
  return false;
}

void ThreadPool::work(uint32_t gen) {
  size_t task;
  while (claim(gen, task)) {
    fn_(ctx_, task);
    done_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::worker_loop() {
  uint32_t seen = gen_of(state_.load());
  while (!stop_.load(std::memory_order_relaxed)) {
    uint32_t gen = seen;
    for (int i = 0; i < kSpinRounds && gen == seen; ++i) {
      _mm_pause();
      gen = gen_of(state_.load(std::memory_order_acquire));
    }
    if (gen == seen) {
      const uint32_t ticket = wake_.load();
      sleepers_.fetch_add(1);
      gen = gen_of(state_.load());
      if (gen == seen && !stop_.load()) wake_.wait(ticket);
      sleepers_.fetch_sub(1);
      continue;
    }
    seen = gen;
    work(gen);
  }
}

void ThreadPool::run(size_t n_tasks, TaskFn fn, void* ctx) {
  if (n_tasks == 0) return;
  std::unique_lock lock(busy_, std::try_to_lock);
  if (workers_.empty() || n_tasks == 1 || !lock.owns_lock()) {
    for (size_t t = 0; t < n_tasks; ++t) fn(ctx, t);
    return;
  }
  if (n_tasks > kMaxTasks) throw std::invalid_argument("ThreadPool::run: more than 65535 tasks");
  fn_ = fn;
  ctx_ = ctx;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t gen = gen_of(state_.load()) + 1;
  state_.store(static_cast<uint64_t>(gen) << 32 | static_cast<uint64_t>(n_tasks) << 16);  // seq_cst: vs sleepers_
  if (sleepers_.load() > 0) {
    wake_.fetch_add(1);
    wake_.notify_all();
  }
  work(gen);
  for (unsigned spins = 0; done_.load(std::memory_order_acquire) < n_tasks; ++spins) {
    if (spins < 4096) _mm_pause(); else std::this_thread::yield();  // a worker parked mid-task
  }
}

namespace {
std::mutex g_pool_mutex;
std::shared_ptr<ThreadPool> g_pool = std::make_shared<ThreadPool>(1);
}  // namespace

void set_compute_threads(unsigned threads) {
  threads = std::clamp(threads, 1u, 64u);
  std::lock_guard lock(g_pool_mutex);
  if (g_pool->threads() != threads) g_pool = std::make_shared<ThreadPool>(threads);
}

std::shared_ptr<ThreadPool> compute_pool() {
  std::lock_guard lock(g_pool_mutex);
  return g_pool;
}

}  // namespace tandem::engine::detail
