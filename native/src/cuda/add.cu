// cuda/add.cu: the residual add out = a + b (out may alias a or b). No backward of its own: the
// residual gradient flows through unchanged and the model accumulates into it.
#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

__global__ void add_kernel(float* out, const float* a, const float* b, int64_t n) {
  LP_GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

}  // namespace

void add(Context& ctx, float* out, const float* a, const float* b, int64_t n) {
  LP_CHECK(n >= 0, "add: n=" << n);
  if (n == 0) return;
  LP_LAUNCH(add_kernel, elementwise_launch(n), ctx.stream, out, a, b, n);
}

}  // namespace lp::cuda
