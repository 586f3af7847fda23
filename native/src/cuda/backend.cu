// cuda/backend.cu: CudaBackend, the Backend interface over the cuda/ ops: device memory counted per
// allocation (the step's peak is what StepStats reports), one stream for all work, host transfers
// ordered on it, a cuBLAS handle with its workspace in the counted memory.
#include "cuda/backend.h"

#include <string>

#include "cuda/check.h"
#include "cuda/ops.h"
#include "cuda/plan.h"

namespace lp::cuda {
namespace {

class CudaBackend final : public Backend {
 public:
  CudaBackend(Precision precision, int device) {
    LP_CUDA_CHECK(cudaSetDevice(device));
    cudaDeviceProp prop{};
    LP_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    name_ = std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
            (precision == Precision::BF16 ? "bf16" : "fp32") + ")";
    ctx_.precision = precision;
    LP_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx_.stream, cudaStreamNonBlocking));
    LP_CUBLAS_CHECK(cublasCreate(&ctx_.blas));
    LP_CUBLAS_CHECK(cublasSetStream(ctx_.blas, ctx_.stream));
    // fp32 precision means fp32 (no TF32 even under NVIDIA_TF32_OVERRIDE); bf16 keeps cuBLAS's default
    // math so its tensor-core kernels stay available.
    if (precision == Precision::F32) LP_CUBLAS_CHECK(cublasSetMathMode(ctx_.blas, CUBLAS_PEDANTIC_MATH));
    for (auto* b : {&ctx_.weight, &ctx_.cublas_ws}) b->bind(this);
    for (auto* b : {&ctx_.row_loss, &ctx_.attn_rowsum, &ctx_.decode_scores}) b->bind(this);
    ctx_.act_cast.bind(this);
    ctx_.norm_acc.bind(this);
    ctx_.cublas_ws.resize(kCublasWorkspaceBytes);  // the size the memory estimate counts
    LP_CUBLAS_CHECK(cublasSetWorkspace(ctx_.blas, ctx_.cublas_ws.data(), ctx_.cublas_ws.size()));
  }
  ~CudaBackend() override {  // no throwing here: errors at teardown are ignored
    cudaStreamSynchronize(ctx_.stream);
    cublasDestroy(ctx_.blas);
    const cudaStream_t stream = ctx_.stream;
    ctx_ = Context{};  // the workspace goes back through release() while the counters still exist
    cudaStreamDestroy(stream);
  }

  const char* name() const override { return "cuda"; }
  std::string device_name() const override { return name_; }
  bool host_visible() const override { return false; }

  void* alloc(size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    LP_CHECK(e == cudaSuccess, "cuda backend: cudaMalloc of " << bytes << " bytes failed (" << cudaGetErrorString(e)
                                                              << "); holding " << current_ << " bytes");
    LP_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, ctx_.stream));
    current_ += bytes;
    if (current_ > peak_) peak_ = current_;
    return p;
  }
  void release(void* p, size_t bytes) override {
    if (!p) return;
    cudaFree(p);  // synchronises the device: releases are rare (buffers only grow)
    current_ -= bytes;
  }
  void to_device(void* dst, const void* src, size_t bytes) override {
    LP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx_.stream));
    // The host source may change as soon as we return (pageable copies are staged, but be explicit).
    LP_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
  }
  void to_host(void* dst, const void* src, size_t bytes) override {
    LP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx_.stream));
    LP_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    LP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx_.stream));
  }
  void zero(void* p, size_t bytes) override { LP_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, ctx_.stream)); }
  MemoryStats memory() const override { return {current_, peak_}; }
  void reset_peak() override { peak_ = current_; }

  std::unique_ptr<FrozenWeight> frozen_weight(const QuantState* qs, const float* dense, int out, int in) override {
    return upload_weight(ctx_, *this, qs, dense, out, in);
  }
  void linear_forward(float* y, const float* x, const FrozenWeight& W, const float* b, int N) override {
    cuda::linear_forward(ctx_, y, x, W, b, N);
  }
  void linear_backward(float* dx, const float* dy, const FrozenWeight& W, int N, bool accumulate) override {
    cuda::linear_backward(ctx_, dx, dy, W, N, accumulate);
  }
  void lora_dropout_mask(uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream) override {
    cuda::lora_dropout_mask(ctx_, mask, n, p, seed, stream);
  }
  void lora_forward(float* y, float* h, float* xd, const float* x, const uint8_t* mask, float dropout_p, const float* A,
                    const float* B, int N, int in, int r, int out, float scale) override {
    cuda::lora_forward(ctx_, y, h, xd, x, mask, dropout_p, A, B, N, in, r, out, scale);
  }
  void lora_backward(float* dA, float* dB, float* dx, float* dh, float* xd, const float* dy, const float* x,
                     const uint8_t* mask, float dropout_p, const float* h, const float* A, const float* B, int N,
                     int in, int r, int out, float scale) override {
    cuda::lora_backward(ctx_, dA, dB, dx, dh, xd, dy, x, mask, dropout_p, h, A, B, N, in, r, out, scale);
  }
  void rmsnorm_forward(float* out, float* rstd, const float* x, const float* weight, int N, int C, float eps) override {
    cuda::rmsnorm_forward(ctx_, out, rstd, x, weight, N, C, eps);
  }
  void rmsnorm_backward(float* dx, const float* dout, const float* x, const float* weight, const float* rstd, int N,
                        int C, bool accumulate) override {
    cuda::rmsnorm_backward(ctx_, dx, dout, x, weight, rstd, N, C, accumulate);
  }
  void rope_forward(float* out, const float* inp, const float* cos, const float* sin, int N, int n_heads,
                    int head_dim) override {
    cuda::rope_forward(ctx_, out, inp, cos, sin, N, n_heads, head_dim);
  }
  void rope_backward(float* dinp, const float* dout, const float* cos, const float* sin, int N, int n_heads,
                     int head_dim) override {
    cuda::rope_backward(ctx_, dinp, dout, cos, sin, N, n_heads, head_dim);
  }
  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int32_t* seg,
                         int B, int T, int NH, int NKV, int HS, int window) override {
    cuda::attention_forward(ctx_, out, lse, q, k, v, seg, B, T, NH, NKV, HS, window);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q,
                          const float* k, const float* v, const float* lse, const int32_t* seg, int B, int T, int NH,
                          int NKV, int HS, int window) override {
    cuda::attention_backward(ctx_, dq, dk, dv, dout, out, q, k, v, lse, seg, B, T, NH, NKV, HS, window);
  }
  void attention_decode(float* out, const float* q, const float* kcache, const float* vcache, int j0, int p, int NH,
                        int NKV, int HS) override {
    cuda::attention_decode(ctx_, out, q, kcache, vcache, j0, p, NH, NKV, HS);
  }
  void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) override {
    cuda::swiglu_forward(ctx_, out, gate, up, n);
  }
  void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                       int64_t n) override {
    cuda::swiglu_backward(ctx_, dgate, dup, dout, gate, up, n);
  }
  void embedding_forward(float* out, const int32_t* tokens, const FrozenWeight& table, int N) override {
    cuda::embedding_forward(ctx_, out, tokens, table, N);
  }
  void add(float* out, const float* a, const float* b, int64_t n) override { cuda::add(ctx_, out, a, b, n); }
  CrossEntropySum cross_entropy(float* logits, const int32_t* labels, int N, int V, float scale,
                                bool backward) override {
    return cuda::cross_entropy(ctx_, logits, labels, N, V, scale, backward);
  }
  void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, int64_t step, double lr, double beta1,
                  double beta2, double eps, double weight_decay) override {
    cuda::adamw_step(ctx_, param, grad, m, v, n, step, lr, beta1, beta2, eps, weight_decay);
  }
  double grad_global_norm(const float* const* grads, const int64_t* sizes, int count) override {
    return cuda::grad_global_norm(ctx_, grads, sizes, count);
  }
  float clip_grad_norm(float* const* grads, const int64_t* sizes, int count, double max_norm) override {
    return cuda::clip_grad_norm(ctx_, grads, sizes, count, max_norm);
  }

  Context& context() { return ctx_; }

 private:
  std::string name_;
  size_t current_ = 0, peak_ = 0;
  Context ctx_;  // after the counters: its buffers are released through them
};

}  // namespace

DeviceProbe probe_devices() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the error so later calls start clean
    return {0, cudaGetErrorString(e)};
  }
  return {n, ""};
}

std::unique_ptr<Backend> make_cuda_backend(Precision precision, int device) {
  return std::make_unique<CudaBackend>(precision, device);
}

Context& context_of(Backend& be) {
  auto* cuda = dynamic_cast<CudaBackend*>(&be);
  LP_CHECK(cuda != nullptr, "context_of: backend \"" << be.name() << "\" is not the CUDA backend");
  return cuda->context();
}

}  // namespace lp::cuda
