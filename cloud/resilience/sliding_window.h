// Counts over the last `span` of time in `buckets` fixed slices, for the breaker's failure
// ratio and the retry budget. A bucket older than the span is forgotten as time moves on, so
// the window slides in steps of span / buckets (no per-event storage).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "cloud/resilience/clock.h"

namespace tandem::resilience {

// N counters per bucket (e.g. {successes, failures}).
template <size_t N>
class SlidingWindow {
 public:
  SlidingWindow(const Clock& clock, Millis span, int buckets)
      : clock_(&clock),
        width_(std::max<int64_t>(1, span.count() / std::max(1, buckets))),
        slots_(static_cast<size_t>(std::max(1, buckets))) {}

  void add(size_t counter, uint64_t amount = 1) { current()[counter] += amount; }

  // Sum of one counter over the buckets still inside the window.
  uint64_t sum(size_t counter) const {
    int64_t now_index = index_now();
    uint64_t total = 0;
    for (const Slot& slot : slots_)
      if (slot.valid && now_index - slot.index < static_cast<int64_t>(slots_.size()))
        total += slot.counts[counter];
    return total;
  }

  void clear() {
    for (Slot& slot : slots_) slot = Slot{};
  }

 private:
  struct Slot {
    bool valid = false;
    int64_t index = 0;  // which width_-long slice of time this slot holds
    std::array<uint64_t, N> counts{};
  };

  int64_t index_now() const {
    auto ms = std::chrono::duration_cast<Millis>(clock_->now().time_since_epoch()).count();
    return ms / width_;
  }

  std::array<uint64_t, N>& current() {
    int64_t index = index_now();
    Slot& slot = slots_[static_cast<size_t>(index % static_cast<int64_t>(slots_.size()))];
    if (!slot.valid || slot.index != index) slot = Slot{true, index, {}};
    return slot.counts;
  }

  const Clock* clock_;
  int64_t width_;  // milliseconds per bucket
  std::vector<Slot> slots_;
};

}  // namespace tandem::resilience
