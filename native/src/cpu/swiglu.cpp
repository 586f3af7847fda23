// cpu/swiglu.cpp: SwiGLU forward/backward, PyTorch's op order, exp via the vectorisable exp_f32.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "cpu/swiglu.h"

#include "core/check.h"
#include "core/parallel.h"
#include "cpu/vec_math.h"

namespace lp::cpu {

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  LP_CHECK(n >= 0, "swiglu_forward: n=" << n);
  LP_OMP(parallel for if (n > (1 << 16)))
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i], u = up[i];
    const float silu = g / (1.0f + exp_f32(-g));
    out[i] = silu * u;
  }
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
  LP_CHECK(n >= 0, "swiglu_backward: n=" << n);
  LP_OMP(parallel for if (n > (1 << 16)))
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i], u = up[i], d = dout[i];
    const float e = 1.0f + exp_f32(-g);
    const float silu = g / e;
    const float s = 1.0f / e;
    const float dsilu = d * u;  // gradient reaching silu(gate)
    dup[i] = d * silu;
    dgate[i] = (dsilu * s) * (1.0f + g * (1.0f - s));
  }
}

}  // namespace lp::cpu
