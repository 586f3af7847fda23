// cuda/cross_entropy.cu: the causal-LM loss over one chunk of lm_head rows (cpu/cross_entropy.h). The
// model feeds it at most a few hundred rows at a time, so the (N, V) logits are never whole in memory.
// One block per row: one pass over the vocabulary with an online max and sum (each thread keeps its
// own, merged at the end), then, for training, one pass writing (softmax - onehot) * scale over the
// logits in place. Per-row losses go to the workspace; the host sums them in double in row order.
#include <cmath>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

constexpr int32_t kIgnore = -100;

__global__ void cross_entropy_kernel(float* logits, float* row_loss, const int32_t* labels, int V, float scale,
                                     bool backward) {
  const int64_t row = blockIdx.x;
  float* x = logits + row * V;
  const int32_t y = labels[row];
  if (y == kIgnore) {
    if (threadIdx.x == 0) row_loss[row] = 0.f;
    if (backward)
      for (int j = threadIdx.x; j < V; j += blockDim.x) x[j] = 0.f;
    return;
  }
  float m = -INFINITY, s = 0.f;
  for (int j = threadIdx.x; j < V; j += blockDim.x) {
    const float v = x[j];
    if (v > m) {
      s = s * expf(m - v) + 1.f;
      m = v;
    } else {
      s += expf(v - m);
    }
  }
  const float gm = block_max(m);
  const float gs = block_sum(m == -INFINITY ? 0.f : s * expf(m - gm));
  const float lse = gm + logf(gs);
  if (threadIdx.x == 0) row_loss[row] = lse - x[y];
  if (!backward) return;
  __syncthreads();  // x[y] was read above before it is overwritten
  for (int j = threadIdx.x; j < V; j += blockDim.x) x[j] = expf(x[j] - lse) * scale - (j == y ? scale : 0.f);
}

}  // namespace

CrossEntropySum cross_entropy(Context& ctx, float* logits, const int32_t* labels, int N, int V, float scale,
                              bool backward) {
  LP_CHECK(N >= 0 && V > 0, "cross_entropy: bad shape N=" << N << " V=" << V);
  CrossEntropySum sum;
  if (N == 0) return sum;
  ctx.row_loss.grow(static_cast<size_t>(N));
  LP_LAUNCH(cross_entropy_kernel, row_launch(N), ctx.stream, logits, ctx.row_loss.data(), labels, V, scale, backward);
  std::vector<float> loss(static_cast<size_t>(N));
  std::vector<int32_t> y(static_cast<size_t>(N));
  LP_CUDA_CHECK(cudaMemcpyAsync(loss.data(), ctx.row_loss.data(), loss.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                ctx.stream));
  LP_CUDA_CHECK(cudaMemcpyAsync(y.data(), labels, y.size() * sizeof(int32_t), cudaMemcpyDeviceToHost, ctx.stream));
  LP_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  for (int n = 0; n < N; ++n) {
    if (y[static_cast<size_t>(n)] == kIgnore) continue;
    LP_CHECK(y[static_cast<size_t>(n)] >= 0 && y[static_cast<size_t>(n)] < V,
             "cross_entropy: label " << y[static_cast<size_t>(n)] << " at row " << n << " outside [0, " << V << ")");
    sum.loss_sum += loss[static_cast<size_t>(n)];
    sum.n_valid += 1;
  }
  return sum;
}

}  // namespace lp::cuda
