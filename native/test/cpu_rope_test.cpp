// Tests for cpu/rope.h: the rotate_half rotation against a direct reference (tables from
// model/rope_tables.h), and the backward as the exact transpose.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cpu/rope.h"
#include "cpu_test_util.h"
#include "model/rope_tables.h"

namespace {

using namespace lp::cpu;
using namespace lp::cpu::testing;

struct RopeFixture {
  int N = 5, H = 3, hd = 8;
  std::vector<int32_t> pos = {0, 1, 2, 0, 7};
  std::vector<float> cos, sin;
  RopeFixture() {
    std::vector<float> inv(hd / 2);
    lp::rope_inv_freq(inv.data(), hd, 10000.0);
    cos.resize((size_t)N * hd / 2);
    sin.resize((size_t)N * hd / 2);
    lp::rope_cos_sin(cos.data(), sin.data(), pos.data(), N, inv.data(), hd);
  }
};

TEST(CpuRope, ForwardIsHfRotateHalf) {
  RopeFixture f;
  const auto x = randn((size_t)f.N * f.H * f.hd, 1);
  std::vector<float> y(x.size());
  rope_forward(y.data(), x.data(), f.cos.data(), f.sin.data(), f.N, f.H, f.hd);
  const int half = f.hd / 2;
  for (int n = 0; n < f.N; ++n)
    for (int h = 0; h < f.H; ++h) {
      const float* xr = x.data() + ((size_t)n * f.H + h) * f.hd;
      const float* yr = y.data() + ((size_t)n * f.H + h) * f.hd;
      for (int d = 0; d < f.hd; ++d) {
        // emb = cat(freqs, freqs); rotate_half(x) = cat(-x[half:], x[:half])
        const float c = f.cos[(size_t)n * half + d % half], s = f.sin[(size_t)n * half + d % half];
        const float rot = d < half ? -xr[d + half] : xr[d - half];
        volatile float a = xr[d] * c, b = rot * s;  // two roundings, then the sum (no FMA)
        EXPECT_EQ(yr[d], a + b) << n << "," << h << "," << d;
      }
    }
  // In place gives the same result.
  std::vector<float> z = x;
  rope_forward(z.data(), z.data(), f.cos.data(), f.sin.data(), f.N, f.H, f.hd);
  EXPECT_EQ(z, y);
}

TEST(CpuRope, BackwardIsTransposeAndMatchesFiniteDifferences) {
  RopeFixture f;
  auto x = randn((size_t)f.N * f.H * f.hd, 2);
  const auto w = randn(x.size(), 3);
  std::vector<float> y(x.size()), dx(x.size());
  rope_backward(dx.data(), w.data(), f.cos.data(), f.sin.data(), f.N, f.H, f.hd);
  expect_grad_fd("rope dx", x, dx, [&] {
    rope_forward(y.data(), x.data(), f.cos.data(), f.sin.data(), f.N, f.H, f.hd);
    return dot(y, w);
  });
  // <R x, w> == <x, R^T w>
  rope_forward(y.data(), x.data(), f.cos.data(), f.sin.data(), f.N, f.H, f.hd);
  EXPECT_NEAR(dot(y, w), dot(x, dx), 1e-5 * x.size());
  // R^T R = I (rotation)
  std::vector<float> back(x.size());
  rope_backward(back.data(), y.data(), f.cos.data(), f.sin.data(), f.N, f.H, f.hd);
  EXPECT_LT(max_rel_err(back, x), 1e-6);
  // In place.
  std::vector<float> z = w;
  rope_backward(z.data(), z.data(), f.cos.data(), f.sin.data(), f.N, f.H, f.hd);
  EXPECT_EQ(z, dx);
}

}  // namespace
