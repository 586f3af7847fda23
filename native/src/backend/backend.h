// backend/backend.h: the boundary between the model/trainer and the hardware. A Backend owns memory
// (alloc/release, host transfers) and runs every operation the decoder, the loss and the optimizer
// need; the model holds only pointers into its backend's memory (backend/buffer.h) and never touches
// them itself. Provides Backend, FrozenWeight and MemoryStats.
//
// Operation contracts (shapes, aliasing, accumulate flags, rounding) are those of the cpu/ op with the
// same name (cpu/*.h); a device backend matches them to its stated tolerance. All pointers passed to
// an op point into this backend's memory unless the comment says "host". The implementations (cpu/,
// cuda/) are reached through backend/registry.h; this header and the model include none of them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/loss.h"
#include "quant/quant4.h"

namespace lp {

struct MemoryStats {
  size_t current = 0;  // bytes this backend holds now (its own allocations)
  size_t peak = 0;     // the most it held since the last reset_peak()
};

// A frozen weight W (out, in) as the backend keeps it: a projection's 4-bit blocks plus their absmax
// (dequantized per use), or a dense matrix (an unquantized projection, the embedding table, lm_head).
class FrozenWeight {
 public:
  virtual ~FrozenWeight() = default;
  // A 4-bit weight's state as the backend holds it, copied into qs (packed codes, absmax or its 8-bit
  // codes, nested absmax and map); qs's metadata (type, blocksize, shape, nesting) is the caller's.
  // A device backend's model releases its host copy after the upload and gets it back this way.
  virtual void download(QuantState& qs) const = 0;
  int out = 0, in = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;         // "cpu", "cuda"
  virtual std::string device_name() const = 0;  // e.g. "x86_64 (builtin-avx512 GEMM, 2 threads)", "NVIDIA H200"
  // True when buffers are plain host memory: the model may then alias host data instead of copying it.
  virtual bool host_visible() const = 0;

  // Memory. alloc returns zeroed memory (nullptr for 0 bytes).
  virtual void* alloc(size_t bytes) = 0;
  virtual void release(void* p, size_t bytes) = 0;
  virtual void to_device(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void to_host(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;
  virtual void zero(void* p, size_t bytes) = 0;
  virtual MemoryStats memory() const = 0;
  virtual void reset_peak() = 0;

  // The backend's form of a frozen weight: qs (host) when quantized, else dense (host, out*in fp32).
  // The host data must outlive the weight (a host-visible backend keeps pointers to it).
  virtual std::unique_ptr<FrozenWeight> frozen_weight(const QuantState* qs, const float* dense, int out, int in) = 0;

  // y (N, out) = x (N, in) @ W^T (+ b);  dx (N, in) (+)= dy (N, out) @ W.   (cpu/linear.h)
  virtual void linear_forward(float* y, const float* x, const FrozenWeight& W, const float* b, int N) = 0;
  virtual void linear_backward(float* dx, const float* dy, const FrozenWeight& W, int N, bool accumulate) = 0;

  // cpu/lora.h
  virtual void lora_dropout_mask(uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream) = 0;
  virtual void lora_forward(float* y, float* h, float* xd, const float* x, const uint8_t* mask, float dropout_p,
                            const float* A, const float* B, int N, int in, int r, int out, float scale) = 0;
  virtual void lora_backward(float* dA, float* dB, float* dx, float* dh, float* xd, const float* dy, const float* x,
                             const uint8_t* mask, float dropout_p, const float* h, const float* A, const float* B,
                             int N, int in, int r, int out, float scale) = 0;

  // cpu/rmsnorm.h (dweight is always nullptr here: the norms are frozen)
  virtual void rmsnorm_forward(float* out, float* rstd, const float* x, const float* weight, int N, int C,
                               float eps) = 0;
  virtual void rmsnorm_backward(float* dx, const float* dout, const float* x, const float* weight, const float* rstd,
                                int N, int C, bool accumulate) = 0;
  // cpu/rope.h; cos/sin (N, head_dim/2) are tables computed on the host and copied in.
  virtual void rope_forward(float* out, const float* inp, const float* cos, const float* sin, int N, int n_heads,
                            int head_dim) = 0;
  virtual void rope_backward(float* dinp, const float* dout, const float* cos, const float* sin, int N, int n_heads,
                             int head_dim) = 0;
  // cpu/attention.h. The backward also gets the forward's output `out` (a backend may use it for
  // rowsum(dO * O) instead of recomputing it).
  virtual void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                                 const int32_t* seg, int B, int T, int NH, int NKV, int HS, int window) = 0;
  virtual void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q,
                                  const float* k, const float* v, const float* lse, const int32_t* seg, int B, int T,
                                  int NH, int NKV, int HS, int window) = 0;
  // One query row against a KV cache (generation): out (NH, HS) for q (NH, HS) over cache rows
  // j0..p of kcache/vcache (rows of NKV*HS).
  virtual void attention_decode(float* out, const float* q, const float* kcache, const float* vcache, int j0, int p,
                                int NH, int NKV, int HS) = 0;
  // cpu/swiglu.h
  virtual void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) = 0;
  virtual void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                               int64_t n) = 0;
  // cpu/embedding.h over a dense table (V, C); tokens are in backend memory and already range-checked.
  virtual void embedding_forward(float* out, const int32_t* tokens, const FrozenWeight& table, int N) = 0;
  // out (n) = a + b; out may alias a or b.
  virtual void add(float* out, const float* a, const float* b, int64_t n) = 0;
  // cpu/cross_entropy.h: forward only, or fused forward + backward (dlogits written over logits).
  virtual CrossEntropySum cross_entropy(float* logits, const int32_t* labels, int N, int V, float scale,
                                        bool backward) = 0;

  // cpu/adamw.h
  virtual void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, int64_t step, double lr,
                          double beta1, double beta2, double eps, double weight_decay) = 0;
  virtual double grad_global_norm(const float* const* grads, const int64_t* sizes, int count) = 0;
  virtual float clip_grad_norm(float* const* grads, const int64_t* sizes, int count, double max_norm) = 0;
};

}  // namespace lp
