#include "actors/routing/step_cost.h"

namespace tandem::routing {

void StepCostModel::observe(uint64_t prefill_rows, uint64_t decode_rows, double seconds) {
  if (prefill_rows + decode_rows == 0 || !(seconds >= 0)) return;
  double p = double(prefill_rows), d = double(decode_rows);
  pp_ = forgetting_ * pp_ + p * p;
  pd_ = forgetting_ * pd_ + p * d;
  dd_ = forgetting_ * dd_ + d * d;
  pt_ = forgetting_ * pt_ + p * seconds;
  dt_ = forgetting_ * dt_ + d * seconds;
}

double StepCostModel::rate(bool prefill) const {
  if ((prefill ? pp_ : dd_) <= 0) return 0;  // never seen this kind of row
  double det = pp_ * dd_ - pd_ * pd_;
  // Well conditioned: the steps mixed rows in different proportions, so a and b separate.
  if (det > 1e-9 * pp_ * dd_) {
    double a = (pt_ * dd_ - dt_ * pd_) / det;
    double b = (dt_ * pp_ - pt_ * pd_) / det;
    double cost = prefill ? a : b;
    if (cost > 0) return 1.0 / cost;
  }
  // Not separable (or a noisy negative fit): every row seen costs the average. The sums of
  // rows and row-weighted time come from the same weighted moments: rows r = p + d.
  double rows_squared = pp_ + 2 * pd_ + dd_;
  double rows_time = pt_ + dt_;
  if (rows_time <= 0) return 0;
  return rows_squared / rows_time;
}

}  // namespace tandem::routing
