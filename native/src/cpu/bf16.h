// cpu/bf16.h: bfloat16 rounding for the CPU backend's bf16 precision. A bf16 value is kept as the
// fp32 of the same value (its top 16 bits, the low 16 zero), so the fp32 ops and the fp32 GEMM take
// it as it is: rounding the operands of an fp32 GEMM to bf16 and accumulating in fp32 is a bf16 GEMM
// with fp32 accumulation, up to the order of the sums. Provides round_bf16 (one value, and arrays).
#pragma once
#include <cstdint>
#include <cstring>

namespace lp::cpu {

// fp32 -> bf16 -> fp32 as torch's .to(torch.bfloat16): round to nearest, ties to even; a finite value
// past the largest bf16 becomes +-inf; a NaN stays a NaN (here the quiet NaN 0x7FC0, c10::BFloat16's;
// torch's vectorized conversion writes 0xFFFF instead).
inline float round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  u = (u & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC00000u : rounded;
  float y;
  std::memcpy(&y, &u, sizeof y);
  return y;
}

// out[i] = round_bf16(in[i]) for i < n; out may be in (in place). OpenMP over large n.
void round_bf16(float* out, const float* in, int64_t n);

}  // namespace lp::cpu
