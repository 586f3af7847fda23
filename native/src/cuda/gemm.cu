// cuda/gemm.cu: row-major GEMM on cuBLAS (cublasGemmEx over the column-major transpose:
// C^T = op(B)^T op(A)^T), and the fp32 -> bf16 cast that feeds tensor-core GEMMs.
#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

__global__ void cast_bf16_kernel(__nv_bfloat16* out, const float* in, int64_t n) {
  LP_GRID_STRIDE(i, n) out[i] = __float2bfloat16_rn(in[i]);
}

}  // namespace

void gemm(Context& ctx, bool transA, bool transB, int M, int N, int K, float alpha, const void* A, int lda,
          const void* B, int ldb, Elem ab, float beta, float* C, int ldc) {
  LP_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: bad shape M=" << M << " N=" << N << " K=" << K);
  if (M == 0 || N == 0) return;
  const cudaDataType_t t = ab == Elem::BF16 ? CUDA_R_16BF : CUDA_R_32F;
  const cublasComputeType_t compute = ab == Elem::BF16 ? CUBLAS_COMPUTE_32F
                                      : ctx.bf16()     ? CUBLAS_COMPUTE_32F_FAST_16BF
                                                       : CUBLAS_COMPUTE_32F;
  LP_CUBLAS_CHECK(cublasGemmEx(ctx.blas, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, N, M,
                               K, &alpha, B, t, ldb, A, t, lda, &beta, C, CUDA_R_32F, ldc, compute,
                               CUBLAS_GEMM_DEFAULT));
}

void cast_to_bf16(Context& ctx, __nv_bfloat16* out, const float* in, int64_t n) {
  if (n == 0) return;
  const Launch l = elementwise_launch(n);
  LP_LAUNCH(cast_bf16_kernel, l, ctx.stream, out, in, n);
}

}  // namespace lp::cuda
