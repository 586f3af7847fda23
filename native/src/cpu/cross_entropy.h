// cpu/cross_entropy.h: the causal-LM loss as transformers computes it (ForCausalLMLoss with
// reduction "sum", divided later by the number of valid tokens of the whole optimizer step):
// per row loss = logsumexp(logits) - logits[label]; rows with label == -100 are ignored.
// Labels are already shifted by the caller (row n predicts token n + 1). Rows are processed in
// vocabulary chunks with an online max/sum, so the forward reads each row once.
#pragma once
#include <cstdint>

#include "core/loss.h"

namespace lp::cpu {

// Forward over logits (N, V) and labels (N). Any other label must lie in [0, V).
//   losses (N) optional (nullptr): per-row loss, 0 for ignored rows.
//   lse (N) optional: per-row log-sum-exp; SAVE it for cross_entropy_backward.
CrossEntropySum cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* labels, int N,
                                      int V);

// Backward: dlogits (N, V) = (softmax(logits) - onehot(label)) * scale for valid rows, 0 for ignored
// rows (written as softmax * scale, then - scale at the label, like torch's log_softmax backward).
// scale = dloss/dsum, i.e. 1 / (valid tokens in the whole step) for the trainer's mean.
// Overwrites dlogits; dlogits may alias logits (in place), which saves the (N, V) buffer.
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* labels, int N, int V,
                            float scale);

// Forward and backward in one call (each row: one pass for the log-sum-exp, one pass to write its
// gradient). Same contracts as above; dlogits may alias logits; losses optional.
CrossEntropySum cross_entropy_fused(float* dlogits, float* losses, const float* logits, const int32_t* labels, int N,
                                    int V, float scale);

}  // namespace lp::cpu
