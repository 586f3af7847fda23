// cpu/backend.h: the CPU backend, every operation one of the cpu/ ops (OpenMP, SIMD, BLAS GEMM).
// Buffers are host memory, so the model's fp32 tensors are used in place. Provides make_cpu_backend.
#pragma once
#include <memory>

#include "backend/backend.h"

namespace lp::cpu {

std::unique_ptr<Backend> make_cpu_backend();

}  // namespace lp::cpu
