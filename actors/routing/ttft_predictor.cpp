#include "actors/routing/ttft_predictor.h"

#include <algorithm>
#include <cmath>

namespace tandem::routing {

double SchedulerLoad::prefill_tokens_per_s() const {
  if (!step_cost.prefill_seen) return 0;
  // A full step of prefill rows, its fixed part shared among them.
  double rows = double(std::max<size_t>(step_token_budget, 1));
  double seconds = step_cost.seconds(rows, 0);
  return seconds > 0 ? rows / seconds : 0;
}

double SchedulerLoad::decode_tokens_per_s() const {
  if (!step_cost.decode_seen) return 0;
  double rows = double(std::max<size_t>(running, 1));
  double seconds = step_cost.seconds(0, rows);
  return seconds > 0 ? rows / seconds : 0;
}

uint64_t estimate_prompt_tokens(const SchedulerLoad& load, size_t bytes) {
  const bool learned = load.prompt_tokens_per_byte > 0 || load.prompt_tokens_base > 0;
  double tokens = learned ? load.prompt_tokens_base + load.prompt_tokens_per_byte * double(bytes)
                                                  : double(bytes) / 4.0;
  return std::max<uint64_t>(1, uint64_t(std::llround(std::max(0.0, tokens))));
}

namespace {

// Prefill of `rows` prompt rows beside `decodes` decode rows a step: whole steps of the budget.
double prefill_seconds(const StepCost& cost, double rows, double decodes, double budget) {
  double steps = std::ceil(rows / std::max(1.0, budget - decodes));
  return steps * cost.seconds(0, decodes) + cost.per_prefill_row * rows;
}

// What the prefix cache leaves to compute of a prompt: its last token at least.
double computed_rows(double prompt_tokens, double cached_share) {
  return std::max(1.0, prompt_tokens * (1.0 - std::clamp(cached_share, 0.0, 1.0)));
}

}  // namespace

std::optional<Millis> predict_ttft(const SchedulerLoad& load, uint64_t prompt_tokens) {
  const StepCost& cost = load.step_cost;
  if (!cost.prefill_seen) return std::nullopt;
  const double budget = double(std::max<size_t>(load.step_token_budget, 2));
  const size_t slots = std::max<size_t>(load.max_running, 1);
  const size_t running = std::min(load.running, slots);
  const double own = computed_rows(double(prompt_tokens), load.cached_prompt_share);
  const double ahead_each =
      load.mean_prompt_tokens > 0 ? computed_rows(load.mean_prompt_tokens, load.cached_prompt_share) : 0;
  if (running > 0 && !cost.decode_seen) return std::nullopt;

  if (load.waiting < slots - running) {
    // A slot is free: it joins at once, prefilled behind the prompts queued before it.
    double decodes = std::min(double(running), budget - 1);
    double prefill = prefill_seconds(cost, double(load.waiting) * ahead_each + own, decodes, budget);
    return Millis(std::llround((load.seconds_before_submit + prefill) * 1000.0));
  }

  // Every slot will be taken before its turn: when does the one it gets free up?
  if (!cost.decode_seen || load.mean_generated_tokens <= 0) return std::nullopt;
  const double generation = load.mean_generated_tokens;
  const double full_step = cost.seconds(0, double(slots));
  std::vector<double> free_at;  // seconds from now, one per slot
  for (size_t i = 0; i < running; ++i) {
    double steps_left = generation / 2;
    if (i < load.running_progress.size()) {
      const auto& progress = load.running_progress[i];
      double expected = progress.max_tokens > 0 ? std::min(double(progress.max_tokens), generation) : generation;
      steps_left = expected - double(progress.generated);
    }
    free_at.push_back(std::max(1.0, steps_left) * full_step);
  }
  free_at.resize(slots, 0.0);
  // A queued request holds its slot for its prefill (whose last row yields its first token) and
  // the rest of a mean generation.
  const double held = prefill_seconds(cost, ahead_each, double(slots - 1), budget) + std::max(0.0, generation - 1) * full_step;
  for (size_t i = 0; i < load.waiting; ++i) {
    auto first = std::min_element(free_at.begin(), free_at.end());
    *first += held;
  }
  double joins = *std::min_element(free_at.begin(), free_at.end());
  double decodes = std::min(double(slots - 1), budget - 1);
  return Millis(std::llround((load.seconds_before_submit + joins + prefill_seconds(cost, own, decodes, budget)) * 1000.0));
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
