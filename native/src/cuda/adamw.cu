// cuda/adamw.cu: torch.optim.AdamW on the fp32 LoRA master weights (cpu/adamw.h: the same scalar
// factors, computed on the host in double and rounded to fp32 once, the same op order and the same
// explicit FMA of torch's lerp), and the global gradient L2 norm with clip_grad_norm_.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

struct AdamScalars {
  bool decay, w1_small;
  float decay_factor, w1, b2, one_minus_b2, bc2s, eps, neg_step;
};

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, int64_t n, AdamScalars k) {
  LP_GRID_STRIDE(i, n) {
    float p = param[i];
    const float g = grad[i];
    if (k.decay) p = __fmul_rn(p, k.decay_factor);
    const float mi = k.w1_small ? fmaf(k.w1, __fsub_rn(g, m[i]), m[i]) : fmaf(k.w1 - 1.0f, __fsub_rn(g, m[i]), g);
    float vi = __fmul_rn(v[i], k.b2);
    vi = __fadd_rn(vi, __fmul_rn(__fmul_rn(k.one_minus_b2, g), g));
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), k.bc2s), k.eps);
    p = __fadd_rn(p, __fdiv_rn(__fmul_rn(k.neg_step, mi), denom));
    m[i] = mi;
    v[i] = vi;
    param[i] = p;
  }
}

__global__ void sumsq_kernel(double* acc, const float* g, int64_t n) {
  double s = 0.0;
  LP_GRID_STRIDE(i, n) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  s = block_sum(s);
  if (threadIdx.x == 0) atomicAdd(acc, s);
}

__global__ void scale_kernel(float* g, int64_t n, float c) { LP_GRID_STRIDE(i, n) g[i] = __fmul_rn(g[i], c); }

}  // namespace

void adamw_step(Context& ctx, float* param, const float* grad, float* m, float* v, int64_t n, int64_t step, double lr,
                double beta1, double beta2, double eps, double weight_decay) {
  LP_CHECK(n >= 0 && step >= 1, "adamw_step: n=" << n << " step=" << step << " (step is 1-based)");
  LP_CHECK(lr >= 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps >= 0 && weight_decay >= 0,
           "adamw_step: bad hyper-parameters lr=" << lr << " betas=(" << beta1 << ", " << beta2 << ") eps=" << eps
                                                  << " weight_decay=" << weight_decay);
  if (n == 0) return;
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  AdamScalars k;
  k.decay = weight_decay != 0.0;
  k.decay_factor = static_cast<float>(1.0 - lr * weight_decay);
  k.w1 = static_cast<float>(1.0 - beta1);
  k.w1_small = std::fabs(k.w1) < 0.5f;
  k.b2 = static_cast<float>(beta2);
  k.one_minus_b2 = static_cast<float>(1.0 - beta2);
  k.bc2s = static_cast<float>(std::sqrt(bias_correction2));
  k.eps = static_cast<float>(eps);
  k.neg_step = static_cast<float>(-(lr / bias_correction1));
  LP_LAUNCH(adamw_kernel, elementwise_launch(n), ctx.stream, param, grad, m, v, n, k);
}

double grad_global_norm(Context& ctx, const float* const* grads, const int64_t* sizes, int count) {
  LP_CHECK(count >= 0, "grad_global_norm: count=" << count);
  ctx.norm_acc.grow(1);
  LP_CUDA_CHECK(cudaMemsetAsync(ctx.norm_acc.data(), 0, sizeof(double), ctx.stream));
  for (int b = 0; b < count; ++b) {
    LP_CHECK(sizes[b] >= 0 && (sizes[b] == 0 || grads[b] != nullptr),
             "grad_global_norm: buffer " << b << " has size " << sizes[b]);
    if (sizes[b] == 0) continue;
    Launch l = elementwise_launch(sizes[b], 8);  // a few values per thread before the block sum
    LP_LAUNCH(sumsq_kernel, l, ctx.stream, ctx.norm_acc.data(), grads[b], sizes[b]);
  }
  double total = 0.0;
  LP_CUDA_CHECK(cudaMemcpyAsync(&total, ctx.norm_acc.data(), sizeof(double), cudaMemcpyDeviceToHost, ctx.stream));
  LP_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  return std::sqrt(total);
}

float clip_grad_norm(Context& ctx, float* const* grads, const int64_t* sizes, int count, double max_norm) {
  const float total = static_cast<float>(grad_global_norm(ctx, grads, sizes, count));
  // max_norm / (total_norm + 1e-6) on an fp32 tensor: reciprocal, then times the Python scalar (as the CPU backend).
  const float clip_coef = (1.0f / (total + 1e-6f)) * static_cast<float>(max_norm);
  if (clip_coef < 1.0f)
    for (int b = 0; b < count; ++b)
      if (sizes[b] > 0)
        LP_LAUNCH(scale_kernel, elementwise_launch(sizes[b]), ctx.stream, grads[b], sizes[b], clip_coef);
  return total;
}

}  // namespace lp::cuda
