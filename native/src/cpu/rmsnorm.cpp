// cpu/rmsnorm.cpp: RMSNorm forward/backward. Products are rounded where PyTorch rounds them (no FMA
// contraction in this file).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "cpu/rmsnorm.h"

#include <cmath>
#include <cstddef>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace lp::cpu {

void rmsnorm_forward(float* out, float* rstd, const float* x, const float* weight, int N, int C, float eps) {
  LP_CHECK(N >= 0 && C > 0, "rmsnorm_forward: bad shape N=" << N << " C=" << C);
  LP_OMP(parallel for if ((long)N * C > (1 << 15)))
  for (int n = 0; n < N; ++n) {
    const float* xr = x + (size_t)n * C;
    float* o = out + (size_t)n * C;
    // sum of x.pow(2) (squares rounded to fp32 as torch does) in 8 double lanes, which vectorise.
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int c = 0;
    for (; c + 8 <= C; c += 8)
      for (int j = 0; j < 8; ++j) lanes[j] += (double)(xr[c + j] * xr[c + j]);
    for (; c < C; ++c) lanes[0] += (double)(xr[c] * xr[c]);
    const double ss = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    const float var = static_cast<float>(ss / C);
    const float r = 1.0f / std::sqrt(var + eps);  // torch.rsqrt
    rstd[n] = r;
    for (int c = 0; c < C; ++c) {
      const float hc = xr[c] * r;
      o[c] = weight[c] * hc;
    }
  }
}

void rmsnorm_backward(float* dx, float* dweight, const float* dout, const float* x, const float* weight,
                      const float* rstd, int N, int C, bool accumulate) {
  LP_CHECK(N >= 0 && C > 0, "rmsnorm_backward: bad shape N=" << N << " C=" << C);
  LP_OMP(parallel for if ((long)N * C > (1 << 15)))
  for (int n = 0; n < N; ++n) {
    const float* xr = x + (size_t)n * C;
    const float* dr = dout + (size_t)n * C;
    float* dxr = dx + (size_t)n * C;
    const float r = rstd[n];
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // sum_c dh * h
    int c = 0;
    for (; c + 8 <= C; c += 8)
      for (int j = 0; j < 8; ++j) lanes[j] += (double)(dr[c + j] * weight[c + j]) * (double)(xr[c + j] * r);
    for (; c < C; ++c) lanes[0] += (double)(dr[c] * weight[c]) * (double)(xr[c] * r);
    const double dot =
        ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    const float m = static_cast<float>(dot / C);
    if (accumulate)
      for (c = 0; c < C; ++c) dxr[c] += r * (dr[c] * weight[c] - (xr[c] * r) * m);
    else
      for (c = 0; c < C; ++c) dxr[c] = r * (dr[c] * weight[c] - (xr[c] * r) * m);
  }
  if (dweight == nullptr) return;
  // dweight (C) += sum_n dout * h: columns split across threads, each sums its columns over all rows.
  LP_OMP(parallel if ((long)N * C > (1 << 15))) {
    int tid = 0, nth = 1;
#ifdef _OPENMP
    tid = omp_get_thread_num();
    nth = omp_get_num_threads();
#endif
    const int c0 = (int)((long)C * tid / nth), c1 = (int)((long)C * (tid + 1) / nth);
    if (c1 > c0) {
      std::vector<double> acc(c1 - c0, 0.0);
      for (int n = 0; n < N; ++n) {
        const float* xr = x + (size_t)n * C;
        const float* dr = dout + (size_t)n * C;
        const float r = rstd[n];
        for (int c = c0; c < c1; ++c) acc[c - c0] += (double)(dr[c] * (xr[c] * r));
      }
      for (int c = c0; c < c1; ++c) dweight[c] += static_cast<float>(acc[c - c0]);
    }
  }
}

}  // namespace lp::cpu
