// cpu/registry.h: the CPU backend's entry in the backend registry (backend/registry.h). Provides backend_reg.
#pragma once
#include "backend/registry.h"

namespace lp::cpu {

const BackendReg& backend_reg();

}  // namespace lp::cpu
