// Tests for cpu/linear.h and cpu/lora.h: forward against a double reference, backward against
// central finite differences, accumulate-vs-overwrite semantics, and the dropout keep-mask.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "cpu/linear.h"
#include "cpu/lora.h"
#include "cpu_test_util.h"

namespace {

using namespace lp::cpu;
using namespace lp::cpu::testing;

TEST(CpuLinear, ForwardMatchesReferenceWithAndWithoutBias) {
  const int N = 7, in = 19, out = 13;
  const auto x = randn((size_t)N * in, 1), W = randn((size_t)out * in, 2), b = randn(out, 3);
  for (const float* bias : {(const float*)nullptr, b.data()}) {
    std::vector<float> y((size_t)N * out, 99.0f);
    linear_forward(y.data(), x.data(), W.data(), bias, N, in, out);
    std::vector<double> ref((size_t)N * out);
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < out; ++o) {
        double s = bias ? bias[o] : 0.0;
        for (int i = 0; i < in; ++i) s += (double)x[(size_t)n * in + i] * W[(size_t)o * in + i];
        ref[(size_t)n * out + o] = s;
      }
    EXPECT_LT(max_rel_err(y, ref), 1e-6);
  }
}

TEST(CpuLinear, BackwardMatchesFiniteDifferencesAndAccumulates) {
  const int N = 5, in = 11, out = 9;
  auto x = randn((size_t)N * in, 4);
  const auto W = randn((size_t)out * in, 5), b = randn(out, 6), w = randn((size_t)N * out, 7);
  std::vector<float> y((size_t)N * out);
  auto loss = [&] {
    linear_forward(y.data(), x.data(), W.data(), b.data(), N, in, out);
    return dot(y, w);
  };
  std::vector<float> dx((size_t)N * in, 123.0f);  // overwritten
  linear_backward(dx.data(), w.data(), W.data(), N, in, out, false);
  expect_grad_fd("linear dx", x, dx, loss);
  std::vector<float> acc((size_t)N * in, 1.0f);
  linear_backward(acc.data(), w.data(), W.data(), N, in, out, true);
  for (size_t i = 0; i < acc.size(); ++i) EXPECT_FLOAT_EQ(acc[i], 1.0f + dx[i]);
}

TEST(CpuLora, DropoutMaskIsRngUniformThreshold) {
  const int64_t n = 100003;
  const float p = 0.1f;
  std::vector<uint8_t> m1(n), m2(n);
  lora_dropout_mask(m1.data(), n, p, 42, 7);
  lora_dropout_mask(m2.data(), n, p, 42, 7);
  EXPECT_EQ(m1, m2);
  const lp::Rng rng(42, 7);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(m1[i], rng.uniform(i) >= p ? 1 : 0) << i;
    kept += m1[i];
  }
  EXPECT_NEAR((double)kept / n, 0.9, 0.005);
  lora_dropout_mask(m2.data(), n, p, 42, 8);
  EXPECT_NE(m1, m2);
  lora_dropout_mask(m2.data(), n, 0.0f, 1, 1);
  for (auto v : m2) ASSERT_EQ(v, 1);
  EXPECT_THROW(lora_dropout_mask(m2.data(), n, 1.0f, 1, 1), lp::Error);
}

struct LoraFixture {
  int N = 6, in = 14, r = 4, out = 10;
  float scale = 2.0f, p = 0.25f;
  std::vector<float> x = randn((size_t)N * in, 10), A = randn((size_t)r * in, 11, 0.3f),
                     B = randn((size_t)out * r, 12, 0.3f), base = randn((size_t)N * out, 13),
                     w = randn((size_t)N * out, 14);
  std::vector<uint8_t> mask;
  LoraFixture() {
    mask.resize((size_t)N * in);
    lora_dropout_mask(mask.data(), (int64_t)mask.size(), p, 5, 0);
  }
  // y = base + scale * (drop(x) A^T) B^T in double
  std::vector<double> reference(bool dropout) const {
    const double s = 1.0 / (1.0 - p);
    std::vector<double> y(base.begin(), base.end());
    for (int n = 0; n < N; ++n) {
      std::vector<double> h(r, 0.0);
      for (int k = 0; k < r; ++k)
        for (int i = 0; i < in; ++i) {
          const double u =
              dropout ? (mask[(size_t)n * in + i] ? x[(size_t)n * in + i] * s : 0.0) : x[(size_t)n * in + i];
          h[k] += u * A[(size_t)k * in + i];
        }
      for (int o = 0; o < out; ++o)
        for (int k = 0; k < r; ++k) y[(size_t)n * out + o] += scale * h[k] * B[(size_t)o * r + k];
    }
    return y;
  }
};

TEST(CpuLora, ForwardMatchesReference) {
  LoraFixture f;
  for (bool dropout : {false, true}) {
    std::vector<float> y = f.base, h((size_t)f.N * f.r), xd((size_t)f.N * f.in);
    lora_forward(y.data(), h.data(), dropout ? xd.data() : nullptr, f.x.data(), dropout ? f.mask.data() : nullptr,
                 dropout ? f.p : 0.0f, f.A.data(), f.B.data(), f.N, f.in, f.r, f.out, f.scale);
    EXPECT_LT(max_rel_err(y, f.reference(dropout)), 2e-6) << "dropout=" << dropout;
  }
}

TEST(CpuLora, BackwardMatchesFiniteDifferencesAndAccumulates) {
  for (bool dropout : {false, true}) {
    LoraFixture f;
    const uint8_t* mask = dropout ? f.mask.data() : nullptr;
    const float p = dropout ? f.p : 0.0f;
    std::vector<float> y, h((size_t)f.N * f.r), xd((size_t)f.N * f.in);
    auto loss = [&] {
      y = f.base;
      lora_forward(y.data(), h.data(), xd.data(), f.x.data(), mask, p, f.A.data(), f.B.data(), f.N, f.in, f.r, f.out,
                   f.scale);
      return dot(y, f.w);
    };
    loss();
    // Gradients accumulate onto pre-filled buffers: start dA, dB, dx at 0.5 and subtract it.
    std::vector<float> dA((size_t)f.r * f.in, 0.5f), dB((size_t)f.out * f.r, 0.5f), dx((size_t)f.N * f.in, 0.5f);
    std::vector<float> dh((size_t)f.N * f.r);
    lora_backward(dA.data(), dB.data(), dx.data(), dh.data(), dropout ? xd.data() : nullptr, f.w.data(), f.x.data(),
                  mask, p, h.data(), f.A.data(), f.B.data(), f.N, f.in, f.r, f.out, f.scale);
    for (auto* g : {&dA, &dB, &dx})
      for (auto& v : *g) v -= 0.5f;
    expect_grad_fd(dropout ? "lora dA (dropout)" : "lora dA", f.A, dA, loss);
    expect_grad_fd(dropout ? "lora dB (dropout)" : "lora dB", f.B, dB, loss);
    expect_grad_fd(dropout ? "lora dx (dropout)" : "lora dx", f.x, dx, loss);
    if (dropout) {  // dropped inputs get no gradient
      for (size_t i = 0; i < dx.size(); ++i)
        if (!f.mask[i]) {
          EXPECT_EQ(dx[i], 0.0f);
        }
    }
    // dx == nullptr skips the input gradient but still accumulates dA, dB.
    std::vector<float> dA2((size_t)f.r * f.in, 0.0f), dB2((size_t)f.out * f.r, 0.0f);
    loss();
    lora_backward(dA2.data(), dB2.data(), nullptr, dh.data(), dropout ? xd.data() : nullptr, f.w.data(), f.x.data(),
                  mask, p, h.data(), f.A.data(), f.B.data(), f.N, f.in, f.r, f.out, f.scale);
    EXPECT_LT(max_rel_err(dA2, dA), 1e-6);
    EXPECT_LT(max_rel_err(dB2, dB), 1e-6);
  }
}

TEST(CpuLora, DropoutWithoutScratchIsAnError) {
  LoraFixture f;
  std::vector<float> y = f.base, h((size_t)f.N * f.r);
  EXPECT_THROW(lora_forward(y.data(), h.data(), nullptr, f.x.data(), f.mask.data(), f.p, f.A.data(), f.B.data(), f.N,
                            f.in, f.r, f.out, f.scale),
               lp::Error);
}

}  // namespace
