// cuda/rmsnorm.cu: LlamaRMSNorm forward and backward (cpu/rmsnorm.h), one block per row, sums in fp32
// with a tree reduction (the CPU backend sums in double; the difference stays within fp32 rounding).
#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* x, const float* w, int C, float eps) {
  const int64_t row = blockIdx.x;
  const float* xr = x + row * C;
  float ss = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) ss += xr[c] * xr[c];
  ss = block_sum(ss);
  const float r = 1.0f / sqrtf(ss / C + eps);
  if (threadIdx.x == 0) rstd[row] = r;
  float* o = out + row * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = w[c] * (xr[c] * r);
}

// dx = rstd * (dout * w - h * mean(dout * w * h)), h = x * rstd
__global__ void rmsnorm_backward_kernel(float* dx, const float* dout, const float* x, const float* w, const float* rstd,
                                        int C, bool accumulate) {
  const int64_t row = blockIdx.x;
  const float* xr = x + row * C;
  const float* dr = dout + row * C;
  const float r = rstd[row];
  float dot = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) dot += (dr[c] * w[c]) * (xr[c] * r);
  const float m = block_sum(dot) / C;
  float* d = dx + row * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float g = r * (dr[c] * w[c] - (xr[c] * r) * m);
    d[c] = accumulate ? d[c] + g : g;
  }
}

}  // namespace

void rmsnorm_forward(Context& ctx, float* out, float* rstd, const float* x, const float* weight, int N, int C,
                     float eps) {
  LP_CHECK(N >= 0 && C > 0, "rmsnorm_forward: bad shape N=" << N << " C=" << C);
  if (N == 0) return;
  LP_LAUNCH(rmsnorm_forward_kernel, row_launch(N), ctx.stream, out, rstd, x, weight, C, eps);
}

void rmsnorm_backward(Context& ctx, float* dx, const float* dout, const float* x, const float* weight,
                      const float* rstd, int N, int C, bool accumulate) {
  LP_CHECK(N >= 0 && C > 0, "rmsnorm_backward: bad shape N=" << N << " C=" << C);
  if (N == 0) return;
  LP_LAUNCH(rmsnorm_backward_kernel, row_launch(N), ctx.stream, dx, dout, x, weight, rstd, C, accumulate);
}

}  // namespace lp::cuda
