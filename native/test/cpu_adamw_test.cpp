// Tests for cpu/adamw.h: two AdamW steps against a hand-computed example (torch.optim.AdamW's
// formulas in double), with and without weight decay; global grad norm and clip_grad_norm_.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "cpu/adamw.h"
#include "cpu_test_util.h"

namespace {

using namespace lp::cpu;

// lr 0.1, betas (0.9, 0.999), eps 1e-8; p0 and two gradients per element. Expected values worked
// out in double from torch's update (first element, step 1, weight_decay 0.01):
//   p = 1 * (1 - 0.1 * 0.01) = 0.999;  m = 0.1 * 0.5 = 0.05;  v = 0.001 * 0.25 = 0.00025
//   denom = sqrt(0.00025) / sqrt(1 - 0.999) + 1e-8 = 0.50000001
//   p = 0.999 - (0.1 / (1 - 0.9)) * 0.05 / 0.50000001 = 0.899000002
// The third element has a zero first gradient: m = v = 0, so the step only decays it.
const std::vector<float> kP0 = {1.0f, -0.5f, 0.25f, 2.0f};
const std::vector<float> kG1 = {0.5f, -0.25f, 0.0f, 0x1p-10f};  // inputs exact in fp32
const std::vector<float> kG2 = {-0.25f, 0.75f, 0.5f, 0x1p-10f};

struct Expected {
  double wd;
  std::vector<double> p1, p2, m2, v2;
};

const Expected kExpected[] = {
    {0.01,
     {0.899000002, -0.399500004, 0.24975, 1.898001024},
     {0.8714672987, -0.4485194864, 0.1750865697, 1.796104047},
     {0.02, 0.0525, 0.05, 0.000185546875},
     {0.00031225, 0.0006249375, 0.00025, 1.906394958e-09}},
    {0.0,
     {0.900000002, -0.400000004, 0.25, 1.900001024},
     {0.8733662987, -0.4494189864, 0.1755863197, 1.800002048},
     {0.02, 0.0525, 0.05, 0.000185546875},
     {0.00031225, 0.0006249375, 0.00025, 1.906394958e-09}},
};

TEST(CpuAdamW, TwoStepsMatchHandComputedExample) {
  for (const Expected& e : kExpected) {
    std::vector<float> p = kP0, m(4, 0.0f), v(4, 0.0f);
    adamw_step(p.data(), kG1.data(), m.data(), v.data(), 4, 1, 0.1, 0.9, 0.999, 1e-8, e.wd);
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(p[i], e.p1[i], 2e-7 * std::fabs(e.p1[i])) << "wd=" << e.wd << " step 1 i=" << i;
    adamw_step(p.data(), kG2.data(), m.data(), v.data(), 4, 2, 0.1, 0.9, 0.999, 1e-8, e.wd);
    for (int i = 0; i < 4; ++i) {
      EXPECT_NEAR(p[i], e.p2[i], 5e-7 * std::fabs(e.p2[i])) << "wd=" << e.wd << " step 2 i=" << i;
      EXPECT_NEAR(m[i], e.m2[i], 2e-7 * std::fabs(e.m2[i])) << "m i=" << i;
      EXPECT_NEAR(v[i], e.v2[i], 2e-7 * std::fabs(e.v2[i])) << "v i=" << i;
    }
  }
}

TEST(CpuAdamW, LargeBufferMatchesSmallOnes) {
  // The threaded path gives the same per-element result as element-by-element calls.
  const int64_t n = 200000;
  auto p = lp::cpu::testing::randn(n, 1), g = lp::cpu::testing::randn(n, 2);
  std::vector<float> m(n, 0.0f), v(n, 0.0f), p2 = p, m2 = m, v2 = v;
  adamw_step(p.data(), g.data(), m.data(), v.data(), n, 3, 2e-4, 0.9, 0.999, 1e-8, 0.1);
  for (int64_t i = 0; i < n; i += 997) {
    adamw_step(&p2[i], &g[i], &m2[i], &v2[i], 1, 3, 2e-4, 0.9, 0.999, 1e-8, 0.1);
    EXPECT_EQ(p[i], p2[i]);
    EXPECT_EQ(m[i], m2[i]);
    EXPECT_EQ(v[i], v2[i]);
  }
  EXPECT_THROW(adamw_step(p.data(), g.data(), m.data(), v.data(), n, 0, 1e-4, 0.9, 0.999, 1e-8, 0.0), lp::Error);
}

TEST(CpuAdamW, GlobalNormAndClipping) {
  std::vector<float> a = {3.0f, 4.0f}, b = {12.0f};
  float* bufs[] = {a.data(), b.data()};
  const float* cbufs[] = {a.data(), b.data()};
  const int64_t sizes[] = {2, 1};
  EXPECT_DOUBLE_EQ(grad_global_norm(cbufs, sizes, 2), 13.0);
  // max_norm above the norm: untouched.
  EXPECT_FLOAT_EQ(clip_grad_norm(bufs, sizes, 2, 100.0), 13.0f);
  EXPECT_EQ(a, (std::vector<float>{3.0f, 4.0f}));
  // max_norm 1: scaled by 1 / (13 + 1e-6); the returned norm is the one before clipping.
  EXPECT_FLOAT_EQ(clip_grad_norm(bufs, sizes, 2, 1.0), 13.0f);
  const double coef = 1.0 / (13.0 + 1e-6);
  EXPECT_NEAR(a[0], 3.0 * coef, 1e-7);
  EXPECT_NEAR(a[1], 4.0 * coef, 1e-7);
  EXPECT_NEAR(b[0], 12.0 * coef, 1e-7);
  const float* after[] = {a.data(), b.data()};
  EXPECT_NEAR(grad_global_norm(after, sizes, 2), 1.0, 1e-6);
}

TEST(CpuAdamW, GlobalNormOfLargeBuffers) {
  const int64_t n1 = 300001, n2 = 77;
  const auto g1 = lp::cpu::testing::randn(n1, 5), g2 = lp::cpu::testing::randn(n2, 6);
  double ref = 0.0;
  for (float x : g1) ref += (double)x * x;
  for (float x : g2) ref += (double)x * x;
  const float* bufs[] = {g1.data(), g2.data()};
  const int64_t sizes[] = {n1, n2};
  EXPECT_NEAR(grad_global_norm(bufs, sizes, 2), std::sqrt(ref), 1e-12 * std::sqrt(ref));
}

}  // namespace
