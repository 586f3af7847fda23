// Tests for cpu/swiglu.h: forward against silu(g) * u in double, backward against central finite
// differences and the closed form, in-place use, and saturation at large |gate|.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cpu/swiglu.h"
#include "cpu_test_util.h"

namespace {

using namespace lp::cpu;
using namespace lp::cpu::testing;

TEST(CpuSwiGlu, ForwardMatchesReference) {
  const int n = 1000;
  auto g = randn(n, 1, 3.0f);
  g[0] = 95.0f;
  g[1] = -95.0f;
  g[2] = 0.0f;
  const auto u = randn(n, 2);
  std::vector<float> out(n);
  swiglu_forward(out.data(), g.data(), u.data(), n);
  std::vector<double> ref(n);
  for (int i = 0; i < n; ++i) ref[i] = g[i] / (1.0 + std::exp(-(double)g[i])) * u[i];
  for (int i = 0; i < n; ++i) EXPECT_NEAR(out[i], ref[i], 4e-7 * std::fabs(ref[i]) + 1e-30) << "g=" << g[i];
  std::vector<float> inplace = g;
  swiglu_forward(inplace.data(), inplace.data(), u.data(), n);
  EXPECT_EQ(inplace, out);
}

TEST(CpuSwiGlu, BackwardMatchesFiniteDifferencesAndClosedForm) {
  const int n = 300;
  auto g = randn(n, 3, 2.0f), u = randn(n, 4);
  const auto w = randn(n, 5);
  std::vector<float> out(n), dg(n), du(n);
  swiglu_backward(dg.data(), du.data(), w.data(), g.data(), u.data(), n);
  auto loss = [&] {
    swiglu_forward(out.data(), g.data(), u.data(), n);
    return dot(out, w);
  };
  expect_grad_fd("swiglu dgate", g, dg, loss, 1e-2f, 2e-3);
  expect_grad_fd("swiglu dup", u, du, loss, 1e-2f, 2e-3);
  for (int i = 0; i < n; ++i) {
    const double s = 1.0 / (1.0 + std::exp(-(double)g[i]));
    EXPECT_NEAR(dg[i], w[i] * u[i] * s * (1 + g[i] * (1 - s)), 1e-6 * (std::fabs(w[i] * u[i]) + 1));
    EXPECT_NEAR(du[i], w[i] * g[i] * s, 1e-6 * (std::fabs(w[i] * g[i]) + 1));
  }
  // In place: dgate over gate, dup over up.
  std::vector<float> g2 = g, u2 = u;
  swiglu_backward(g2.data(), u2.data(), w.data(), g2.data(), u2.data(), n);
  EXPECT_EQ(g2, dg);
  EXPECT_EQ(u2, du);
}

}  // namespace
