// cuda/context.h: what every CUDA op needs: the stream all work goes on, the cuBLAS handle, the
// precision, and the backend's reused scratch. Provides Context.
#pragma once
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "backend/buffer.h"
#include "backend/select.h"

namespace lp::cuda {

// Precision (backend/select.h) here: bf16 = projections dequantized to bf16, GEMMs on bf16 tensor
// cores with fp32 accumulation (fp32 tensors through CUBLAS_COMPUTE_32F_FAST_16BF), everything else
// fp32; fp32 = every GEMM in fp32 as well.
struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  Precision precision = Precision::BF16;
  // Scratch, grown to the largest call and reused (cuda/plan.h WorkspacePlan).
  Buffer<unsigned char> weight;     // one dequantized projection (bf16 or fp32)
  Buffer<__nv_bfloat16> act_cast;   // a GEMM operand cast to bf16
  Buffer<float> row_loss;           // per-row cross-entropy losses
  Buffer<float> attn_rowsum;        // rowsum(dO * O)
  Buffer<float> decode_scores;      // (NH, cache rows) attention scores of one decoded token
  Buffer<double> norm_acc;          // (1) sum of squares for the gradient norm
  Buffer<unsigned char> cublas_ws;  // cuBLAS workspace
  bool bf16() const { return precision == Precision::BF16; }
};

}  // namespace lp::cuda
