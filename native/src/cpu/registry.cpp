// cpu/registry.cpp: the CPU backend's entry (see backend/registry.h): always compiled and available,
// host memory, and one dequantized projection of scratch (cpu/backend.cpp), plus in bf16 precision the
// rounded activation rows of a projection (cpu/linear.h).
#include "cpu/registry.h"

#include "cpu/backend.h"
#include "cpu/linear.h"

namespace lp::cpu {
namespace {

class CpuReg final : public BackendReg {
 public:
  const char* name() const override { return "cpu"; }
  BackendKind kind() const override { return BackendKind::Cpu; }
  bool compiled() const override { return true; }
  DeviceProbe probe() const override { return {1, ""}; }
  // bf16: the 4-bit projections in bf16 compute, the rest fp32; fp32: fp32 throughout (cpu/backend.h).
  std::unique_ptr<Backend> make(Precision precision) const override { return make_cpu_backend(precision); }

  bool host_visible() const override { return true; }
  size_t dense_weight_bytes(int64_t, Precision) const override { return 0; }
  size_t scratch_bytes(const StepShape& s) const override {
    if (!s.quantized) return 0;
    size_t floats = static_cast<size_t>(s.max_weight);  // CpuBackend's wbuf_
    if (s.precision == Precision::BF16)                 // and act_: an upper bound over the projections
      floats +=
          linear_bf16_scratch(static_cast<int>(s.tokens), static_cast<int>(s.max_in), static_cast<int>(s.max_out));
    return floats * sizeof(float);
  }
};

}  // namespace

const BackendReg& backend_reg() {
  static const CpuReg reg;
  return reg;
}

}  // namespace lp::cpu
