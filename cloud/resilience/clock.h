// The time source every resilience decision reads, so tests can drive it by hand.
//
// Breakers, retry budgets and backoff deadlines only ever ask a Clock for "now"; production code
// passes SteadyClock::instance(), tests a ManualClock they advance explicitly (no sleeps).
#pragma once

#include <chrono>

namespace tandem::resilience {

using SteadyTime = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  static const SteadyClock& instance() {
    static const SteadyClock clock;
    return clock;
  }
};

// Starts one hour after the steady epoch so "now minus a window" never goes below the epoch.
// Not thread-safe: the classes it drives are owned by one actor, and so are their tests.
class ManualClock final : public Clock {
 public:
  SteadyTime now() const override { return now_; }
  void advance(std::chrono::steady_clock::duration by) { now_ += by; }

 private:
  SteadyTime now_ = SteadyTime{} + std::chrono::hours(1);
};

}  // namespace tandem::resilience
