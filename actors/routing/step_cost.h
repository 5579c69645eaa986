// Learns what an engine step costs on a local model, from the scheduler's step timings, so the
// TTFT predictor can tell how long the steps ahead of a new request will take.
//
// A step mixes prefill rows (prompt chunks) and decode rows (one per running sequence), and it
// has a fixed part no row accounts for (the scheduler loop, sampling, handing tokens out, thread
// wake-ups). The model:
//   step_seconds = per_step + per_prefill_row x prefill_rows + per_decode_row x decode_rows
// fitted by least squares over recent steps, older ones fading by `forgetting` per step, so it
// follows a changing machine (other load, thermal limits). Without the fixed part a small or
// cache-hit prefill (a handful of rows in a step that costs milliseconds anyway) made every
// prompt row look that expensive, and predictions for long queues came out several times too
// long. No cost is ever negative: a coefficient the data would make negative (noise) is dropped
// and the others refitted. When the steps seen cannot separate two parts (always the same mix),
// the split between them is arbitrary but every mix seen is still predicted right.
#pragma once

#include <cstdint>

#include "actors/routing/linear_fit.h"

namespace tandem::routing {

// Seconds a step costs; what the predictor reads.
struct StepCost {
  double per_step = 0;
  double per_prefill_row = 0;
  double per_decode_row = 0;
  bool prefill_seen = false;  // some step had prefill rows (else per_prefill_row means nothing)
  bool decode_seen = false;

  double seconds(double prefill_rows, double decode_rows) const {
    return per_step + per_prefill_row * prefill_rows + per_decode_row * decode_rows;
  }
};

class StepCostModel {
 public:
  explicit StepCostModel(double forgetting = 0.99) : fit_(forgetting) {}

  void observe(uint64_t prefill_rows, uint64_t decode_rows, double seconds);

  StepCost cost() const;

 private:
  LinearFit<3> fit_;  // features: 1, prefill rows, decode rows
};

}  // namespace tandem::routing
