// Tests for cpu/gemm.h: every transpose combination, odd and block-crossing sizes, alpha/beta
// semantics, leading dimensions, and the threaded, serial and dispatching entry points against a
// double-precision reference.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/check.h"
#include "cpu/gemm.h"
#include "cpu_test_util.h"

namespace {

using namespace lp::cpu;
using lp::cpu::testing::randn;

using GemmFn = void (*)(bool, bool, int, int, int, float, const float*, int, const float*, int, float, float*, int);

struct Case {
  int M, N, K;
};

// C_ref = alpha op(A) op(B) + beta C0 in double.
std::vector<double> reference(bool ta, bool tb, int M, int N, int K, float alpha, const std::vector<float>& A, int lda,
                              const std::vector<float>& B, int ldb, float beta, const std::vector<float>& C0, int ldc) {
  std::vector<double> C((size_t)M * ldc);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0.0;
      for (int p = 0; p < K; ++p) {
        const double a = ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
        const double b = tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
        s += a * b;
      }
      C[(size_t)i * ldc + j] = alpha * s + (beta == 0.0f ? 0.0 : beta * (double)C0[(size_t)i * ldc + j]);
    }
  return C;
}

void run_case(GemmFn fn, const char* name, bool ta, bool tb, Case c, float alpha, float beta, int pad) {
  const int M = c.M, N = c.N, K = c.K;
  const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  const auto A = randn((size_t)(ta ? K : M) * lda + 1, 1 + M);
  const auto B = randn((size_t)(tb ? N : K) * ldb + 1, 2 + N);
  auto C = randn((size_t)M * ldc, 3 + K);
  if (beta == 0.0f)  // beta == 0 must not read C: poison it
    for (auto& x : C) x = std::numeric_limits<float>::quiet_NaN();
  const auto C0 = C;
  fn(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  const auto ref = reference(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc);
  double worst = 0.0;
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      const double r = ref[(size_t)i * ldc + j];
      const double got = C[(size_t)i * ldc + j];
      // fp32 accumulation error grows like sqrt(K) eps * |a||b|; entries are N(0, K)-sized.
      const double tol = 1e-5 * std::sqrt((double)K + 1) * (std::fabs(alpha) * std::sqrt((double)K) + 1.0);
      ASSERT_FALSE(std::isnan(got)) << name << " NaN at " << i << "," << j;
      worst = std::max(worst, std::fabs(got - r) / tol);
    }
    for (int j = N; j < ldc; ++j)  // padding columns untouched
      ASSERT_EQ(std::isnan(C[(size_t)i * ldc + j]), std::isnan(C0[(size_t)i * ldc + j]));
  }
  EXPECT_LE(worst, 1.0) << name << " ta=" << ta << " tb=" << tb << " M=" << M << " N=" << N << " K=" << K
                        << " alpha=" << alpha << " beta=" << beta << " pad=" << pad;
}

const Case kCases[] = {
    {1, 1, 1},       {1, 17, 5},    {7, 1, 3},      {5, 9, 1}, {13, 31, 33},
    {33, 47, 65},    {70, 37, 129}, {130, 45, 257},  // crosses the 128-row A block and the 256-deep K slice
    {9, 2100, 70},                                   // crosses the 2048-column B panel
    {200, 300, 257},                                 // large enough for the threaded path
};

void all_cases(GemmFn fn, const char* name) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const Case& c : kCases) run_case(fn, name, ta, tb, c, 1.0f, 0.0f, 0);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      run_case(fn, name, ta, tb, {37, 41, 43}, 0.5f, 1.0f, 3);
      run_case(fn, name, ta, tb, {37, 41, 43}, -1.25f, 0.75f, 1);
      run_case(fn, name, ta, tb, {150, 70, 300}, 2.0f, 1.0f, 5);
    }
}

TEST(CpuGemm, BuiltinMatchesReferenceAllTransposes) { all_cases(sgemm_builtin, "sgemm_builtin"); }

TEST(CpuGemm, SerialMatchesReferenceAllTransposes) { all_cases(sgemm_serial, "sgemm_serial"); }

TEST(CpuGemm, DispatchMatchesReferenceAllTransposes) { all_cases(sgemm, "sgemm"); }

TEST(CpuGemm, KZeroScalesC) {
  for (GemmFn fn : {(GemmFn)sgemm, (GemmFn)sgemm_builtin}) {
    std::vector<float> C = {1, 2, 3, 4, 5, 6};
    float dummy = 0;
    fn(false, false, 2, 3, 0, 1.0f, &dummy, 1, &dummy, 3, 0.5f, C.data(), 3);
    EXPECT_EQ(C, (std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3}));
    fn(false, false, 2, 3, 0, 1.0f, &dummy, 1, &dummy, 3, 0.0f, C.data(), 3);
    EXPECT_EQ(C, std::vector<float>(6, 0.0f));
  }
}

TEST(CpuGemm, SerialIsSafeInsideParallelRegion) {
  const int M = 40, N = 33, K = 70, R = 8;
  const auto A = randn((size_t)M * K, 11), B = randn((size_t)K * N, 12);
  std::vector<float> C((size_t)R * M * N);
#pragma omp parallel for
  for (int r = 0; r < R; ++r)
    sgemm_serial(false, false, M, N, K, (float)(r + 1), A.data(), K, B.data(), N, 0.0f, C.data() + (size_t)r * M * N,
                 N);
  const std::vector<float> C0(C.begin(), C.begin() + (size_t)M * N);
  for (int r = 1; r < R; ++r)
    for (size_t i = 0; i < (size_t)M * N; ++i) ASSERT_FLOAT_EQ(C[(size_t)r * M * N + i], C0[i] * (float)(r + 1));
}

TEST(CpuGemm, RejectsBadLeadingDimensions) {
  std::vector<float> A(16), B(16), C(16);
  EXPECT_THROW(sgemm(false, false, 4, 4, 4, 1.0f, A.data(), 3, B.data(), 4, 0.0f, C.data(), 4), lp::Error);
  EXPECT_THROW(sgemm_builtin(false, true, 4, 4, 4, 1.0f, A.data(), 4, B.data(), 3, 0.0f, C.data(), 4), lp::Error);
  EXPECT_THROW(sgemm_builtin(false, false, 4, 4, 4, 1.0f, A.data(), 4, B.data(), 4, 0.0f, C.data(), 3), lp::Error);
}

TEST(CpuGemm, ReportsBackend) {
  const std::string name = gemm_backend_name();
  const std::string builtin = gemm_builtin_name();
  EXPECT_EQ(builtin.rfind("builtin-", 0), 0u);
#ifdef LORAPLANE_HAVE_CBLAS
  EXPECT_EQ(name, "openblas");
#else
  EXPECT_EQ(name, builtin);
#endif
}

}  // namespace
