// cpu/adamw.cpp: AdamW update and gradient clipping. Products are rounded where PyTorch rounds
// them (no FMA contraction here except the explicit one PyTorch's vectorised lerp uses).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "cpu/adamw.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"

namespace lp::cpu {

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, int64_t step, double lr, double beta1,
                double beta2, double eps, double weight_decay) {
  LP_CHECK(n >= 0 && step >= 1, "adamw_step: n=" << n << " step=" << step << " (step is 1-based)");
  LP_CHECK(lr >= 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps >= 0 && weight_decay >= 0,
           "adamw_step: bad hyper-parameters lr=" << lr << " betas=(" << beta1 << ", " << beta2 << ") eps=" << eps
                                                  << " weight_decay=" << weight_decay);
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);

  const bool decay = weight_decay != 0.0;
  const float decay_factor = static_cast<float>(1.0 - lr * weight_decay);
  const float w1 = static_cast<float>(1.0 - beta1);  // lerp weight
  const bool w1_small = std::fabs(w1) < 0.5f;
  const float b2 = static_cast<float>(beta2);
  const float one_minus_b2 = static_cast<float>(1.0 - beta2);
  const float bc2s = static_cast<float>(bias_correction2_sqrt);
  const float eps_f = static_cast<float>(eps);
  const float neg_step = static_cast<float>(-step_size);

  LP_OMP(parallel for if (n > (1 << 16)))
  for (int64_t i = 0; i < n; ++i) {
    float p = param[i];
    const float g = grad[i];
    if (decay) p = p * decay_factor;
    // torch.lerp: weight < 0.5 ? self + w * (end - self) : end - (end - self) * (1 - w), FMA in the vector path
    const float mi = w1_small ? std::fma(w1, g - m[i], m[i]) : std::fma(w1 - 1.0f, g - m[i], g);
    float vi = v[i] * b2;
    vi = vi + (one_minus_b2 * g) * g;  // addcmul_(grad, grad, value=1 - beta2)
    const float denom = std::sqrt(vi) / bc2s + eps_f;
    p = p + (neg_step * mi) / denom;  // addcdiv_(m, denom, value=-step_size)
    m[i] = mi;
    v[i] = vi;
    param[i] = p;
  }
}

double grad_global_norm(const float* const* grads, const int64_t* sizes, int count) {
  LP_CHECK(count >= 0, "grad_global_norm: count=" << count);
  double total = 0.0;
  for (int b = 0; b < count; ++b) {
    const float* g = grads[b];
    const int64_t n = sizes[b];
    LP_CHECK(n >= 0 && (n == 0 || g != nullptr), "grad_global_norm: buffer " << b << " has size " << n);
    // Fixed 64K-element blocks, each summed in 8 double lanes, then the blocks in order: the
    // result does not depend on the number of threads.
    constexpr int64_t kBlk = 1 << 16;
    const int64_t nblk = (n + kBlk - 1) / kBlk;
    std::vector<double> part(nblk);
    LP_OMP(parallel for schedule(static) if (nblk > 1))
    for (int64_t bk = 0; bk < nblk; ++bk) {
      const int64_t i0 = bk * kBlk, i1 = std::min(n, i0 + kBlk);
      double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = i0;
      for (; i + 8 <= i1; i += 8)
        for (int u = 0; u < 8; ++u) lanes[u] += (double)g[i + u] * (double)g[i + u];
      for (; i < i1; ++i) lanes[0] += (double)g[i] * (double)g[i];
      part[bk] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    }
    double sum = 0.0;
    for (double x : part) sum += x;
    total += sum;
  }
  return std::sqrt(total);
}

float clip_grad_norm(float* const* grads, const int64_t* sizes, int count, double max_norm) {
  std::vector<const float*> cg(grads, grads + count);
  const float total = static_cast<float>(grad_global_norm(cg.data(), sizes, count));
  // max_norm / (total_norm + 1e-6) on an fp32 tensor: reciprocal, then times the Python scalar.
  const float clip_coef = (1.0f / (total + 1e-6f)) * static_cast<float>(max_norm);
  if (clip_coef < 1.0f) {
    for (int b = 0; b < count; ++b) {
      float* g = grads[b];
      const int64_t n = sizes[b];
      LP_OMP(parallel for if (n > (1 << 16)))
      for (int64_t i = 0; i < n; ++i) g[i] = g[i] * clip_coef;
    }
  }
  return total;
}

}  // namespace lp::cpu
