// cpu/linear.cpp: frozen linear forward/backward on top of sgemm, in fp32 and in bf16 compute.
#include "cpu/linear.h"

#include <algorithm>
#include <cstddef>

#include "core/check.h"
#include "core/parallel.h"
#include "cpu/bf16.h"
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

int linear_bf16_rows(int N, int in, int out) {
  const int64_t rows = std::max<int64_t>(64, (int64_t{1} << 22) / (static_cast<int64_t>(in) + out));
  return static_cast<int>(std::min<int64_t>(std::max(N, 1), rows));
}

size_t linear_bf16_scratch(int N, int in, int out) {
  return static_cast<size_t>(linear_bf16_rows(N, in, out)) * (static_cast<size_t>(in) + out);
}

void linear_forward_bf16(float* y, const float* x, const float* W, const float* b, int N, int in, int out,
                         float* scratch) {
  LP_CHECK(N >= 0 && in > 0 && out > 0, "linear_forward_bf16: bad shape N=" << N << " in=" << in << " out=" << out);
  const int R = linear_bf16_rows(N, in, out);
  for (int n0 = 0; n0 < N; n0 += R) {
    const int m = std::min(R, N - n0);
    float* xb = scratch;  // (m, in) bf16(x)
    round_bf16(xb, x + static_cast<size_t>(n0) * in, static_cast<int64_t>(m) * in);
    float* yr = y + static_cast<size_t>(n0) * out;
    sgemm(false, true, m, out, in, 1.0f, xb, in, W, in, 0.0f, yr, out);
    for (int n = 0; n < m; ++n) {  // on this thread, as round_bf16 (cpu/bf16.cpp)
      float* row = yr + static_cast<size_t>(n) * out;
      if (b != nullptr)
        for (int o = 0; o < out; ++o) row[o] = round_bf16(row[o] + round_bf16(b[o]));
      else
        for (int o = 0; o < out; ++o) row[o] = round_bf16(row[o]);
    }
  }
}

void linear_backward_bf16(float* dx, const float* dy, const float* W, int N, int in, int out, bool accumulate,
                          float* scratch) {
  LP_CHECK(N >= 0 && in > 0 && out > 0, "linear_backward_bf16: bad shape N=" << N << " in=" << in << " out=" << out);
  const int R = linear_bf16_rows(N, in, out);
  for (int n0 = 0; n0 < N; n0 += R) {
    const int m = std::min(R, N - n0);
    const int64_t n = static_cast<int64_t>(m) * in;
    float* dyb = scratch;                                  // (m, out) bf16(dy)
    float* prod = scratch + static_cast<size_t>(m) * out;  // (m, in) the product, when it is added to dx
    round_bf16(dyb, dy + static_cast<size_t>(n0) * out, static_cast<int64_t>(m) * out);
    float* dxr = dx + static_cast<size_t>(n0) * in;
    float* dst = accumulate ? prod : dxr;
    sgemm(false, false, m, in, out, 1.0f, dyb, out, W, in, 0.0f, dst, in);
    if (accumulate) {
      for (int64_t i = 0; i < n; ++i) dxr[i] += round_bf16(prod[i]);
    } else {
      round_bf16(dxr, dxr, n);
    }
  }
}

}  // namespace lp::cpu
