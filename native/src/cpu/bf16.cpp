// cpu/bf16.cpp: round_bf16 over arrays (see bf16.h); the loop vectorizes (integer add, and, select).
// It runs on the calling thread: it sits between OpenBLAS calls, whose own threads an OpenMP team
// spinning after a parallel region would slow down by 2-4x, and it is memory-bound anyway.
#include "cpu/bf16.h"

namespace lp::cpu {

void round_bf16(float* out, const float* in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = round_bf16(in[i]);
}

}  // namespace lp::cpu
