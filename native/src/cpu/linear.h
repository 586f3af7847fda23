// cpu/linear.h: the frozen base linear layer (Linear4bit after dequantization, or any frozen fp32
// linear): forward y = x W^T (+ b) and backward dx = dy W. No gradient for W or b (frozen).
// The caller dequantizes NF4 into a reused dense (out, in) fp32 buffer before each call.
#pragma once

namespace lp::cpu {

// y (N, out) = x (N, in) @ W^T + b. Overwrites y.
//   W (out, in) row-major (PyTorch's nn.Linear weight layout); b (out) or nullptr.
// The bias is added after the full dot product, as torch's addmm rounds it.
void linear_forward(float* y, const float* x, const float* W, const float* b, int N, int in, int out);

// dx (N, in) = dy (N, out) @ W (out, in); accumulate == true adds onto dx instead (dx += dy @ W),
// e.g. for the second and later projections that read the same input (q, k, v; gate, up).
void linear_backward(float* dx, const float* dy, const float* W, int N, int in, int out, bool accumulate);

}  // namespace lp::cpu
