// cpu/backend.h: the CPU backend, every operation one of the cpu/ ops (OpenMP, SIMD, BLAS GEMM).
// Buffers are host memory, so the model's fp32 tensors are used in place. Provides make_cpu_backend.
#pragma once
#include <memory>

#include "backend/backend.h"
#include "backend/registry.h"

namespace lp::cpu {

// precision F32: fp32 throughout. BF16: the 4-bit projections compute as bitsandbytes' Linear4bit does with
// bnb_4bit_compute_dtype=torch.bfloat16 (weight and input rounded to bf16, fp32 accumulation, output
// rounded to bf16; cpu/linear.h), everything else in fp32, as PEFT's QLoRA recipe keeps it.
std::unique_ptr<Backend> make_cpu_backend(Precision precision = Precision::F32);

}  // namespace lp::cpu
