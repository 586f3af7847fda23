// Tests for cpu/bf16.h (round_bf16 against the values torch's .to(torch.bfloat16) gives) and the bf16
// pair of cpu/linear.h. The linear tests use operands whose products and sums are exact in fp32
// (multiples of 1/8 times multiples of 1/16, few significant bits), so the GEMM's summation order
// cannot matter and every output must equal the stated formula bit for bit: the roundings of x, dy, the
// output and the bias are each visible (the activations carry a small part that the rounding removes).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/bf16.h"
#include "cpu/linear.h"
#include "cpu_test_util.h"

namespace {

using namespace lp::cpu;

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

TEST(CpuBf16, RoundsAsTorch) {
  // (fp32 bits, torch.tensor(x).to(torch.bfloat16).float() bits), from torch 2.15.
  const uint32_t cases[][2] = {
      {0x3F800000, 0x3F800000},                            // 1
      {0x3F808000, 0x3F800000},                            // 1 + 2^-8: a tie, to the even 1
      {0x3F818000, 0x3F820000},                            // 1 + 3 * 2^-8: a tie, to the even 1 + 2^-6
      {0x3F808001, 0x3F810000},                            // just past the tie: up
      {0x3F80FFFF, 0x3F810000}, {0xBF808000, 0xBF800000},  // negative tie
      {0x40490FDB, 0x40490000},                            // pi
      {0x7F7FFFFF, 0x7F800000},                            // the largest float rounds to inf
      {0x7F7F7FFF, 0x7F7F0000}, {0x80000000, 0x80000000},  // -0
      {0x7F800000, 0x7F800000},                            // inf
      {0xFF800000, 0xFF800000},                            // -inf
      {0x00018000, 0x00020000},                            // a subnormal tie, to even
  };
  for (const auto& c : cases) EXPECT_EQ(bits(round_bf16(from_bits(c[0]))), c[1]) << std::hex << c[0];
  EXPECT_TRUE(std::isnan(round_bf16(from_bits(0x7FA00000))));  // signalling NaN
  EXPECT_TRUE(std::isnan(round_bf16(from_bits(0xFFC00001))));
}

TEST(CpuBf16, ArrayRoundingEqualsScalarInPlaceAndNot) {
  const size_t n = (1 << 17) + 3;  // past the OpenMP threshold
  const std::vector<float> x = lp::cpu::testing::randn(n, 11, 100.0f);
  std::vector<float> out(n), inplace = x;
  round_bf16(out.data(), x.data(), static_cast<int64_t>(n));
  round_bf16(inplace.data(), inplace.data(), static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(bits(out[i]), bits(round_bf16(x[i]))) << i;
    ASSERT_EQ(bits(inplace[i]), bits(out[i])) << i;
    ASSERT_EQ(bits(out[i]) & 0xFFFFu, 0u) << i;
  }
}

// Activations k/8 (|k| <= kmax, bf16-exact) plus a part below half a bf16 ulp that the rounding removes
// (none on 0, whose rounding would keep it); weights j/16 (|j| <= jmax).
struct Exact {
  std::vector<float> act, act_rounded, w;
};
Exact exact_operands(size_t n_act, size_t n_w, int kmax, int jmax, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> k(-kmax, kmax), j(-jmax, jmax);
  Exact e;
  for (size_t i = 0; i < n_act; ++i) {
    const float v = static_cast<float>(k(g)) / 8.0f;
    e.act_rounded.push_back(v);
    e.act.push_back(v + v * 0x1p-11f * static_cast<float>(1 + i % 3));
  }
  for (size_t i = 0; i < n_w; ++i) e.w.push_back(static_cast<float>(j(g)) / 16.0f);
  return e;
}

// y (N, out) = bf16(bf16(x) @ W^T + bf16(b)), sum exact; only the columns in `cols`.
float expected_y(const Exact& x, const Exact& w, const float* b, int n, int o, int in) {
  double acc = 0;
  for (int i = 0; i < in; ++i)
    acc += static_cast<double>(x.act_rounded[static_cast<size_t>(n) * in + i]) * w.w[static_cast<size_t>(o) * in + i];
  const float accf = static_cast<float>(acc);  // exact
  return round_bf16(b ? accf + round_bf16(b[o]) : accf);
}
float expected_dx(const Exact& dy, const Exact& w, int n, int i, int in, int out) {
  double acc = 0;
  for (int o = 0; o < out; ++o)
    acc += static_cast<double>(dy.act_rounded[static_cast<size_t>(n) * out + o]) * w.w[static_cast<size_t>(o) * in + i];
  return round_bf16(static_cast<float>(acc));
}

TEST(CpuLinearBf16, ForwardIsTheRoundedFormula) {
  const int N = 9, in = 80, out = 48;
  const Exact x = exact_operands(static_cast<size_t>(N) * in, static_cast<size_t>(out) * in, 64, 64, 1);
  const std::vector<float> b = lp::cpu::testing::randn(out, 2);  // not bf16 values: its rounding shows
  std::vector<float> scratch(linear_bf16_scratch(N, in, out));
  for (const float* bias : {static_cast<const float*>(nullptr), b.data()}) {
    std::vector<float> y(static_cast<size_t>(N) * out, 99.0f);
    linear_forward_bf16(y.data(), x.act.data(), x.w.data(), bias, N, in, out, scratch.data());
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < out; ++o)
        ASSERT_EQ(bits(y[static_cast<size_t>(n) * out + o]), bits(expected_y(x, x, bias, n, o, in))) << n << " " << o;
  }
  // The fp32 layer on the same operands differs: the roundings are real.
  std::vector<float> y32(static_cast<size_t>(N) * out), ybf(static_cast<size_t>(N) * out);
  linear_forward(y32.data(), x.act.data(), x.w.data(), b.data(), N, in, out);
  linear_forward_bf16(ybf.data(), x.act.data(), x.w.data(), b.data(), N, in, out, scratch.data());
  EXPECT_NE(y32, ybf);
}

TEST(CpuLinearBf16, BackwardIsTheRoundedFormulaAndAccumulatesAfterRounding) {
  const int N = 9, in = 80, out = 48;
  const Exact dy = exact_operands(static_cast<size_t>(N) * out, static_cast<size_t>(out) * in, 64, 64, 3);
  const std::vector<float> dx0 = lp::cpu::testing::randn(static_cast<size_t>(N) * in, 4);
  std::vector<float> scratch(linear_bf16_scratch(N, in, out));
  for (bool accumulate : {false, true}) {
    std::vector<float> dx = accumulate ? dx0 : std::vector<float>(dx0.size(), 99.0f);
    linear_backward_bf16(dx.data(), dy.act.data(), dy.w.data(), N, in, out, accumulate, scratch.data());
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < in; ++i) {
        const size_t k = static_cast<size_t>(n) * in + i;
        const float want =
            accumulate ? dx0[k] + expected_dx(dy, dy, n, i, in, out) : expected_dx(dy, dy, n, i, in, out);
        ASSERT_EQ(bits(dx[k]), bits(want)) << (accumulate ? "accumulate " : "") << n << " " << i;
      }
  }
}

// Rows go through the scratch in chunks (64 rows when in + out is 64K wide): 130 rows = 64 + 64 + 2.
TEST(CpuLinearBf16, ChunksOfRowsGiveTheSameFormula) {
  const int N = 130, in = 64, out = 65472;
  ASSERT_EQ(linear_bf16_rows(N, in, out), 64);
  ASSERT_EQ(linear_bf16_scratch(N, in, out), static_cast<size_t>(64) * (in + out));
  // Small integers (|k|, |j| <= 8): every sum over out = 65472 terms stays exact in fp32.
  const Exact x = exact_operands(static_cast<size_t>(N) * in, static_cast<size_t>(out) * in, 8, 8, 5);
  const Exact dy = exact_operands(static_cast<size_t>(N) * out, 0, 8, 8, 6);
  std::vector<float> scratch(linear_bf16_scratch(N, in, out));
  std::vector<float> y(static_cast<size_t>(N) * out);
  linear_forward_bf16(y.data(), x.act.data(), x.w.data(), nullptr, N, in, out, scratch.data());
  const int rows[] = {0, 1, 63, 64, 65, 127, 128, 129};
  for (int n : rows)
    for (int o : {0, 1, 777, out / 2, out - 2, out - 1})
      ASSERT_EQ(bits(y[static_cast<size_t>(n) * out + o]), bits(expected_y(x, x, nullptr, n, o, in))) << n << " " << o;
  std::vector<float> dx(static_cast<size_t>(N) * in);
  linear_backward_bf16(dx.data(), dy.act.data(), x.w.data(), N, in, out, false, scratch.data());
  for (int n : rows)
    for (int i = 0; i < in; ++i)
      ASSERT_EQ(bits(dx[static_cast<size_t>(n) * in + i]), bits(expected_dx(dy, x, n, i, in, out))) << n << " " << i;
}

}  // namespace
