// cuda/backend.h: the CUDA backend (built only where nvcc is found). Provides probe_devices (for
// backend/select.h) and make_cuda_backend. Include only from code that CMake builds with CUDA.
#pragma once
#include <memory>

#include "backend/backend.h"
#include "backend/select.h"
#include "cuda/context.h"

namespace lp::cuda {

// cudaGetDeviceCount, with the error message when it fails (no driver, no device).
DeviceProbe probe_devices();

// A backend on `device` (its own stream and cuBLAS handle). Throws lp::Error naming the CUDA error
// when the device cannot be used.
std::unique_ptr<Backend> make_cuda_backend(Precision precision = Precision::BF16, int device = 0);

// The CUDA backend's context (stream, cuBLAS handle, workspace) for the GPU tests; be must be a CUDA backend.
Context& context_of(Backend& be);

}  // namespace lp::cuda
