// core/loss.h: what every backend's causal-LM loss shares with the model: the ignored label (HF's
// -100) and the loss sum a cross-entropy call returns. Provides kIgnoreIndex and CrossEntropySum.
#pragma once
#include <cstdint>

namespace lp {

constexpr int32_t kIgnoreIndex = -100;

struct CrossEntropySum {
  double loss_sum = 0.0;  // sum of the valid rows' losses (summed in double, row order)
  int64_t n_valid = 0;    // rows whose label != -100
};

}  // namespace lp
