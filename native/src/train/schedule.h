// train/schedule.h: learning-rate schedules, the lambdas of transformers' get_{linear,cosine,constant}
// _schedule_with_warmup. Provides LrSchedule, lr_at and parse_lr_schedule.
#pragma once
#include <string_view>

namespace lp {

enum class LrSchedule { Linear, Cosine, Constant };

// The lr of the optimizer step that follows `step` steps already taken (the first step uses step 0):
//   warmup (step < warmup_steps): base_lr * step / max(1, warmup_steps)
//   Linear:   base_lr * max(0, (total - step) / max(1, total - warmup))
//   Cosine:   base_lr * max(0, 0.5 * (1 + cos(pi * 2 * 0.5 * p))), p = (step - warmup) / max(1, total - warmup)
//   Constant: base_lr after warmup (transformers' constant_with_warmup; pass warmup 0 for "constant")
// warmup_steps = ceil(total * warmup_ratio) is the caller's job.
double lr_at(LrSchedule schedule, double base_lr, int step, int warmup_steps, int total_steps);

// "linear" / "cosine" / "constant" (transformers' lr_scheduler_type names, "constant_with_warmup" too).
LrSchedule parse_lr_schedule(std::string_view name);
const char* lr_schedule_name(LrSchedule s);

}  // namespace lp
