// model/llama_impl.h: LlamaModel's private state, shared by the files that implement it
// (llama_load.cpp: loading and accessors; llama_layer.cpp: batch checks and one decoder layer forward/backward;
// llama_train.cpp: the whole-model forward, loss and backward; llama_generate.cpp: KV-cache decoding).
//
// Shapes: N = B*T tokens, C hidden, V vocab, NH/NKV heads, HD head dim, QD = NH*HD, KVD = NKV*HD,
// F intermediate, r LoRA rank.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/buffer.h"
#include "core/json.h"
#include "core/model_config.h"
#include "model/llama.h"
#include "quant/quant4.h"

namespace lp {

// Index of a projection in a layer, in PEFT's key order.
enum ProjIndex { kQ = 0, kK, kV, kO, kGate, kUp, kDown, kNumProj };

// One frozen projection y = x W^T (+ b), W (out, in), plus the index of its LoRA pair. The host
// tensors are what was loaded (export, merge, tests read them); w and bias_d are the backend's form.
struct Proj {
  int out = 0, in = 0;
  bool quantized = false;
  QuantState qs;             // when quantized
  std::vector<float> dense;  // (out, in) when !quantized
  std::vector<float> bias;   // (out) or empty
  int lora = -1;             // index of lora_A in Impl::params (lora_B at lora + 1); -1: not adapted
  std::unique_ptr<FrozenWeight> w;
  Buffer<float> bias_d;        // (out) or empty
  size_t state_bytes = 0;      // qs's data bytes, counted before a device backend's model releases them
  bool host_released = false;  // qs's data lives only in w (a device backend); host_state brings it back
};

struct Layer {
  std::vector<float> attn_norm, mlp_norm;  // (C) input_layernorm, post_attention_layernorm
  std::vector<float> q_norm, k_norm;       // (HD) self_attn.q_norm/k_norm (qk_norm only, else empty)
  Buffer<float> attn_norm_d, mlp_norm_d, q_norm_d, k_norm_d;
  Proj proj[kNumProj];
};

// The activations one layer's backward needs, for N tokens, in the backend's memory. With activation
// checkpointing a single instance is reused: each layer is recomputed from its saved input just
// before its backward.
struct LayerActs {
  explicit LayerActs(Backend* be);
  Buffer<float> xn1, rstd1;             // (N, C), (N): attention RMSNorm output and 1/rms
  Buffer<float> q, k, v;                // (N, QD), (N, KVD), (N, KVD): after bias, q/k norm and RoPE (q, k)
  Buffer<float> qp, kp, rstdq, rstdk;   // qk_norm only: (N, QD), (N, KVD) projections, (N, NH), (N, NKV) 1/rms
  Buffer<float> lse;                    // (N, NH) attention log-sum-exp
  Buffer<float> att;                    // (N, QD) attention output, o_proj's input
  Buffer<float> h1;                     // (N, C) residual after attention
  Buffer<float> xn2, rstd2;             // (N, C), (N)
  Buffer<float> gate, up, act;          // (N, F) each; act = silu(gate) * up, down_proj's input
  Buffer<float> lora_h[kNumProj];       // (N, r) drop(x) A^T of each adapted projection
  Buffer<uint8_t> lora_mask[kNumProj];  // (N, in) dropout keep-mask, only with dropout
};

// Buffers of one call, grown to the largest N seen and reused (no allocation per layer or token).
// The host vectors are computed on the host; their *_d twins are the backend's copies.
struct Workspace {
  void bind(Backend* be);
  int B = 0, T = 0, N = 0;
  std::vector<int32_t> pos, seg, labels;  // (N): positions, packed-document ids, shifted labels
  std::vector<float> cos, sin;            // (N, HD/2)
  Buffer<int32_t> ids_d, seg_d, labels_d;
  Buffer<float> cos_d, sin_d;
  Buffer<float> stream;            // (L+1, N, C) residual stream at each layer boundary (2 slots in inference)
  std::vector<LayerActs> acts;     // one per layer without checkpointing, else one
  Buffer<float> tmp;               // (N, C) o_proj / down_proj output before the residual add
  Buffer<float> xd;                // (N, max in) dropped LoRA input
  Buffer<float> xf, rstdf;         // (N, C), (N) after the final norm
  Buffer<float> dx, dxn;           // (N, C) residual-stream gradient; gradient of a norm's output
  Buffer<float> dq, dk, dv, datt;  // (N, QD), (N, KVD), (N, KVD), (N, QD)
  Buffer<float> dgate, dup, dact;  // (N, F)
  Buffer<float> dh;                // (N, r) LoRA scratch
  Buffer<float> logits;            // (rows, V) one chunk of the lm_head output
};

// A LoRA tensor's value and gradient in the backend's memory (only on a backend that is not
// host-visible; the CPU backend works on LoraParam's vectors in place).
struct LoraBuffers {
  Buffer<float> value, grad;
};

struct LlamaModel::Impl {
  std::unique_ptr<Backend> be;  // first: every Buffer below is released before it goes
  std::string dir;
  Json hf_config;
  ModelConfig cfg;
  LoadOptions opts;
  float scaling = 1.f;
  bool adapters = true;

  std::vector<float> embed;       // (V, C)
  std::vector<float> final_norm;  // (C)
  std::vector<float> lm_head;     // (V, C); empty when tied to embed
  Buffer<float> final_norm_d;
  std::unique_ptr<FrozenWeight> embed_w, lm_head_w;  // the backend's tables; lm_head_w is null when tied
  std::vector<Layer> layers;
  std::vector<float> inv_freq;  // (HD/2)
  std::vector<LoraParam> params;
  // On a backend that is not host-visible the LoRA tensors live in dparams; params then holds host
  // copies, refreshed on demand. host_fresh: params equals the backend copy; device_fresh: the
  // backend copy equals params (a caller may have edited params through the non-const accessor).
  std::vector<LoraBuffers> dparams;
  bool host_fresh = true, device_fresh = true;
  std::vector<DenseTensor> dense_index;  // the fp32 frozen tensors by HF name, for export

  // Counts forward passes with dropout (from 1, so dropout streams never meet the LoRA init streams):
  // every micro-batch draws fresh masks while the recomputation under activation checkpointing
  // replays the same ones.
  uint64_t dropout_calls = 0;

  // Scratch reused across calls (grown, never shrunk): no allocation per token or layer.
  Workspace ws;

  const FrozenWeight& lm_weight() const { return lm_head_w ? *lm_head_w : *embed_w; }
  // The LoRA tensor i (value, grad) in the backend's memory; sync_to_device first.
  float* lora_value(size_t i) { return dparams.empty() ? params[i].value.data() : dparams[i].value.data(); }
  float* lora_grad(size_t i) { return dparams.empty() ? params[i].grad.data() : dparams[i].grad.data(); }
  void sync_to_device();                  // before the backend reads or writes LoRA tensors
  void sync_to_host();                    // before the host reads params
  const QuantState& host_state(Proj& p);  // p.qs with its data (downloaded again once if it was released)

  // llama_layer.cpp. `train` turns LoRA dropout on, with masks from dropout_stream (this call's counter).
  void prepare(const Batch& batch, bool with_labels);  // checks the batch, fills ws.pos/seg/labels/cos/sin
  void size_acts(LayerActs& a, bool train);
  void proj_forward(int layer, int p, const float* x, float* y, LayerActs& a, bool train, int N);
  void proj_backward(int layer, int p, const float* dy, const float* x, float* dx, bool accumulate, LayerActs& a,
                     int N);
  // a.q, a.k, a.v (N rows) from the attention norm's output a.xn1: the projections, the per-head q/k norm
  // (qk_norm), then RoPE with the (N, HD/2) tables cos, sin. Shared by the batched forward and decoding.
  void qkv_forward(int layer, LayerActs& a, bool train, int N, const float* cos, const float* sin);
  // x_out (N, C) = layer(x_in); fills a with what the backward needs.
  void layer_forward(int layer, const float* x_in, float* x_out, LayerActs& a, bool train);
  // On entry ws.dx holds dL/dx_out; on exit dL/dx_in (skipped for layer 0, whose input is the frozen embedding).
  void layer_backward(int layer, const float* x_in, LayerActs& a);
  uint64_t dropout_stream(int layer, int p) const {
    return (dropout_calls << 20) | static_cast<uint64_t>(layer * kNumProj + p);
  }

  // llama_train.cpp: forward (+ loss, + backward into the LoRA grads when `backward`); with logits_out,
  // the forward only, writing (N, V) logits.
  LossStats run(const Batch& batch, bool backward, float grad_scale, std::vector<float>* logits_out);

  int64_t C() const { return cfg.hidden_size; }
  int64_t F() const { return cfg.intermediate_size; }
  int64_t V() const { return cfg.vocab_size; }
  int64_t HD() const { return cfg.head_dim; }
  int64_t QD() const { return cfg.q_dim(); }
  int64_t KVD() const { return cfg.kv_dim(); }
  int r() const { return opts.lora.r; }
  bool lora_on(const Proj& p) const { return adapters && p.lora >= 0; }
};

}  // namespace lp
