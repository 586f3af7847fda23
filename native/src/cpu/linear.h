// cpu/linear.h: the frozen base linear layer (Linear4bit after dequantization, or any frozen fp32
// linear): forward y = x W^T (+ b) and backward dx = dy W. No gradient for W or b (frozen).
// The caller dequantizes NF4 into a reused dense (out, in) fp32 buffer before each call. The _bf16
// pair is the same layer in bf16 compute (spec.quantization.computeDtype bfloat16).
#pragma once
#include <cstddef>

namespace lp::cpu {

// y (N, out) = x (N, in) @ W^T + b. Overwrites y.
//   W (out, in) row-major (PyTorch's nn.Linear weight layout); b (out) or nullptr.
// The bias is added after the full dot product, as torch's addmm rounds it.
void linear_forward(float* y, const float* x, const float* W, const float* b, int N, int in, int out);

// dx (N, in) = dy (N, out) @ W (out, in); accumulate == true adds onto dx instead (dx += dy @ W),
// e.g. for the second and later projections that read the same input (q, k, v; gate, up).
void linear_backward(float* dx, const float* dy, const float* W, int N, int in, int out, bool accumulate);

// The same in bf16 compute: bitsandbytes' Linear4bit with bnb_4bit_compute_dtype=torch.bfloat16 on the
// CPU (x.to(bf16); the dequantized weight .to(bf16); F.linear in bf16, which accumulates in fp32 and
// rounds its output, the bias added before that rounding; .to(float32)). W must hold bf16 values
// (cpu/bf16.h: the caller rounds the dequantized weight). Rows go in chunks of linear_bf16_rows(N, in,
// out) through `scratch`, at least linear_bf16_scratch(N, in, out) floats, not aliasing the others.
//   y (N, out) = bf16(bf16(x) @ W^T + bf16(b))
void linear_forward_bf16(float* y, const float* x, const float* W, const float* b, int N, int in, int out,
                         float* scratch);
//   dx (N, in) = bf16(bf16(dy) @ W), or dx += that with accumulate: the product is rounded before the
//   sum, as autograd adds the fp32 gradients of the projections that read one input.
void linear_backward_bf16(float* dx, const float* dy, const float* W, int N, int in, int out, bool accumulate,
                          float* scratch);
int linear_bf16_rows(int N, int in, int out);        // rows per chunk: N, or about 4M floats' worth (>= 64)
size_t linear_bf16_scratch(int N, int in, int out);  // floats: rows * (in + out)

}  // namespace lp::cpu
