// cpu/adamw.h: torch.optim.AdamW (amsgrad=False, maximize=False) for flat fp32 buffers, and the
// global gradient-norm clipping of torch.nn.utils.clip_grad_norm_ (norm_type 2).
#pragma once
#include <cstdint>

namespace lp::cpu {

// One AdamW step on n parameters, in place on param, m (exp_avg) and v (exp_avg_sq), replaying
// torch's single-tensor AdamW in fp32:
//   param *= 1 - lr * weight_decay                     (skipped when weight_decay == 0)
//   m = m.lerp(grad, 1 - beta1)                         (m + w * (grad - m) as one FMA, w = 1 - beta1)
//   v = v * beta2 + (1 - beta2) * grad * grad
//   denom = sqrt(v) / sqrt(1 - beta2^step) + eps
//   param += (-lr / (1 - beta1^step)) * m / denom
// The scalar factors are computed in double (Python floats) and rounded to fp32 once, as torch
// does when a Python scalar meets an fp32 tensor. step is 1-based: the value of torch's
// state["step"] after its increment (1 on the first update). m and v start at zero.
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, int64_t step, double lr, double beta1,
                double beta2, double eps, double weight_decay);

// Global L2 norm over several gradient buffers: sqrt(sum of squares of every element), summed in
// double (torch takes the norm of the per-tensor norms: equal up to rounding). grads[i] has sizes[i] floats.
double grad_global_norm(const float* const* grads, const int64_t* sizes, int count);

// clip_grad_norm_(max_norm): total = grad_global_norm (rounded to fp32, as torch's fp32 norm),
// clip_coef = max_norm / (total + 1e-6); when clip_coef < 1 every gradient is multiplied by it in
// place. Returns total (the norm before clipping, which the trainer logs as grad_norm).
float clip_grad_norm(float* const* grads, const int64_t* sizes, int count, double max_norm);

}  // namespace lp::cpu
