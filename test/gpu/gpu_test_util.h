// Helpers for the GPU suites (loraplane_gpu_tests, run by test/gpu/run-on-gpu.sh on a machine with a
// GPU): the CPU backend and the CUDA backend in both precisions, fresh random inputs per run (the seed
// is printed; LORAPLANE_GPU_TEST_SEED replays one), buffers filled on each backend, and the error
// measure: max |cuda - cpu| / max |cpu| over a tensor.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "backend/buffer.h"
#include "cpu/backend.h"
#include "cuda/backend.h"

namespace lp::gpu_testing {

// bf16 paths: relative error under 1e-2; fp32 paths: under 1e-4 (the bounds).
constexpr double kBf16Tol = 1e-2, kFp32Tol = 1e-4;

inline uint32_t run_seed() {
  static const uint32_t seed = [] {
    const char* env = std::getenv("LORAPLANE_GPU_TEST_SEED");
    const uint32_t s = env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : std::random_device{}();
    std::printf("[gpu tests] random seed %u (LORAPLANE_GPU_TEST_SEED=%u replays it)\n", s, s);
    return s;
  }();
  return seed;
}

// A fresh stream of random numbers per call site: the run seed mixed with a tag.
inline std::vector<float> randn(size_t n, uint32_t tag, float scale = 1.f) {
  std::mt19937 g(run_seed() ^ (tag * 2654435761u));
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

inline double rel_err(const std::vector<float>& a, const std::vector<float>& ref) {
  EXPECT_EQ(a.size(), ref.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < std::min(a.size(), ref.size()); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - ref[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(ref[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

// The three backends every op is compared on.
struct Backends {
  std::unique_ptr<Backend> cpu = cpu::make_cpu_backend();
  std::unique_ptr<Backend> f32 = cuda::make_cuda_backend(Precision::F32);
  std::unique_ptr<Backend> bf16 = cuda::make_cuda_backend(Precision::BF16);
};

// A host vector copied into a backend.
template <typename T>
Buffer<T> on(Backend& be, const std::vector<T>& host) {
  Buffer<T> b(&be);
  b.upload(host);
  return b;
}
template <typename T>
Buffer<T> zeros(Backend& be, size_t n) {
  Buffer<T> b(&be);
  b.resize(n);
  return b;
}

// Prints and checks one comparison.
inline void expect_close(const char* what, const std::vector<float>& got, const std::vector<float>& ref, double tol) {
  const double e = rel_err(got, ref);
  std::printf("[gpu] %-44s rel err %.3g (bound %.0e)\n", what, e, tol);
  EXPECT_LT(e, tol) << what;
}

}  // namespace lp::gpu_testing
