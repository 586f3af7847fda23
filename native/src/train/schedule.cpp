// train/schedule.cpp: transformers' optimization.py schedule lambdas (multiplied into base_lr, as LambdaLR does).
#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/check.h"

namespace lp {

double lr_at(LrSchedule schedule, double base_lr, int step, int warmup_steps, int total_steps) {
  LP_CHECK(step >= 0 && warmup_steps >= 0 && total_steps >= 0,
           "lr_at: step " << step << ", warmup_steps " << warmup_steps << " and total_steps " << total_steps
                          << " must not be negative");
  if (step < warmup_steps) return base_lr * (static_cast<double>(step) / std::max(1, warmup_steps));
  const double decay_steps = std::max(1, total_steps - warmup_steps);
  switch (schedule) {
    case LrSchedule::Linear:
      return base_lr * std::max(0.0, (total_steps - step) / decay_steps);
    case LrSchedule::Cosine: {
      const double progress = (step - warmup_steps) / decay_steps;
      return base_lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * 0.5 * 2.0 * progress)));
    }
    case LrSchedule::Constant:
      return base_lr;
  }
  return base_lr;
}

LrSchedule parse_lr_schedule(std::string_view name) {
  if (name == "linear") return LrSchedule::Linear;
  if (name == "cosine") return LrSchedule::Cosine;
  if (name == "constant" || name == "constant_with_warmup") return LrSchedule::Constant;
  LP_CHECK(false, "unsupported lr schedule \"" << std::string(name)
                                               << "\": expected linear, cosine, constant or constant_with_warmup");
}

const char* lr_schedule_name(LrSchedule s) {
  switch (s) {
    case LrSchedule::Linear:
      return "linear";
    case LrSchedule::Cosine:
      return "cosine";
    case LrSchedule::Constant:
      return "constant";
  }
  return "?";
}

}  // namespace lp
