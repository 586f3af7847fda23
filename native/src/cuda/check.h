// cuda/check.h: checked CUDA and cuBLAS calls (ggml-style): a failure throws lp::Error naming the
// statement, the error's name and message, the function, file and line. Never aborts.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/check.h"

// what: the text the error names as the failed statement.
#define LP_CUDA_CHECK_AS(stmt, what)                                                                              \
  do {                                                                                                            \
    const cudaError_t lp_cuda_err_ = (stmt);                                                                      \
    if (lp_cuda_err_ != cudaSuccess)                                                                              \
      ::lp::fail(                                                                                                 \
          what, __func__, __FILE__, __LINE__,                                                                     \
          std::string("CUDA error ") + cudaGetErrorName(lp_cuda_err_) + ": " + cudaGetErrorString(lp_cuda_err_)); \
  } while (0)
#define LP_CUDA_CHECK(stmt) LP_CUDA_CHECK_AS(stmt, #stmt)

#define LP_CUBLAS_CHECK(stmt)                                                               \
  do {                                                                                      \
    const cublasStatus_t lp_cublas_st_ = (stmt);                                            \
    if (lp_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                             \
      ::lp::fail(#stmt, __func__, __FILE__, __LINE__,                                       \
                 std::string("cuBLAS error ") + cublasGetStatusName(lp_cublas_st_) + ": " + \
                     cublasGetStatusString(lp_cublas_st_));                                 \
  } while (0)

// After a kernel launch: a bad configuration shows up here, with the kernel's name.
#define LP_CUDA_LAUNCHED(kernel_name) LP_CUDA_CHECK_AS(cudaPeekAtLastError(), "launch of " kernel_name)
