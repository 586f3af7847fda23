// backend/select.cpp: backend choice and construction (see select.h).
#include "backend/select.h"

#include <atomic>
#include <cstdio>

#include "core/check.h"

namespace lp {

BackendKind parse_backend_kind(std::string_view name, std::string_view context) {
  if (name == "auto") return BackendKind::Auto;
  if (name == "cpu") return BackendKind::Cpu;
  if (name == "cuda") return BackendKind::Cuda;
  throw Error("Expected auto, cpu or cuda for " + std::string(context) + " but received \"" + std::string(name) + "\"");
}

Precision parse_precision(std::string_view name, std::string_view context) {
  if (name == "bf16") return Precision::BF16;
  if (name == "fp32") return Precision::F32;
  throw Error("Expected bf16 or fp32 for " + std::string(context) + " but received \"" + std::string(name) + "\"");
}

const char* backend_kind_name(BackendKind k) {
  switch (k) {
    case BackendKind::Auto:
      return "auto";
    case BackendKind::Cpu:
      return "cpu";
    case BackendKind::Cuda:
      return "cuda";
  }
  return "?";
}

std::vector<std::string> compiled_backends() {
  std::vector<std::string> names;
  for (const BackendReg* r : backend_registry())
    if (r->compiled()) names.emplace_back(r->name());
  return names;
}

BackendChoice choose_backend(BackendKind requested, bool cuda_compiled, const DeviceProbe& probe) {
  if (requested == BackendKind::Cpu) return {BackendKind::Cpu, ""};
  const std::string missing = !cuda_compiled ? "this build has no CUDA backend (nvcc was not found when it was built)"
                              : !probe.error.empty() ? "no CUDA device (cudaGetDeviceCount: " + probe.error + ")"
                              : probe.devices <= 0   ? "no CUDA device (cudaGetDeviceCount found 0)"
                                                     : "";
  if (requested == BackendKind::Cuda) {
    LP_CHECK(missing.empty(), "backend cuda was asked for but " << missing);
    return {BackendKind::Cuda, ""};
  }
  if (missing.empty()) return {BackendKind::Cuda, ""};
  // A CPU-only build under auto is the ordinary case: nothing to report.
  return {BackendKind::Cpu, cuda_compiled ? "loraplane: backend auto: " + missing + "; using cpu" : ""};
}

DeviceProbe probe_cuda_devices() { return registered_backend(BackendKind::Cuda).probe(); }

std::unique_ptr<Backend> make_backend(BackendKind requested, Precision precision,
                                      const std::function<void(const std::string&)>& log) {
  const BackendReg& cuda = registered_backend(BackendKind::Cuda);
  const DeviceProbe probe = requested == BackendKind::Cpu ? DeviceProbe{} : cuda.probe();
  const BackendChoice choice = choose_backend(requested, cuda.compiled(), probe);
  if (!choice.note.empty()) {
    static std::atomic<bool> printed{false};  // stderr hears it once per process, not once per model
    if (log)
      log(choice.note);
    else if (!printed.exchange(true))
      std::fprintf(stderr, "%s\n", choice.note.c_str());
  }
  return registered_backend(choice.kind).make(precision);
}

}  // namespace lp
