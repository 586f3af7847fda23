// cpu/rmsnorm.h: LlamaRMSNorm forward and backward, fp32:
//   rstd = 1 / sqrt(mean(x^2) + eps);  h = x * rstd;  out = weight * h
#pragma once

namespace lp::cpu {

// out (N, C) = weight (C) * (x (N, C) * rstd); rstd (N) written, SAVE for backward.
// mean(x^2) is summed in double and rounded once; the rest follows HF's fp32 op order.
// out may alias x (in place).
void rmsnorm_forward(float* out, float* rstd, const float* x, const float* weight, int N, int C, float eps);

// Backward from dout (N, C), the saved rstd (N) and the forward input x (N, C):
//   dx (N, C) = rstd * (dh - h * mean(dh * h)),  dh = dout * weight, h = x * rstd.
//   accumulate == false overwrites dx; true adds onto it (dx += ..., the residual stream's gradient).
//   dweight (C) ACCUMULATES sum_n dout * h when non-null; pass nullptr for the frozen norm weight.
// dx must not alias x or dout.
void rmsnorm_backward(float* dx, float* dweight, const float* dout, const float* x, const float* weight,
                      const float* rstd, int N, int C, bool accumulate);

}  // namespace lp::cpu
