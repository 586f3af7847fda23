// cuda/swiglu.cu: the Llama MLP gate silu(gate) * up and its backward (cpu/swiglu.h, torch's
// silu_backward). Elementwise; in place as the CPU contract allows (each element read before written).
#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

__device__ inline float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

__global__ void swiglu_forward_kernel(float* out, const float* gate, const float* up, int64_t n) {
  LP_GRID_STRIDE(i, n) {
    const float g = gate[i];
    out[i] = g * sigmoid(g) * up[i];
  }
}

__global__ void swiglu_backward_kernel(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                                       int64_t n) {
  LP_GRID_STRIDE(i, n) {
    const float g = gate[i], u = up[i], d = dout[i], s = sigmoid(g);
    dup[i] = d * (g * s);
    dgate[i] = (d * u) * s * (1.0f + g * (1.0f - s));
  }
}

}  // namespace

void swiglu_forward(Context& ctx, float* out, const float* gate, const float* up, int64_t n) {
  LP_CHECK(n >= 0, "swiglu_forward: n=" << n);
  if (n == 0) return;
  LP_LAUNCH(swiglu_forward_kernel, elementwise_launch(n), ctx.stream, out, gate, up, n);
}

void swiglu_backward(Context& ctx, float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                     int64_t n) {
  LP_CHECK(n >= 0, "swiglu_backward: n=" << n);
  if (n == 0) return;
  LP_LAUNCH(swiglu_backward_kernel, elementwise_launch(n), ctx.stream, dgate, dup, dout, gate, up, n);
}

}  // namespace lp::cuda
