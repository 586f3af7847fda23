// cpu/swiglu.h: the Llama MLP gate, out = silu(gate) * up with silu(g) = g / (1 + exp(-g)), and its
// backward. Elementwise over n = N * intermediate_size values (gate_proj and up_proj outputs).
#pragma once
#include <cstdint>

namespace lp::cpu {

// out (n) = silu(gate (n)) * up (n). Overwrites out; out may alias gate or up.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);

// From dout (n) and the forward's gate, up (n); with s = sigmoid(g):
//   dup   (n) = dout * silu(g)
//   dgate (n) = (dout * up) * s * (1 + g * (1 - s))     (torch's silu_backward)
// Overwrites both. In place is allowed: dgate may alias gate and dup may alias up (each element is
// read before it is written); dout may alias either output.
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);

}  // namespace lp::cpu
