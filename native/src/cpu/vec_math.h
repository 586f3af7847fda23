// cpu/vec_math.h: branch-free scalar math that GCC/Clang vectorise inside plain loops (a call to
// glibc's expf blocks vectorisation without -ffast-math): exp_f32.
//
// GCC only if-converts (and so vectorises) a loop around exp_f32 when trapping math is off for the
// calling function, so a .cpp with such loops starts, before any #include, with
//   #if defined(__GNUC__) && !defined(__clang__)
//   #pragma GCC optimize("no-trapping-math")
//   #endif
// (we never rely on floating-point exceptions). Files that replay PyTorch's elementwise rounding
// exactly also turn off FMA contraction there ("fp-contract=off"): GNU mode defaults to
// -ffp-contract=fast, which fuses a*b+c into one FMA where PyTorch rounds twice.
#pragma once
#include <cstdint>

namespace lp::cpu {

// e^x in fp32, Cephes-style range reduction and polynomial: within ~1 ulp of the correctly rounded
// value on [-87.3, 88]. Returns 0 below -87.33654 (flushes what would be denormals; exp(-inf) == 0
// as softmax masks need) and clamps the argument at 88 above (1.65e38 instead of overflowing to
// inf). NaN in -> NaN out.
[[gnu::always_inline]] inline float exp_f32(float x) {
  // Written so that GCC if-converts and vectorises it under the default -ftrapping-math: no
  // float->int conversion and no floorf (both "could trap"), just selects, arithmetic and bit casts.
  float xc = x > 88.0f ? 88.0f : x;
  xc = xc < -87.33654f ? -87.33654f : xc;
  // n = round(x / ln2) by the 1.5 * 2^23 trick: the sum's low mantissa bits hold n.
  const float shifted = xc * 1.44269504088896341f + 12582912.0f;
  const float fx = shifted - 12582912.0f;
  const int32_t n = __builtin_bit_cast(int32_t, shifted) - 0x4B400000;
  // r = x - n ln2 in two steps (Cody-Waite), |r| <= ln2 / 2.
  float r = xc - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  y = y * __builtin_bit_cast(float, (n + 127) << 23);  // * 2^n, n in [-126, 127]
  return x < -87.33654f ? 0.0f : y;
}

}  // namespace lp::cpu
