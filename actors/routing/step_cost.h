// Learns what one prefill row and one decode row cost on a local model, from the scheduler's
// step timings, so it can publish the prefill and decode rates the TTFT predictor needs.
//
// A step mixes prefill rows (prompt chunks) and decode rows (one per running sequence), so its
// time cannot be split by looking at it alone. The model is the predictor's own:
//   step_seconds = a x prefill_rows + b x decode_rows
// fitted by least squares over recent steps, older ones fading by `forgetting` per step, so the
// rates follow a changing machine (other load, thermal limits). prefill rate = 1/a, decode = 1/b.
// When the steps seen cannot separate a from b (only one kind of row, or always the same mix),
// the rows seen share one average cost. Plain C++: the scheduler calls observe() on its thread.
#pragma once

#include <cstdint>

namespace tandem::routing {

class StepCostModel {
 public:
  explicit StepCostModel(double forgetting = 0.98) : forgetting_(forgetting) {}

  void observe(uint64_t prefill_rows, uint64_t decode_rows, double seconds);

  // Tokens per second; 0 = no step with that kind of row seen yet.
  double prefill_tokens_per_s() const { return rate(true); }
  double decode_tokens_per_s() const { return rate(false); }

 private:
  double rate(bool prefill) const;

  double forgetting_;
  // Exponentially weighted sums of x x^T and x t, x = (prefill_rows, decode_rows), t = seconds.
  double pp_ = 0, pd_ = 0, dd_ = 0, pt_ = 0, dt_ = 0;
};

}  // namespace tandem::routing
