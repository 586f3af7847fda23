// Backend choice (backend/select.h): what auto, cpu and cuda give for each build and probe result,
// the log line of a fallback, the names; the registry's entries (backend/registry.h); and a real
// make_backend in this build.
#include <gtest/gtest.h>

#include <string>

#include "backend/registry.h"
#include "backend/select.h"
#include "core/check.h"

namespace lp {
namespace {

TEST(BackendSelect, ParsesTheThreeNamesAndRejectsOthers) {
  EXPECT_EQ(parse_backend_kind("auto", "backend"), BackendKind::Auto);
  EXPECT_EQ(parse_backend_kind("cpu", "backend"), BackendKind::Cpu);
  EXPECT_EQ(parse_backend_kind("cuda", "backend"), BackendKind::Cuda);
  try {
    parse_backend_kind("gpu", "LORAPLANE_BACKEND");
    FAIL() << "gpu was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Expected auto, cpu or cuda for LORAPLANE_BACKEND but received \"gpu\"");
  }
  EXPECT_STREQ(backend_kind_name(BackendKind::Cuda), "cuda");
  EXPECT_EQ(parse_precision("fp32", "precision"), Precision::F32);
  EXPECT_EQ(parse_precision("bf16", "precision"), Precision::BF16);
  EXPECT_THROW(parse_precision("fp16", "precision"), Error);
}

TEST(BackendSelect, CpuIsAlwaysCpuWithoutANote) {
  for (bool compiled : {false, true}) {
    const BackendChoice c = choose_backend(BackendKind::Cpu, compiled, DeviceProbe{1, ""});
    EXPECT_EQ(c.kind, BackendKind::Cpu);
    EXPECT_EQ(c.note, "");
  }
}

TEST(BackendSelect, AutoTakesCudaWhenCompiledAndADeviceAnswers) {
  const BackendChoice c = choose_backend(BackendKind::Auto, true, DeviceProbe{2, ""});
  EXPECT_EQ(c.kind, BackendKind::Cuda);
  EXPECT_EQ(c.note, "");
}

TEST(BackendSelect, AutoFallsBackToCpuAndSaysWhy) {
  // A CPU-only build: the ordinary case, silent.
  EXPECT_EQ(choose_backend(BackendKind::Auto, false, DeviceProbe{}).note, "");
  // A CUDA build on a machine without a driver.
  const BackendChoice c = choose_backend(
      BackendKind::Auto, true, DeviceProbe{0, "CUDA driver version is insufficient for CUDA runtime version"});
  EXPECT_EQ(c.kind, BackendKind::Cpu);
  EXPECT_EQ(c.note,
            "loraplane: backend auto: no CUDA device (cudaGetDeviceCount: CUDA driver version is insufficient for CUDA "
            "runtime version); using cpu");
  EXPECT_EQ(choose_backend(BackendKind::Auto, true, DeviceProbe{0, ""}).note,
            "loraplane: backend auto: no CUDA device (cudaGetDeviceCount found 0); using cpu");
}

TEST(BackendSelect, ExplicitCudaThatCannotBeHadIsAnError) {
  EXPECT_THROW(
      {
        try {
          choose_backend(BackendKind::Cuda, false, DeviceProbe{});
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("backend cuda was asked for but this build has no CUDA backend"),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
  EXPECT_THROW(choose_backend(BackendKind::Cuda, true, DeviceProbe{0, "no CUDA-capable device is detected"}), Error);
  EXPECT_EQ(choose_backend(BackendKind::Cuda, true, DeviceProbe{1, ""}).kind, BackendKind::Cuda);
}

// Every build lists cpu and cuda (cuda's memory is planned even where it is not compiled); what an
// entry makes is the backend it names.
TEST(BackendSelect, TheRegistryListsCpuThenCuda) {
  const auto& regs = backend_registry();
  ASSERT_EQ(regs.size(), 2u);
  EXPECT_STREQ(regs[0]->name(), "cpu");
  EXPECT_STREQ(regs[1]->name(), "cuda");
  for (BackendKind k : {BackendKind::Cpu, BackendKind::Cuda}) {
    EXPECT_EQ(registered_backend(k).kind(), k);
    EXPECT_STREQ(registered_backend(k).name(), backend_kind_name(k));
  }
  EXPECT_THROW(registered_backend(BackendKind::Auto), Error);
  const BackendReg& cpu = registered_backend(BackendKind::Cpu);
  EXPECT_TRUE(cpu.compiled());
  EXPECT_TRUE(cpu.host_visible());
  EXPECT_STREQ(cpu.make(Precision::BF16)->name(), "cpu");
  const BackendReg& cuda = registered_backend(BackendKind::Cuda);
  EXPECT_FALSE(cuda.host_visible());
  EXPECT_EQ(cuda.dense_weight_bytes(10, Precision::BF16), 20u);
  EXPECT_EQ(cuda.dense_weight_bytes(10, Precision::F32), 40u);
  if (!cuda.compiled()) {
    EXPECT_EQ(cuda.probe().devices, 0);
    EXPECT_THROW(cuda.make(Precision::BF16), Error);
  }
}

// The real thing in this build: cpu on request; auto gives a backend whose name is what the probe implies,
// and a fallback in a CUDA build is logged through the given sink, not printed.
TEST(BackendSelect, MakeBackendFollowsTheProbe) {
  EXPECT_STREQ(make_backend(BackendKind::Cpu)->name(), "cpu");
  const bool cuda_compiled = compiled_backends().size() == 2;
  const DeviceProbe probe = probe_cuda_devices();
  std::string logged;
  const auto be = make_backend(BackendKind::Auto, Precision::BF16, [&](const std::string& line) { logged = line; });
  const BackendChoice expect = choose_backend(BackendKind::Auto, cuda_compiled, probe);
  EXPECT_STREQ(be->name(), backend_kind_name(expect.kind));
  EXPECT_EQ(logged, expect.note);
  if (!cuda_compiled) EXPECT_EQ(compiled_backends(), std::vector<std::string>{"cpu"});
  // A CUDA build on a machine without a usable GPU (CI): cpu, and a line that says why.
  if (cuda_compiled && probe.devices == 0) {
    EXPECT_STREQ(be->name(), "cpu");
    EXPECT_EQ(logged.rfind("loraplane: backend auto: no CUDA device (cudaGetDeviceCount", 0), 0u) << logged;
  }
}

}  // namespace
}  // namespace lp
