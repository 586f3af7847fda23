// cpu/rope.cpp: the RoPE rotation. Each product is rounded before the sum, as PyTorch rounds it
// (no FMA contraction in this file).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "cpu/rope.h"

#include <cstddef>

#include "core/check.h"
#include "core/parallel.h"

namespace lp::cpu {
namespace {

// y = x * cos + rotate_half(x) * (sign * sin). sign = -1 gives the transpose the backward needs
// (dq = g * cos + rotate_half^T(g * sin)); negating sin is exact, so both directions keep
// PyTorch's rounding: each product rounded, then the sum.
void rotate(float* out, const float* inp, const float* cos, const float* sin, int N, int n_heads, int head_dim,
            float sign) {
  const int half = head_dim / 2;
  LP_OMP(parallel for if ((long)N * n_heads * head_dim > (1 << 15)))
  for (int n = 0; n < N; ++n) {
    const float* c = cos + (size_t)n * half;
    const float* s = sin + (size_t)n * half;
    for (int h = 0; h < n_heads; ++h) {
      const float* x = inp + ((size_t)n * n_heads + h) * head_dim;
      float* y = out + ((size_t)n * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        const float x1 = x[i], x2 = x[i + half], si = sign * s[i];
        const float y1 = x1 * c[i] + (-x2) * si;
        const float y2 = x2 * c[i] + x1 * si;
        y[i] = y1;
        y[i + half] = y2;
      }
    }
  }
}

}  // namespace

void rope_forward(float* out, const float* inp, const float* cos, const float* sin, int N, int n_heads, int head_dim) {
  LP_CHECK(N >= 0 && n_heads > 0 && head_dim > 0 && head_dim % 2 == 0,
           "rope_forward: bad shape N=" << N << " n_heads=" << n_heads << " head_dim=" << head_dim);
  rotate(out, inp, cos, sin, N, n_heads, head_dim, 1.0f);
}

void rope_backward(float* dinp, const float* dout, const float* cos, const float* sin, int N, int n_heads,
                   int head_dim) {
  LP_CHECK(N >= 0 && n_heads > 0 && head_dim > 0 && head_dim % 2 == 0,
           "rope_backward: bad shape N=" << N << " n_heads=" << n_heads << " head_dim=" << head_dim);
  rotate(dinp, dout, cos, sin, N, n_heads, head_dim, -1.0f);
}

}  // namespace lp::cpu
