// backend/select.h: which backend a model runs on. LoadOptions::backend (the addon's `backend`
// option, LORAPLANE_BACKEND in the TypeScript API) asks for cpu, cuda or auto; auto takes cuda when
// it is compiled in and a device answers, else cpu, and says why; the backends themselves come from
// the registry (backend/registry.h). Provides parse_precision, parse_backend_kind, compiled_backends,
// choose_backend (the pure decision) and make_backend.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "backend/registry.h"

namespace lp {

Precision parse_precision(std::string_view name, std::string_view context);       // "bf16" | "fp32"
BackendKind parse_backend_kind(std::string_view name, std::string_view context);  // "auto" | "cpu" | "cuda"
const char* backend_kind_name(BackendKind k);

// The backends this build contains: {"cpu"} or {"cpu", "cuda"}.
std::vector<std::string> compiled_backends();

struct BackendChoice {
  BackendKind kind = BackendKind::Cpu;
  std::string note;  // why, when it is not simply what was asked for (empty otherwise)
};

// cudaGetDeviceCount through the CUDA backend's registry entry; {0, ""} in a build without it.
DeviceProbe probe_cuda_devices();

// requested + what the build has + what the probe saw -> the backend to make. Throws lp::Error when
// cuda is asked for explicitly and cannot be had (not compiled, or no device), naming the reason.
BackendChoice choose_backend(BackendKind requested, bool cuda_compiled, const DeviceProbe& probe);

// choose_backend with the real probe, then the backend itself. A non-empty note goes to `log`
// (stderr, once per process, when log is empty), e.g. "loraplane: backend auto: no CUDA device (cudaGetDeviceCount:
// CUDA driver version is insufficient for CUDA runtime version); using cpu".
std::unique_ptr<Backend> make_backend(BackendKind requested, Precision precision = Precision::BF16,
                                      const std::function<void(const std::string&)>& log = {});

}  // namespace lp
