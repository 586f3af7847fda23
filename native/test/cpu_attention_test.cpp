// Tests for cpu/attention.h against a naive double-precision reference (explicit mask, full
// softmax, analytic backward): GQA, packed-document segments, sliding window, several rows and
// sizes that cross the 64-token tiles; plus central finite differences on a small case.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "cpu/attention.h"
#include "cpu_test_util.h"

namespace {

using namespace lp::cpu;
using namespace lp::cpu::testing;

struct Shape {
  int B, T, NH, NKV, HS, window;
};

// Token t sees key j: same row, j <= t, no segment change in (j, t], and inside the window.
bool visible(const std::vector<int32_t>& seg, int b, int T, int t, int j, int window) {
  if (j > t) return false;
  if (window > 0 && t - j >= window) return false;
  if (!seg.empty())
    for (int u = j + 1; u <= t; ++u)
      if (seg[(size_t)b * T + u] != seg[(size_t)b * T + u - 1]) return false;
  return true;
}

struct Reference {
  std::vector<double> out, lse, dq, dk, dv;
};

Reference naive(const Shape& s, const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                const std::vector<float>& dout, const std::vector<int32_t>& seg) {
  const int B = s.B, T = s.T, NH = s.NH, NKV = s.NKV, HS = s.HS, rep = NH / NKV;
  const double scale = 1.0 / std::sqrt((double)HS);
  Reference r;
  r.out.assign((size_t)B * T * NH * HS, 0.0);
  r.lse.assign((size_t)B * T * NH, 0.0);
  r.dq.assign(r.out.size(), 0.0);
  r.dk.assign((size_t)B * T * NKV * HS, 0.0);
  r.dv.assign(r.dk.size(), 0.0);
  auto Q = [&](int b, int t, int h, int d) { return (double)q[(((size_t)b * T + t) * NH + h) * HS + d]; };
  auto Kx = [&](int b, int t, int g, int d) { return (double)k[(((size_t)b * T + t) * NKV + g) * HS + d]; };
  auto Vx = [&](int b, int t, int g, int d) { return (double)v[(((size_t)b * T + t) * NKV + g) * HS + d]; };
  auto dO = [&](int b, int t, int h, int d) { return (double)dout[(((size_t)b * T + t) * NH + h) * HS + d]; };
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h) {
      const int g = h / rep;
      for (int t = 0; t < T; ++t) {
        std::vector<double> p(T, 0.0);
        double m = -1e300;
        for (int j = 0; j < T; ++j)
          if (visible(seg, b, T, t, j, s.window)) {
            double dotp = 0;
            for (int d = 0; d < HS; ++d) dotp += Q(b, t, h, d) * Kx(b, j, g, d);
            p[j] = dotp * scale;
            m = std::max(m, p[j]);
          }
        double sum = 0;
        for (int j = 0; j < T; ++j)
          if (visible(seg, b, T, t, j, s.window)) sum += std::exp(p[j] - m);
        for (int j = 0; j < T; ++j) p[j] = visible(seg, b, T, t, j, s.window) ? std::exp(p[j] - m) / sum : 0.0;
        r.lse[((size_t)b * T + t) * NH + h] = m + std::log(sum);
        const size_t o = (((size_t)b * T + t) * NH + h) * HS;
        for (int d = 0; d < HS; ++d)
          for (int j = 0; j < T; ++j) r.out[o + d] += p[j] * Vx(b, j, g, d);
        // backward: dp_j = dO . v_j; ds_j = p_j (dp_j - sum p dp)
        std::vector<double> dp(T, 0.0);
        double D = 0;
        for (int j = 0; j < T; ++j) {
          if (p[j] == 0.0) continue;
          for (int d = 0; d < HS; ++d) dp[j] += dO(b, t, h, d) * Vx(b, j, g, d);
          D += p[j] * dp[j];
        }
        for (int j = 0; j < T; ++j) {
          if (p[j] == 0.0) continue;
          const double ds = p[j] * (dp[j] - D);
          for (int d = 0; d < HS; ++d) {
            r.dq[o + d] += scale * ds * Kx(b, j, g, d);
            r.dk[(((size_t)b * T + j) * NKV + g) * HS + d] += scale * ds * Q(b, t, h, d);
            r.dv[(((size_t)b * T + j) * NKV + g) * HS + d] += p[j] * dO(b, t, h, d);
          }
        }
      }
    }
  return r;
}

// Packed documents of lengths 1..40 per row (some rows one long document).
std::vector<int32_t> make_segments(int B, int T, uint32_t seed) {
  std::vector<int32_t> seg((size_t)B * T);
  uint32_t state = seed;
  for (int b = 0; b < B; ++b) {
    int32_t id = 0, left = 0;
    for (int t = 0; t < T; ++t) {
      if (left == 0) {
        state = state * 1664525u + 1013904223u;
        left = 1 + (int)((state >> 8) % 40);
        if (t > 0) ++id;
      }
      seg[(size_t)b * T + t] = id;
      --left;
    }
  }
  return seg;
}

void check_against_naive(const Shape& s, bool segments) {
  const size_t nq = (size_t)s.B * s.T * s.NH * s.HS, nk = (size_t)s.B * s.T * s.NKV * s.HS;
  const auto q = randn(nq, 1 + s.T, 1.5f), k = randn(nk, 2 + s.T, 1.5f), v = randn(nk, 3 + s.T);
  const auto dout = randn(nq, 4 + s.T);
  const std::vector<int32_t> seg = segments ? make_segments(s.B, s.T, 7 + s.T) : std::vector<int32_t>();
  const int32_t* segp = segments ? seg.data() : nullptr;
  std::vector<float> out(nq), lse((size_t)s.B * s.T * s.NH), dq(nq, 5.0f), dk(nk, 5.0f), dv(nk, 5.0f);
  attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), segp, s.B, s.T, s.NH, s.NKV, s.HS, s.window);
  attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), lse.data(), segp, s.B,
                     s.T, s.NH, s.NKV, s.HS, s.window);
  const Reference r = naive(s, q, k, v, dout, seg);
  const std::string tag = "B=" + std::to_string(s.B) + " T=" + std::to_string(s.T) + " NH=" + std::to_string(s.NH) +
                          " NKV=" + std::to_string(s.NKV) + " HS=" + std::to_string(s.HS) +
                          " window=" + std::to_string(s.window) + (segments ? " segments" : "");
  EXPECT_LT(max_rel_err(out, r.out), 2e-6) << tag;
  EXPECT_LT(max_rel_err(lse, r.lse), 1e-6) << tag;
  EXPECT_LT(max_rel_err(dq, r.dq), 1e-5) << tag;
  EXPECT_LT(max_rel_err(dk, r.dk), 1e-5) << tag;
  EXPECT_LT(max_rel_err(dv, r.dv), 1e-5) << tag;
}

TEST(CpuAttention, MatchesNaiveCausal) {
  check_against_naive({1, 70, 2, 2, 16, 0}, false);
  check_against_naive({2, 150, 4, 2, 16, 0}, false);  // GQA, 3 tiles with a partial one
}

TEST(CpuAttention, MatchesNaiveGqaWithSegments) {
  check_against_naive({2, 150, 4, 1, 8, 0}, true);   // MQA
  check_against_naive({1, 200, 6, 2, 12, 0}, true);  // 3 query heads per kv head
}

TEST(CpuAttention, MatchesNaiveSlidingWindow) {
  check_against_naive({2, 150, 4, 2, 16, 37}, false);
  check_against_naive({1, 190, 4, 4, 8, 64}, false);
  check_against_naive({2, 150, 4, 2, 16, 23}, true);  // window and segments together
  check_against_naive({1, 50, 2, 1, 8, 1}, false);    // window 1: each token sees only itself
}

TEST(CpuAttention, BackwardMatchesFiniteDifferences) {
  const Shape s{1, 12, 2, 1, 4, 0};
  const size_t nq = (size_t)s.T * s.NH * s.HS, nk = (size_t)s.T * s.NKV * s.HS;
  auto q = randn(nq, 21), k = randn(nk, 22), v = randn(nk, 23);
  const auto w = randn(nq, 24);
  const std::vector<int32_t> seg = {0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2};
  std::vector<float> out(nq), lse(s.T * s.NH), dq(nq), dk(nk), dv(nk);
  auto loss = [&] {
    attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), seg.data(), s.B, s.T, s.NH, s.NKV, s.HS,
                      s.window);
    return dot(out, w);
  };
  loss();
  attention_backward(dq.data(), dk.data(), dv.data(), w.data(), q.data(), k.data(), v.data(), lse.data(), seg.data(),
                     s.B, s.T, s.NH, s.NKV, s.HS, s.window);
  expect_grad_fd("attention dq", q, dq, loss, 1e-2f, 3e-3);
  expect_grad_fd("attention dk", k, dk, loss, 1e-2f, 3e-3);
  expect_grad_fd("attention dv", v, dv, loss, 1e-2f, 3e-3);
}

TEST(CpuAttention, DocumentsDoNotSeeEachOther) {
  // Changing an earlier document leaves the later document's output unchanged.
  const int T = 10, NH = 2, HS = 4;
  const std::vector<int32_t> seg = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
  auto q = randn((size_t)T * NH * HS, 31), k = randn((size_t)T * NH * HS, 32), v = randn((size_t)T * NH * HS, 33);
  std::vector<float> out1(q.size()), out2(q.size()), lse(T * NH);
  attention_forward(out1.data(), lse.data(), q.data(), k.data(), v.data(), seg.data(), 1, T, NH, NH, HS, 0);
  for (size_t i = 0; i < (size_t)4 * NH * HS; ++i) k[i] += 1.0f, v[i] -= 2.0f;
  attention_forward(out2.data(), lse.data(), q.data(), k.data(), v.data(), seg.data(), 1, T, NH, NH, HS, 0);
  for (size_t i = (size_t)4 * NH * HS; i < out1.size(); ++i) EXPECT_EQ(out1[i], out2[i]);
  // The first token of a document attends only to itself: out == v.
  for (int h = 0; h < NH; ++h)
    for (int d = 0; d < HS; ++d) EXPECT_FLOAT_EQ(out2[((size_t)4 * NH + h) * HS + d], v[((size_t)4 * NH + h) * HS + d]);
}

TEST(CpuAttention, RejectsBadHeadGrouping) {
  std::vector<float> buf(64);
  EXPECT_THROW(attention_forward(buf.data(), buf.data(), buf.data(), buf.data(), buf.data(), nullptr, 1, 2, 3, 2, 4, 0),
               lp::Error);
}

}  // namespace
