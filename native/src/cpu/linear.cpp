// cpu/linear.cpp: frozen linear forward/backward on top of sgemm.
#include "cpu/linear.h"

#include <cstddef>

#include "core/check.h"
#include "cpu/parallel.h"
#include "cpu/gemm.h"

namespace lp::cpu {

void linear_forward(float* y, const float* x, const float* W, const float* b, int N, int in, int out) {
  LP_CHECK(N >= 0 && in > 0 && out > 0, "linear_forward: bad shape N=" << N << " in=" << in << " out=" << out);
  // y (N, out) = x (N, in) @ W^T, W stored (out, in)
  sgemm(false, true, N, out, in, 1.0f, x, in, W, in, 0.0f, y, out);
  if (b != nullptr) {
    LP_OMP(parallel for if ((long)N * out > (1 << 16)))
    for (int n = 0; n < N; ++n) {
      float* yr = y + (size_t)n * out;
      for (int o = 0; o < out; ++o) yr[o] += b[o];
    }
  }
}

void linear_backward(float* dx, const float* dy, const float* W, int N, int in, int out, bool accumulate) {
  LP_CHECK(N >= 0 && in > 0 && out > 0, "linear_backward: bad shape N=" << N << " in=" << in << " out=" << out);
  // dx (N, in) (+)= dy (N, out) @ W (out, in)
  sgemm(false, false, N, in, out, 1.0f, dy, out, W, in, accumulate ? 1.0f : 0.0f, dx, in);
}

}  // namespace lp::cpu
