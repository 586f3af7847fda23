// Helpers for the cpu_* tests: seeded random buffers, max relative error, and central finite
// differences of a scalar loss evaluated in fp32 ops with a double accumulator.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace lp::cpu::testing {

inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

inline std::vector<float> randu(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// max_i |a_i - b_i| / max(max_i |b_i|, floor): error relative to the reference's scale.
template <typename A, typename B>
double max_rel_err(const std::vector<A>& a, const std::vector<B>& b, double floor = 1e-30) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0.0, ref = floor;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, std::fabs((double)a[i] - (double)b[i]));
    ref = std::max(ref, std::fabs((double)b[i]));
  }
  return diff / ref;
}

// Weighted sum of an fp32 output in double: the scalar loss the finite differences differentiate.
inline double dot(const std::vector<float>& y, const std::vector<float>& w) {
  double s = 0.0;
  for (size_t i = 0; i < y.size(); ++i) s += (double)y[i] * (double)w[i];
  return s;
}

// Checks analytic[i] against (loss(x + h e_i) - loss(x - h e_i)) / 2h for up to `samples` indices
// of x spread over the buffer (perturbing x in place and restoring it). The tolerance is relative
// to the largest analytic entry: |fd - an| <= tol * max|an| + atol.
inline void expect_grad_fd(const char* what, std::vector<float>& x, const std::vector<float>& analytic,
                           const std::function<double()>& loss, float h = 1e-2f, double tol = 2e-3, double atol = 0.0,
                           int samples = 48) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  double scale = 0.0;
  for (float a : analytic) scale = std::max(scale, (double)std::fabs(a));
  const size_t n = x.size();
  const size_t stride = std::max<size_t>(1, n / samples);
  for (size_t i = 0; i < n; i += stride) {
    const float x0 = x[i];
    x[i] = x0 + h;
    const double lp = loss();
    x[i] = x0 - h;
    const double lm = loss();
    x[i] = x0;
    // divide by the step actually taken after fp32 rounding of x0 +- h
    const double fd = (lp - lm) / ((double)(x0 + h) - (double)(x0 - h));
    EXPECT_NEAR(fd, analytic[i], tol * scale + atol) << what << " index " << i;
  }
}

}  // namespace lp::cpu::testing
