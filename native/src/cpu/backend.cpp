// cpu/backend.cpp: CpuBackend, the Backend interface over the cpu/ ops. Frozen 4-bit weights stay in
// the model's QuantState and are dequantized into one reused fp32 buffer per use. In bf16 precision
// that buffer holds the weight rounded to bf16 and the 4-bit projections run linear_*_bf16 (cpu/linear.h);
// dense frozen weights (lm_head, embeddings, unquantized projections) and every other op stay fp32.
#include "cpu/backend.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/buffer.h"
#include "core/check.h"
#include "core/parallel.h"
#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/bf16.h"
#include "cpu/cross_entropy.h"
#include "cpu/embedding.h"
#include "cpu/gemm.h"
#include "cpu/linear.h"
#include "cpu/lora.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/swiglu.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace lp::cpu {
namespace {

struct CpuWeight : FrozenWeight {
  const QuantState* qs = nullptr;  // the model's 4-bit state, or
  const float* dense = nullptr;    // its fp32 weight
  void download(QuantState& out) const override {
    LP_CHECK(qs != nullptr, "cpu backend: download of a dense weight's 4-bit state");
    if (&out != qs) out = *qs;
  }
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(Precision precision) : bf16_(precision == Precision::BF16) {}
  const char* name() const override { return "cpu"; }
  std::string device_name() const override {
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    return std::string("cpu (") + gemm_backend_name() + " GEMM, " + std::to_string(threads) + " threads" +
           (bf16_ ? ", bf16)" : ")");
  }
  bool host_visible() const override { return true; }

  void* alloc(size_t bytes) override {
    if (bytes == 0) return nullptr;
    const size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    LP_CHECK(p != nullptr, "cpu backend: out of memory allocating " << bytes << " bytes");
    std::memset(p, 0, rounded);
    track(static_cast<int64_t>(bytes));
    return p;
  }
  void release(void* p, size_t bytes) override {
    if (!p) return;
    std::free(p);
    track(-static_cast<int64_t>(bytes));
  }
  void to_device(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void to_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void zero(void* p, size_t bytes) override { std::memset(p, 0, bytes); }
  MemoryStats memory() const override { return {current_, peak_}; }
  void reset_peak() override { peak_ = current_; }

  std::unique_ptr<FrozenWeight> frozen_weight(const QuantState* qs, const float* dense, int out, int in) override {
    LP_CHECK((qs != nullptr) != (dense != nullptr), "cpu backend: a frozen weight is either 4-bit or dense");
    auto w = std::make_unique<CpuWeight>();
    w->out = out;
    w->in = in;
    w->qs = qs;
    w->dense = dense;
    if (qs) wbuf_.grow(static_cast<size_t>(out) * in);
    return w;
  }

  void linear_forward(float* y, const float* x, const FrozenWeight& W, const float* b, int N) override {
    if (bf16_weight(W))
      cpu::linear_forward_bf16(y, x, weight(W), b, N, W.in, W.out, act_scratch(W, N));
    else
      cpu::linear_forward(y, x, weight(W), b, N, W.in, W.out);
  }
  void linear_backward(float* dx, const float* dy, const FrozenWeight& W, int N, bool accumulate) override {
    if (bf16_weight(W))
      cpu::linear_backward_bf16(dx, dy, weight(W), N, W.in, W.out, accumulate, act_scratch(W, N));
    else
      cpu::linear_backward(dx, dy, weight(W), N, W.in, W.out, accumulate);
  }

  void lora_dropout_mask(uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream) override {
    cpu::lora_dropout_mask(mask, n, p, seed, stream);
  }
  void lora_forward(float* y, float* h, float* xd, const float* x, const uint8_t* mask, float dropout_p, const float* A,
                    const float* B, int N, int in, int r, int out, float scale) override {
    cpu::lora_forward(y, h, xd, x, mask, dropout_p, A, B, N, in, r, out, scale);
  }
  void lora_backward(float* dA, float* dB, float* dx, float* dh, float* xd, const float* dy, const float* x,
                     const uint8_t* mask, float dropout_p, const float* h, const float* A, const float* B, int N,
                     int in, int r, int out, float scale) override {
    cpu::lora_backward(dA, dB, dx, dh, xd, dy, x, mask, dropout_p, h, A, B, N, in, r, out, scale);
  }

  void rmsnorm_forward(float* out, float* rstd, const float* x, const float* weight, int N, int C, float eps) override {
    cpu::rmsnorm_forward(out, rstd, x, weight, N, C, eps);
  }
  void rmsnorm_backward(float* dx, const float* dout, const float* x, const float* weight, const float* rstd, int N,
                        int C, bool accumulate) override {
    cpu::rmsnorm_backward(dx, nullptr, dout, x, weight, rstd, N, C, accumulate);
  }
  void rope_forward(float* out, const float* inp, const float* cos, const float* sin, int N, int n_heads,
                    int head_dim) override {
    cpu::rope_forward(out, inp, cos, sin, N, n_heads, head_dim);
  }
  void rope_backward(float* dinp, const float* dout, const float* cos, const float* sin, int N, int n_heads,
                     int head_dim) override {
    cpu::rope_backward(dinp, dout, cos, sin, N, n_heads, head_dim);
  }
  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int32_t* seg,
                         int B, int T, int NH, int NKV, int HS, int window) override {
    cpu::attention_forward(out, lse, q, k, v, seg, B, T, NH, NKV, HS, window);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float*, const float* q,
                          const float* k, const float* v, const float* lse, const int32_t* seg, int B, int T, int NH,
                          int NKV, int HS, int window) override {
    cpu::attention_backward(dq, dk, dv, dout, q, k, v, lse, seg, B, T, NH, NKV, HS, window);
  }
  void attention_decode(float* out, const float* q, const float* kcache, const float* vcache, int j0, int p, int NH,
                        int NKV, int HS) override {
    cpu::attention_decode(out, q, kcache, vcache, j0, p, NH, NKV, HS);
  }
  void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) override {
    cpu::swiglu_forward(out, gate, up, n);
  }
  void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                       int64_t n) override {
    cpu::swiglu_backward(dgate, dup, dout, gate, up, n);
  }
  void embedding_forward(float* out, const int32_t* tokens, const FrozenWeight& table, int N) override {
    const auto& t = static_cast<const CpuWeight&>(table);
    LP_CHECK(t.dense != nullptr, "cpu backend: the embedding table must be dense");
    cpu::embedding_forward(out, tokens, t.dense, N, t.out, t.in);
  }
  void add(float* out, const float* a, const float* b, int64_t n) override {
    LP_OMP(parallel for if (n > (1 << 16)))
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
  }
  CrossEntropySum cross_entropy(float* logits, const int32_t* labels, int N, int V, float scale,
                                bool backward) override {
    return backward ? cross_entropy_fused(logits, nullptr, logits, labels, N, V, scale)
                    : cross_entropy_forward(nullptr, nullptr, logits, labels, N, V);
  }

  void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, int64_t step, double lr, double beta1,
                  double beta2, double eps, double weight_decay) override {
    cpu::adamw_step(param, grad, m, v, n, step, lr, beta1, beta2, eps, weight_decay);
  }
  double grad_global_norm(const float* const* grads, const int64_t* sizes, int count) override {
    return cpu::grad_global_norm(grads, sizes, count);
  }
  float clip_grad_norm(float* const* grads, const int64_t* sizes, int count, double max_norm) override {
    return cpu::clip_grad_norm(grads, sizes, count, max_norm);
  }

 private:
  // A 4-bit projection in bf16 precision: computed by the _bf16 ops.
  bool bf16_weight(const FrozenWeight& W) const { return bf16_ && static_cast<const CpuWeight&>(W).qs != nullptr; }
  const float* weight(const FrozenWeight& W) {
    const auto& w = static_cast<const CpuWeight&>(W);
    if (w.dense) return w.dense;
    w.qs->dequantize(wbuf_.data());
    if (bf16_) round_bf16(wbuf_.data(), wbuf_.data(), static_cast<int64_t>(W.out) * W.in);
    return wbuf_.data();
  }
  float* act_scratch(const FrozenWeight& W, int N) {
    act_.grow(linear_bf16_scratch(N, W.in, W.out));
    return act_.data();
  }
  void track(int64_t delta) {
    current_ = static_cast<size_t>(static_cast<int64_t>(current_) + delta);
    if (current_ > peak_) peak_ = current_;
  }

  const bool bf16_;
  size_t current_ = 0, peak_ = 0;
  Buffer<float> wbuf_{this};  // (max out*in) one dequantized projection, reused; after the counters it updates
  Buffer<float> act_{this};   // bf16 precision: the rounded activation rows of a projection (cpu/linear.h)
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(Precision precision) { return std::make_unique<CpuBackend>(precision); }

}  // namespace lp::cpu
