// Tests for cpu/rmsnorm.h: forward against a double reference, backward (dx, optional dweight)
// against central finite differences, overwrite vs accumulate.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cpu/rmsnorm.h"
#include "cpu_test_util.h"

namespace {

using namespace lp::cpu;
using namespace lp::cpu::testing;

TEST(CpuRmsNorm, ForwardMatchesReference) {
  const int N = 6, C = 37;
  const float eps = 1e-5f;
  const auto x = randn((size_t)N * C, 1, 2.0f), w = randu(C, 2, 0.5f, 1.5f);
  std::vector<float> out((size_t)N * C), rstd(N);
  rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, eps);
  std::vector<double> ref((size_t)N * C), ref_rstd(N);
  for (int n = 0; n < N; ++n) {
    double ss = 0;
    for (int c = 0; c < C; ++c) ss += (double)x[(size_t)n * C + c] * x[(size_t)n * C + c];
    ref_rstd[n] = 1.0 / std::sqrt(ss / C + eps);
    for (int c = 0; c < C; ++c) ref[(size_t)n * C + c] = w[c] * (x[(size_t)n * C + c] * ref_rstd[n]);
  }
  EXPECT_LT(max_rel_err(out, ref), 3e-7);
  EXPECT_LT(max_rel_err(rstd, ref_rstd), 3e-7);
  // In place.
  std::vector<float> y = x, r2(N);
  rmsnorm_forward(y.data(), r2.data(), y.data(), w.data(), N, C, eps);
  EXPECT_EQ(y, out);
}

TEST(CpuRmsNorm, BackwardMatchesFiniteDifferences) {
  const int N = 4, C = 29;
  const float eps = 1e-6f;
  auto x = randn((size_t)N * C, 3);
  auto w = randu(C, 4, 0.5f, 1.5f);
  const auto g = randn((size_t)N * C, 5);
  std::vector<float> out((size_t)N * C), rstd(N);
  auto loss = [&] {
    rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, eps);
    return dot(out, g);
  };
  loss();
  std::vector<float> dx((size_t)N * C, 7.0f), dw(C, 0.25f);
  rmsnorm_backward(dx.data(), dw.data(), g.data(), x.data(), w.data(), rstd.data(), N, C, false);
  for (auto& v : dw) v -= 0.25f;  // dweight accumulates
  expect_grad_fd("rmsnorm dx", x, dx, loss, 1e-2f, 3e-3);
  expect_grad_fd("rmsnorm dweight", w, dw, loss, 1e-2f, 3e-3);
  // accumulate == true adds onto dx; dweight == nullptr is allowed.
  std::vector<float> acc((size_t)N * C, 1.0f);
  rmsnorm_backward(acc.data(), nullptr, g.data(), x.data(), w.data(), rstd.data(), N, C, true);
  for (size_t i = 0; i < acc.size(); ++i) EXPECT_FLOAT_EQ(acc[i], 1.0f + dx[i]);
}

}  // namespace
