// cuda/rope.cu: rotary embeddings (cpu/rope.h): the rotate_half rotation of q or k with per-token
// cos/sin tables (N, head_dim/2), and its transpose for the backward. In place is allowed.
#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

// sign +1: forward  x'[i] = x[i] c - x[i+h] s,  x'[i+h] = x[i+h] c + x[i] s
// sign -1: backward d[i]  = g[i] c + g[i+h] s,  d[i+h]  = g[i+h] c - g[i] s
__global__ void rope_kernel(float* out, const float* in, const float* cos, const float* sin, int64_t n, int n_heads,
                            int half, float sign) {
  LP_GRID_STRIDE(idx, n) {  // idx over (token, head, i < half)
    const int i = static_cast<int>(idx % half);
    const int64_t th = idx / half;
    const int64_t tok = th / n_heads;
    const int64_t base = th * 2 * half;
    const float c = cos[tok * half + i], s = sin[tok * half + i] * sign;
    const float a = in[base + i], b = in[base + i + half];
    out[base + i] = a * c - b * s;
    out[base + i + half] = b * c + a * s;
  }
}

void rope(Context& ctx, float* out, const float* in, const float* cos, const float* sin, int N, int n_heads,
          int head_dim, float sign) {
  LP_CHECK(N >= 0 && n_heads > 0 && head_dim > 0 && head_dim % 2 == 0,
           "rope: bad shape N=" << N << " n_heads=" << n_heads << " head_dim=" << head_dim);
  const int64_t n = static_cast<int64_t>(N) * n_heads * (head_dim / 2);
  if (n == 0) return;
  const Launch l = elementwise_launch(n);
  LP_LAUNCH(rope_kernel, l, ctx.stream, out, in, cos, sin, n, n_heads, head_dim / 2, sign);
}

}  // namespace

void rope_forward(Context& ctx, float* out, const float* inp, const float* cos, const float* sin, int N, int n_heads,
                  int head_dim) {
  rope(ctx, out, inp, cos, sin, N, n_heads, head_dim, 1.f);
}

void rope_backward(Context& ctx, float* dinp, const float* dout, const float* cos, const float* sin, int N, int n_heads,
                   int head_dim) {
  rope(ctx, dinp, dout, cos, sin, N, n_heads, head_dim, -1.f);
}

}  // namespace lp::cuda
