// Tests for model/rope_tables.h: inv_freq (default and llama3) against values computed independently
// in Python with fp32 rounding after every op (the snippet is quoted below), and the cos/sin tables.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "model/rope_tables.h"

namespace lp {
namespace {

// Llama 3.1 8B: head_dim 128, rope_theta 500000, rope_scaling {factor 8, low_freq_factor 1,
// high_freq_factor 4, original_max_position_embeddings 8192}. Generated with (f32 = round to fp32
// through struct.pack('f')):
//   base = f32(500000.0); inv = [f32(1 / f32(math.pow(base, f32(f32(2*i) / f32(128))))) for i in range(64)]
//   lw, hw, tp = f32(8192 / 1), f32(8192 / 4), f32(2 * math.pi)
//   wl = f32(f32(1 / x) * tp); ll = f32(x / f32(8)) if wl > lw else x
//   s = f32(f32(f32(f32(1 / wl) * f32(8192)) - f32(1)) / f32(3))
//   out = f32(f32(f32(f32(1 - s) * ll) / f32(8)) + f32(s * ll)) if not wl < hw and not wl > lw else ll
// Indices 29..34 fall in the smoothed band.
const float kLlama31InvFreq[64] = {
    0x1.0000000000000p+0f,  0x1.a115820000000p-1f,  0x1.53c38c0000000p-1f,  0x1.14c7080000000p-1f,
    0x1.c2ef780000000p-2f,  0x1.6f56fa0000000p-2f,  0x1.2b3dc60000000p-2f,  0x1.e788c20000000p-3f,
    0x1.8d27600000000p-3f,  0x1.4387400000000p-3f,  0x1.078d400000000p-3f,  0x1.ad63380000000p-4f,
    0x1.5dc95a0000000p-4f,  0x1.1cf1300000000p-4f,  0x1.d03cce0000000p-5f,  0x1.7a2d080000000p-5f,
    0x1.3411900000000p-5f,  0x1.f5ea7e0000000p-6f,  0x1.98de920000000p-6f,  0x1.4d12720000000p-6f,
    0x1.0f53860000000p-6f,  0x1.ba0dd80000000p-7f,  0x1.681ada0000000p-7f,  0x1.2558fe0000000p-7f,
    0x1.ddee9e0000000p-8f,  0x1.8554ec0000000p-8f,  0x1.3d28040000000p-8f,  0x1.025c6a0000000p-8f,
    0x1.a4ee400000000p-9f,  0x1.1bfa0c0000000p-9f,  0x1.67a23a0000000p-10f, 0x1.c12f3c0000000p-11f,
    0x1.132ba40000000p-11f, 0x1.47e2100000000p-12f, 0x1.765ba40000000p-13f, 0x1.90d10c0000000p-14f,
    0x1.46831a0000000p-14f, 0x1.09fb7e0000000p-14f, 0x1.b159020000000p-15f, 0x1.6103320000000p-15f,
    0x1.1f91f00000000p-15f, 0x1.d484de0000000p-16f, 0x1.7da9e80000000p-16f, 0x1.36e8ea0000000p-16f,
    0x1.fa8b860000000p-17f, 0x1.9ca3ea0000000p-17f, 0x1.5024d60000000p-17f, 0x1.11d41e0000000p-17f,
    0x1.be21880000000p-18f, 0x1.6b6d0e0000000p-18f, 0x1.280d960000000p-18f, 0x1.e257000000000p-19f,
    0x1.88ec200000000p-19f, 0x1.4014d20000000p-19f, 0x1.04be680000000p-19f, 0x1.a8d0100000000p-20f,
    0x1.5a0f4e0000000p-20f, 0x1.19e8000000000p-20f, 0x1.cb4a9a0000000p-21f, 0x1.76258e0000000p-21f,
    0x1.30c94e0000000p-21f, 0x1.f091840000000p-22f, 0x1.9483600000000p-22f, 0x1.4985fe0000000p-22f,
};

TEST(RopeTables, Llama3ScalingMatchesPythonFp32Replay) {
  std::vector<float> inv(64);
  rope_inv_freq(inv.data(), 128, 500000.0);
  rope_llama3_scaling(inv.data(), 128, 8.0, 1.0, 4.0, 8192.0);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(inv[i], kLlama31InvFreq[i]) << "inv_freq[" << i << "]";
}

// The same quantities from the formula in double: equal up to fp32 rounding.
TEST(RopeTables, InvFreqMatchesDoubleFormula) {
  for (int hd : {64, 128}) {
    for (double theta : {10000.0, 500000.0, 1000000.0}) {
      std::vector<float> inv(hd / 2);
      rope_inv_freq(inv.data(), hd, theta);
      for (int i = 0; i < hd / 2; ++i) {
        const double ref = 1.0 / std::pow(theta, (2.0 * i) / hd);
        EXPECT_NEAR(inv[i], ref, 3e-7 * ref) << "hd=" << hd << " theta=" << theta << " i=" << i;
      }
      std::vector<float> sc = inv;
      rope_llama3_scaling(sc.data(), hd, 32.0, 1.0, 4.0, 8192.0);
      for (int i = 0; i < hd / 2; ++i) {
        const double f = inv[i], wl = 2 * M_PI / f;
        double ref;
        if (wl < 8192.0 / 4)
          ref = f;
        else if (wl > 8192.0 / 1)
          ref = f / 32.0;
        else {
          const double s = (8192.0 / wl - 1.0) / (4.0 - 1.0);
          ref = (1 - s) * f / 32.0 + s * f;
        }
        EXPECT_NEAR(sc[i], ref, 1e-6 * ref) << "llama3 hd=" << hd << " theta=" << theta << " i=" << i;
      }
    }
  }
}

TEST(RopeTables, CosSinTablesFollowPositionIds) {
  const int hd = 16, N = 7;
  std::vector<float> inv(hd / 2);
  rope_inv_freq(inv.data(), hd, 10000.0);
  // Two packed documents: positions restart at 0.
  const std::vector<int32_t> pos = {0, 1, 2, 3, 0, 1, 4095};
  std::vector<float> c((size_t)N * hd / 2), s((size_t)N * hd / 2);
  rope_cos_sin(c.data(), s.data(), pos.data(), N, inv.data(), hd);
  for (int n = 0; n < N; ++n)
    for (int i = 0; i < hd / 2; ++i) {
      const float angle = (float)pos[n] * inv[i];  // fp32 angle, as HF's fp32 matmul
      EXPECT_EQ(c[(size_t)n * hd / 2 + i], (float)std::cos((double)angle));
      EXPECT_EQ(s[(size_t)n * hd / 2 + i], (float)std::sin((double)angle));
    }
  for (int i = 0; i < hd / 2; ++i) {  // rows with equal positions are equal
    EXPECT_EQ(c[0 * hd / 2 + i], c[4 * hd / 2 + i]);
    EXPECT_EQ(s[1 * hd / 2 + i], s[5 * hd / 2 + i]);
  }
  std::vector<float> c2((size_t)N * hd / 2), s2((size_t)N * hd / 2);
  rope_cos_sin(c2.data(), s2.data(), pos.data(), N, inv.data(), hd, 0.5f);
  for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(c2[i], c[i] * 0.5f);
}

TEST(RopeTables, RejectsOddHeadDim) {
  std::vector<float> inv(4);
  EXPECT_THROW(rope_inv_freq(inv.data(), 7, 10000.0), lp::Error);
}

}  // namespace
}  // namespace lp
