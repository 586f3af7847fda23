// cuda/registry.h: the CUDA backend's entry in the backend registry (backend/registry.h), in every build:
// its memory planning is plain C++, its probe and constructor need the .cu files. Provides backend_reg.
#pragma once
#include "backend/registry.h"

namespace lp::cuda {

const BackendReg& backend_reg();

}  // namespace lp::cuda
