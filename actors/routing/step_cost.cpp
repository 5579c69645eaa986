#include "actors/routing/step_cost.h"

namespace tandem::routing {

void StepCostModel::observe(uint64_t prefill_rows, uint64_t decode_rows, double seconds) {
  if (prefill_rows + decode_rows == 0 || !(seconds >= 0)) return;
  fit_.observe({1.0, double(prefill_rows), double(decode_rows)}, seconds);
}

StepCost StepCostModel::cost() const {
  auto beta = fit_.solve();
  StepCost cost;
  cost.per_step = beta[0];
  cost.per_prefill_row = beta[1];
  cost.per_decode_row = beta[2];
  cost.prefill_seen = fit_.seen(1);
  cost.decode_seen = fit_.seen(2);
  return cost;
}

}  // namespace tandem::routing
