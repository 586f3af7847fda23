// backend/registry.h: the backends this program knows, one BackendReg per implementation, listed by
// backend/registry.cpp the way ggml's registry lists its backends (explicitly: a static library drops
// self-registering objects nobody references). Everything outside cpu/ and cuda/ reaches a backend
// through its entry: select.cpp makes one by kind and availability, the memory estimate asks an entry
// what its memory holds. Provides BackendKind, Precision, DeviceProbe, StepShape, BackendReg,
// backend_registry and registered_backend.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace lp {

enum class BackendKind { Auto, Cpu, Cuda };

// The precision of a backend's GEMMs: bf16 with fp32 accumulation (the default), or fp32 throughout (the
// tight parity checks). What each backend rounds to bf16: cpu/backend.h, cuda/context.h.
enum class Precision { BF16, F32 };

// What a device probe found: devices > 0, or the error that made it fail (cudaGetDeviceCount's message).
struct DeviceProbe {
  int devices = 0;
  std::string error;  // empty when the call succeeded
};

// The shapes of one training step that a backend's own scratch depends on.
struct StepShape {
  int64_t tokens = 0;                               // N = B*T
  int64_t max_in = 0, max_out = 0, max_weight = 0;  // the widest projection's in and out, the largest out*in
  int heads = 0;                                    // NH
  int lm_head_rows = 0;                             // rows of one lm_head + cross-entropy chunk
  int64_t vocab = 0;                                // V
  bool quantized = true;                            // projections are 4-bit, dequantized per use
  Precision precision = Precision::BF16;
};

// One backend implementation: how to make it, and what it holds, known without making it.
class BackendReg {
 public:
  virtual ~BackendReg() = default;
  virtual const char* name() const = 0;  // "cpu", "cuda"; Backend::name() of what make() returns
  virtual BackendKind kind() const = 0;
  // Whether this build contains the backend (cuda: nvcc was found). probe and make need it.
  virtual bool compiled() const = 0;
  // Devices that answer now; {0, ""} when not compiled.
  virtual DeviceProbe probe() const = 0;
  // A new backend. Throws lp::Error naming the reason when it is not compiled or its device cannot be used.
  virtual std::unique_ptr<Backend> make(Precision precision) const = 0;

  // Memory (model/memory_estimate.cpp). Known in every build, so a GPU run can be sized anywhere.
  // Backend::host_visible: true when the model's host tensors are used in place (its frozen weights
  // and LoRA tensors then take none of this backend's memory).
  virtual bool host_visible() const = 0;
  // Bytes this backend holds for a dense frozen weight of n elements (0 when it reads the host copy).
  virtual size_t dense_weight_bytes(int64_t n, Precision precision) const = 0;
  // Bytes of the backend's own scratch during a training step of these shapes.
  virtual size_t scratch_bytes(const StepShape& s) const = 0;
};

// Every backend this program knows, compiled in or not: cpu, then cuda.
const std::vector<const BackendReg*>& backend_registry();
// The entry of kind cpu or cuda (auto is a choice among entries: backend/select.h).
const BackendReg& registered_backend(BackendKind kind);

}  // namespace lp
