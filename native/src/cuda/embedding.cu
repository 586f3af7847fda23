// cuda/embedding.cu: token embedding gather (cpu/embedding.h) from the frozen table as the backend keeps
// it (bf16 in bf16 precision: a bf16 checkpoint's values exactly; fp32 otherwise), into fp32 rows. No
// backward: the table is frozen. Token ids were range-checked on the host before they were copied in.
#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

template <typename T>
__global__ void embedding_kernel(float* out, const int32_t* tokens, const T* table, int64_t n, int C) {
  LP_GRID_STRIDE(i, n) out[i] = to_float(table[static_cast<int64_t>(tokens[i / C]) * C + i % C]);
}

}  // namespace

void embedding_forward(Context& ctx, float* out, const int32_t* tokens, const FrozenWeight& table, int N) {
  const int C = table.in;
  LP_CHECK(N >= 0 && C > 0, "embedding_forward: bad shape N=" << N << " C=" << C);
  const int64_t n = static_cast<int64_t>(N) * C;
  if (n == 0) return;
  const DenseTable t = dense_table(table);
  const Launch l = elementwise_launch(n);
  if (t.bf16)
    LP_LAUNCH(embedding_kernel<__nv_bfloat16>, l, ctx.stream, out, tokens, static_cast<const __nv_bfloat16*>(t.data), n,
              C);
  else
    LP_LAUNCH(embedding_kernel<float>, l, ctx.stream, out, tokens, static_cast<const float*>(t.data), n, C);
}

}  // namespace lp::cuda
