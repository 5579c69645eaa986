#include "actors/routing/ttft_predictor.h"

#include <algorithm>
#include <cmath>

namespace tandem::routing {

std::optional<Millis> predict_ttft(const SchedulerLoad& load, uint64_t prompt_tokens) {
  if (load.prefill_tokens_per_s <= 0) return std::nullopt;
  double budget = double(std::max<size_t>(load.step_token_budget, 1));
  double decode_rows = std::min(double(load.running), budget - 1);
  if (decode_rows > 0 && load.decode_tokens_per_s <= 0) return std::nullopt;

  double ahead = load.queued_prompt_tokens > 0 ? double(load.queued_prompt_tokens)
                                               : double(load.waiting) * std::max(0.0, load.mean_prompt_tokens);
  double work = ahead + double(prompt_tokens);
  double steps = std::ceil(work / (budget - decode_rows));
  double seconds = work / load.prefill_tokens_per_s;
  if (decode_rows > 0) seconds += steps * decode_rows / load.decode_tokens_per_s;
  return Millis(std::llround(seconds * 1000.0));
}

SloVerdict evaluate_slo(const SloCondition& condition, const SchedulerLoad& load, uint64_t prompt_tokens) {
  SloVerdict verdict;
  if (condition.max_queue && load.waiting > *condition.max_queue) {
    verdict.stay_local = false;
    verdict.reason = "queue " + std::to_string(load.waiting) + " > " + std::to_string(*condition.max_queue);
    return verdict;
  }
  if (!condition.max_ttft) return verdict;
  verdict.predicted_ttft = predict_ttft(load, prompt_tokens);
  if (!verdict.predicted_ttft) {
    verdict.reason = "no TTFT prediction yet (rates not measured): stays local";
    return verdict;
  }
  std::string comparison = "predicted TTFT " + std::to_string(verdict.predicted_ttft->count()) + " ms";
  if (*verdict.predicted_ttft > *condition.max_ttft) {
    verdict.stay_local = false;
    verdict.reason = comparison + " > " + std::to_string(condition.max_ttft->count()) + " ms";
  } else {
    verdict.reason = comparison + " <= " + std::to_string(condition.max_ttft->count()) + " ms";
  }
  return verdict;
}

}  // namespace tandem::routing
