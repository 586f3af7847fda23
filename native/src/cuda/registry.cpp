// cuda/registry.cpp: the CUDA backend's entry (see backend/registry.h). Built without nvcc too, so a
// GPU run can be sized anywhere (cuda/plan.h); probe and make reach cuda/backend.cu only where CMake
// built it (LORAPLANE_HAVE_CUDA).
#include "cuda/registry.h"

#include "core/check.h"
#include "cuda/plan.h"
#ifdef LORAPLANE_HAVE_CUDA
#include "cuda/backend.h"
#endif

namespace lp::cuda {
namespace {

class CudaReg final : public BackendReg {
 public:
  const char* name() const override { return "cuda"; }
  BackendKind kind() const override { return BackendKind::Cuda; }
#ifdef LORAPLANE_HAVE_CUDA
  bool compiled() const override { return true; }
  DeviceProbe probe() const override { return probe_devices(); }
  std::unique_ptr<Backend> make(Precision precision) const override { return make_cuda_backend(precision); }
#else
  bool compiled() const override { return false; }
  DeviceProbe probe() const override { return {}; }
  std::unique_ptr<Backend> make(Precision) const override {
    throw Error("this build has no CUDA backend (nvcc was not found when it was built)");
  }
#endif

  bool host_visible() const override { return false; }
  // upload_weight (cuda/dequant.cu) keeps a dense weight in the GEMMs' precision.
  size_t dense_weight_bytes(int64_t n, Precision precision) const override {
    return static_cast<size_t>(n) * (precision == Precision::BF16 ? 2 : sizeof(float));
  }
  size_t scratch_bytes(const StepShape& s) const override {
    const bool bf16 = s.precision == Precision::BF16;
    const WorkspacePlan w =
        workspace_plan(s.tokens, s.max_in, s.max_out, s.max_weight, s.heads, s.lm_head_rows, s.vocab, bf16);
    // Only a 4-bit projection is dequantized into the weight buffer (a dense one is used in place);
    // the last double is Context::norm_acc, the gradient norm's sum of squares.
    return (s.quantized ? w.weight * (bf16 ? 2 : sizeof(float)) : 0) + w.act_cast * 2 + w.row_loss * sizeof(float) +
           w.attn_rowsum * sizeof(float) + w.cublas_bytes + sizeof(double);
  }
};

}  // namespace

const BackendReg& backend_reg() {
  static const CudaReg reg;
  return reg;
}

}  // namespace lp::cuda
