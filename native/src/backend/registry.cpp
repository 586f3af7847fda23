// backend/registry.cpp: the list of backends (see registry.h); the one place that names them all.
#include "backend/registry.h"

#include "core/check.h"
#include "cpu/registry.h"
#include "cuda/registry.h"

namespace lp {

const std::vector<const BackendReg*>& backend_registry() {
  static const std::vector<const BackendReg*> regs = {&cpu::backend_reg(), &cuda::backend_reg()};
  return regs;
}

const BackendReg& registered_backend(BackendKind kind) {
  for (const BackendReg* r : backend_registry())
    if (r->kind() == kind) return *r;
  throw Error("registered_backend: auto is a choice among backends, not one (backend/select.h makes it)");
}

}  // namespace lp
