// cuda/common.cuh: device helpers shared by the kernels: grid-stride indexing, warp and block sums,
// bf16 conversion, and the launch macro that checks what it launched.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/check.h"
#include "cuda/plan.h"

namespace lp::cuda {

// for (i = this thread's first index; i < n; i += total threads)
#define LP_GRID_STRIDE(i, n)                                                             \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// kernel<<<l.blocks, l.threads, l.smem, stream>>>(args...) and a check naming the kernel.
#define LP_LAUNCH(kernel, l, stream, ...)                                 \
  do {                                                                    \
    kernel<<<(l).blocks, (l).threads, (l).smem, (stream)>>>(__VA_ARGS__); \
    LP_CUDA_LAUNCHED(#kernel);                                            \
  } while (0)

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
template <typename T>
__device__ inline T block_sum(T v) {
  __shared__ T part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // part may still be read by a previous call
  if (lane == 0) part[warp] = v;
  __syncthreads();
  T t = lane < nwarps ? part[lane] : T(0);
  return warp_sum(t);
}

template <typename T>
__device__ inline T block_max(T v) {
  __shared__ T part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  T t = lane < nwarps ? part[lane] : part[0];
  for (int o = 16; o > 0; o >>= 1) t = max(t, __shfl_xor_sync(0xffffffffu, t, o));
  return t;
}

__device__ inline float to_float(float x) { return x; }
__device__ inline float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T>
__device__ inline T from_float(float x);
template <>
__device__ inline float from_float<float>(float x) {
  return x;
}
template <>
__device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

}  // namespace lp::cuda
