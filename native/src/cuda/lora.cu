// cuda/lora.cu: the LoRA branch on the GPU (cpu/lora.h): the dropout keep-mask from the same Philox
// stream as the CPU backend (core/rng.h, so both draw identical masks), dropout, and the four small
// GEMMs of forward and backward on the fp32 master weights (FAST_16BF in bf16 precision).
#include "core/rng.h"
#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

// torch's dropout scale 1 / (1 - p), computed in double and rounded once, as the CPU backend does.
float keep_scale(float p) { return 1.0f / static_cast<float>(1.0 - static_cast<double>(p)); }

__global__ void dropout_mask_kernel(uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream) {
  const int64_t nblocks = (n + 3) / 4;
  LP_GRID_STRIDE(b, nblocks) {
    const uint64_t ub = static_cast<uint64_t>(b);
    const std::array<uint32_t, 4> w = philox4x32({static_cast<uint32_t>(ub), static_cast<uint32_t>(ub >> 32),
                                                  static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)},
                                                 {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
    for (int u = 0; u < 4 && b * 4 + u < n; ++u) {
      const float uni = static_cast<float>(w[u] >> 8) * 0x1.0p-24f;
      mask[b * 4 + u] = uni >= p ? 1 : 0;
    }
  }
}

__global__ void apply_dropout_kernel(float* xd, const float* x, const uint8_t* mask, int64_t n, float s) {
  LP_GRID_STRIDE(i, n) xd[i] = x[i] * (mask[i] ? s : 0.0f);
}

// dx += du * mask * s
__global__ void dropout_backward_kernel(float* dx, const float* du, const uint8_t* mask, int64_t n, float s) {
  LP_GRID_STRIDE(i, n) dx[i] += du[i] * (mask[i] ? s : 0.0f);
}

void check_shapes(const char* fn, int N, int in, int r, int out, float p) {
  LP_CHECK(N >= 0 && in > 0 && r > 0 && out > 0,
           fn << ": bad shape N=" << N << " in=" << in << " r=" << r << " out=" << out);
  LP_CHECK(p >= 0.0f && p < 1.0f, fn << ": dropout p=" << p << " must be in [0, 1)");
}

void apply_dropout(Context& ctx, float* xd, const float* x, const uint8_t* mask, int64_t n, float s) {
  const Launch l = elementwise_launch(n);
  LP_LAUNCH(apply_dropout_kernel, l, ctx.stream, xd, x, mask, n, s);
}

}  // namespace

void lora_dropout_mask(Context& ctx, uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream) {
  LP_CHECK(n >= 0, "lora_dropout_mask: n=" << n);
  LP_CHECK(p >= 0.0f && p < 1.0f, "lora_dropout_mask: p=" << p << " must be in [0, 1)");
  if (n == 0) return;
  const Launch l = elementwise_launch(n, 4);
  LP_LAUNCH(dropout_mask_kernel, l, ctx.stream, mask, n, p, seed, stream);
}

void lora_forward(Context& ctx, float* y, float* h, float* xd, const float* x, const uint8_t* mask, float dropout_p,
                  const float* A, const float* B, int N, int in, int r, int out, float scale) {
  check_shapes("lora_forward", N, in, r, out, dropout_p);
  const float* u = x;
  if (mask) {
    LP_CHECK(xd != nullptr, "lora_forward: dropout needs the xd scratch buffer (N, in)");
    apply_dropout(ctx, xd, x, mask, static_cast<int64_t>(N) * in, keep_scale(dropout_p));
    u = xd;
  }
  // h (N, r) = u (N, in) @ A^T;  y (N, out) += scale * h @ B^T
  gemm(ctx, false, true, N, r, in, 1.f, u, in, A, in, Elem::F32, 0.f, h, r);
  gemm(ctx, false, true, N, out, r, scale, h, r, B, r, Elem::F32, 1.f, y, out);
}

void lora_backward(Context& ctx, float* dA, float* dB, float* dx, float* dh, float* xd, const float* dy, const float* x,
                   const uint8_t* mask, float dropout_p, const float* h, const float* A, const float* B, int N, int in,
                   int r, int out, float scale) {
  check_shapes("lora_backward", N, in, r, out, dropout_p);
  LP_CHECK(mask == nullptr || xd != nullptr, "lora_backward: dropout needs the xd scratch buffer (N, in)");
  // dB (out, r) += scale * dy^T @ h;  dh (N, r) = scale * dy @ B
  gemm(ctx, true, false, out, r, N, scale, dy, out, h, r, Elem::F32, 1.f, dB, r);
  gemm(ctx, false, false, N, r, out, scale, dy, out, B, r, Elem::F32, 0.f, dh, r);
  const float s = keep_scale(dropout_p);
  const float* u = x;
  const int64_t n = static_cast<int64_t>(N) * in;
  if (mask) {
    apply_dropout(ctx, xd, x, mask, n, s);
    u = xd;
  }
  // dA (r, in) += dh^T @ u
  gemm(ctx, true, false, r, in, N, 1.f, dh, r, u, in, Elem::F32, 1.f, dA, in);
  if (!dx) return;
  if (!mask) {
    gemm(ctx, false, false, N, in, r, 1.f, dh, r, A, in, Elem::F32, 1.f, dx, in);  // dx += dh @ A
    return;
  }
  gemm(ctx, false, false, N, in, r, 1.f, dh, r, A, in, Elem::F32, 0.f, xd, in);  // du = dh @ A into xd
  const Launch l = elementwise_launch(n);
  LP_LAUNCH(dropout_backward_kernel, l, ctx.stream, dx, xd, mask, n, s);
}

}  // namespace lp::cuda
