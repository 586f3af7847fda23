// cuda/linear.cu: the frozen base linear layer on the GPU: W dequantized into the reused workspace
// (bf16), the activation cast to bf16, one tensor-core GEMM with fp32 accumulation and fp32 output;
// the bias added after the full dot product, as torch's addmm rounds it.
#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

__global__ void add_bias_kernel(float* y, const float* b, int64_t n, int out) {
  LP_GRID_STRIDE(i, n) y[i] += b[i % out];
}

// The GEMM operand for an fp32 activation: itself in fp32 precision, its bf16 copy otherwise.
const void* operand(Context& ctx, const float* x, int64_t n) {
  if (!ctx.bf16()) return x;
  ctx.act_cast.grow(static_cast<size_t>(n));
  cast_to_bf16(ctx, ctx.act_cast.data(), x, n);
  return ctx.act_cast.data();
}

}  // namespace

void linear_forward(Context& ctx, float* y, const float* x, const FrozenWeight& W, const float* b, int N) {
  LP_CHECK(N >= 0, "linear_forward: N=" << N);
  if (N == 0) return;
  const void* w = dequantize(ctx, W);
  const void* xa = operand(ctx, x, static_cast<int64_t>(N) * W.in);
  // y (N, out) = x (N, in) @ W^T, W stored (out, in)
  gemm(ctx, false, true, N, W.out, W.in, 1.f, xa, W.in, w, W.in, ctx.bf16() ? Elem::BF16 : Elem::F32, 0.f, y, W.out);
  if (b) {
    const int64_t n = static_cast<int64_t>(N) * W.out;
    const Launch l = elementwise_launch(n);
    LP_LAUNCH(add_bias_kernel, l, ctx.stream, y, b, n, W.out);
  }
}

void linear_backward(Context& ctx, float* dx, const float* dy, const FrozenWeight& W, int N, bool accumulate) {
  LP_CHECK(N >= 0, "linear_backward: N=" << N);
  if (N == 0) return;
  const void* w = dequantize(ctx, W);
  const void* dya = operand(ctx, dy, static_cast<int64_t>(N) * W.out);
  // dx (N, in) (+)= dy (N, out) @ W (out, in)
  gemm(ctx, false, false, N, W.in, W.out, 1.f, dya, W.out, w, W.in, ctx.bf16() ? Elem::BF16 : Elem::F32,
       accumulate ? 1.f : 0.f, dx, W.in);
}

}  // namespace lp::cuda
