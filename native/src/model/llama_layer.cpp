// model/llama_layer.cpp: one decoder layer, forward and backward, through the model's backend; batch
// preparation (positions, segments, shifted labels, RoPE tables on the host, then copied in).
//
//   h1    = x + o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1)))   n1 = rmsnorm(x)
//   x_out = h1 + down_proj(silu(gate_proj(n2)) * up_proj(n2))                    n2 = rmsnorm(h1)
// With qk_norm (Qwen3) each head's q and k vector goes through its own RMSNorm (q_norm, k_norm) before RoPE.
// Every projection is the frozen base (dequantized into one reused buffer) plus, when adapted,
// scale * B A drop(x), as PEFT's Linear4bit computes it.
#include <algorithm>

#include "core/check.h"
#include "core/loss.h"
#include "model/llama_impl.h"
#include "model/rope_tables.h"
#include "model/segments.h"

namespace lp {

LayerActs::LayerActs(Backend* be)
    : xn1(be),
      rstd1(be),
      q(be),
      k(be),
      v(be),
      qp(be),
      kp(be),
      rstdq(be),
      rstdk(be),
      lse(be),
      att(be),
      h1(be),
      xn2(be),
      rstd2(be),
      gate(be),
      up(be),
      act(be) {
  for (int p = 0; p < kNumProj; ++p) {
    lora_h[p].bind(be);
    lora_mask[p].bind(be);
  }
}

void Workspace::bind(Backend* be) {
  for (Buffer<int32_t>* b : {&ids_d, &seg_d, &labels_d}) b->bind(be);
  for (Buffer<float>* b : {&cos_d, &sin_d, &stream, &tmp, &xd, &xf, &rstdf, &dx, &dxn, &dq, &dk, &dv, &datt, &dgate,
                           &dup, &dact, &dh, &logits})
    b->bind(be);
}

void LlamaModel::Impl::prepare(const Batch& b, bool with_labels) {
  LP_CHECK(b.B > 0 && b.T > 0, "batch must have B > 0 rows of T > 0 tokens, got B = " << b.B << ", T = " << b.T);
  const size_t n = static_cast<size_t>(b.B) * b.T;
  LP_CHECK(b.input_ids.size() == n, "batch input_ids holds " << b.input_ids.size() << " ids, expected B * T = " << n);
  LP_CHECK(b.position_ids.empty() || b.position_ids.size() == n,
           "batch position_ids holds " << b.position_ids.size() << " ids, expected B * T = " << n << " (or none)");
  if (with_labels)
    LP_CHECK(b.labels.size() == n, "batch labels holds " << b.labels.size() << " labels, expected B * T = " << n);
  for (size_t i = 0; i < n; ++i)
    LP_CHECK(b.input_ids[i] >= 0 && b.input_ids[i] < V(),
             "batch input_ids[" << i << "] = " << b.input_ids[i] << " is outside the vocabulary [0, " << V() << ")");
  ws.B = b.B;
  ws.T = b.T;
  ws.N = static_cast<int>(n);
  ws.pos.resize(n);
  for (size_t i = 0; i < n; ++i) {
    ws.pos[i] = b.position_ids.empty() ? static_cast<int32_t>(i % b.T) : b.position_ids[i];
    LP_CHECK(ws.pos[i] >= 0, "batch position_ids[" << i << "] = " << ws.pos[i] << " is negative");
  }
  ws.seg.resize(n);
  segments_from_positions(ws.seg.data(), ws.pos.data(), b.B, b.T);
  const int half = static_cast<int>(HD() / 2);
  ws.cos.resize(n * half);
  ws.sin.resize(n * half);
  rope_cos_sin(ws.cos.data(), ws.sin.data(), ws.pos.data(), ws.N, inv_freq.data(), static_cast<int>(HD()));
  ws.ids_d.upload(b.input_ids);
  ws.seg_d.upload(ws.seg);
  ws.cos_d.upload(ws.cos);
  ws.sin_d.upload(ws.sin);
  if (!with_labels) return;
  // HF's shift: logits[t] is scored against labels[t + 1]; the last position of each row has no target.
  ws.labels.resize(n);
  for (int r = 0; r < b.B; ++r)
    for (int t = 0; t < b.T; ++t) {
      const size_t i = static_cast<size_t>(r) * b.T + t;
      const int32_t y = t + 1 < b.T ? b.labels[i + 1] : kIgnoreIndex;
      LP_CHECK(y == kIgnoreIndex || (y >= 0 && y < V()),
               "batch labels[" << i + 1 << "] = " << y << " is neither -100 nor in the vocabulary [0, " << V() << ")");
      ws.labels[i] = y;
    }
  ws.labels_d.upload(ws.labels);
}

void LlamaModel::Impl::size_acts(LayerActs& a, bool train) {
  const size_t N = static_cast<size_t>(ws.N);
  a.xn1.resize(N * C());
  a.rstd1.resize(N);
  a.q.resize(N * QD());
  a.k.resize(N * KVD());
  a.v.resize(N * KVD());
  const bool qkn = cfg.qk_norm;
  a.qp.resize(qkn ? N * QD() : 0);
  a.kp.resize(qkn ? N * KVD() : 0);
  a.rstdq.resize(qkn ? N * cfg.num_attention_heads : 0);
  a.rstdk.resize(qkn ? N * cfg.num_key_value_heads : 0);
  a.lse.resize(N * cfg.num_attention_heads);
  a.att.resize(N * QD());
  a.h1.resize(N * C());
  a.xn2.resize(N * C());
  a.rstd2.resize(N);
  a.gate.resize(N * F());
  a.up.resize(N * F());
  a.act.resize(N * F());
  const bool dropout = train && opts.lora.dropout > 0;
  for (int p = 0; p < kNumProj; ++p) {
    const Proj& pr = layers[0].proj[p];
    a.lora_h[p].resize(pr.lora >= 0 ? N * r() : 0);
    a.lora_mask[p].resize(pr.lora >= 0 && dropout ? N * pr.in : 0);
  }
  ws.tmp.grow(N * C());
  ws.xd.grow(dropout ? N * std::max({C(), QD(), F()}) : 0);
}

void LlamaModel::Impl::proj_forward(int l, int p, const float* x, float* y, LayerActs& a, bool train, int N) {
  const Proj& pr = layers[static_cast<size_t>(l)].proj[p];
  be->linear_forward(y, x, *pr.w, pr.bias_d.empty() ? nullptr : pr.bias_d.data(), N);
  if (!lora_on(pr)) return;
  const size_t A = static_cast<size_t>(pr.lora);
  const bool dropout = train && opts.lora.dropout > 0;
  uint8_t* mask = dropout ? a.lora_mask[p].data() : nullptr;
  if (mask)
    be->lora_dropout_mask(mask, static_cast<int64_t>(N) * pr.in, opts.lora.dropout, opts.lora.seed,
                          dropout_stream(l, p));
  be->lora_forward(y, a.lora_h[p].data(), dropout ? ws.xd.data() : nullptr, x, mask, opts.lora.dropout, lora_value(A),
                   lora_value(A + 1), N, pr.in, r(), pr.out, scaling);
}

void LlamaModel::Impl::proj_backward(int l, int p, const float* dy, const float* x, float* dx, bool accumulate,
                                     LayerActs& a, int N) {
  const Proj& pr = layers[static_cast<size_t>(l)].proj[p];
  if (dx) be->linear_backward(dx, dy, *pr.w, N, accumulate);
  if (!lora_on(pr)) return;
  const size_t A = static_cast<size_t>(pr.lora);
  const uint8_t* mask = a.lora_mask[p].empty() ? nullptr : a.lora_mask[p].data();
  ws.dh.grow(static_cast<size_t>(N) * r());
  be->lora_backward(lora_grad(A), lora_grad(A + 1), dx, ws.dh.data(), mask ? ws.xd.data() : nullptr, dy, x, mask,
                    opts.lora.dropout, a.lora_h[p].data(), lora_value(A), lora_value(A + 1), N, pr.in, r(), pr.out,
                    scaling);
}

void LlamaModel::Impl::qkv_forward(int l, LayerActs& a, bool train, int N, const float* cos, const float* sin) {
  const Layer& L = layers[static_cast<size_t>(l)];
  const int NH = static_cast<int>(cfg.num_attention_heads), NKV = static_cast<int>(cfg.num_key_value_heads),
            HD_ = static_cast<int>(HD());
  // With qk_norm the projections land in qp/kp, which the norms' backward reads.
  float* q = cfg.qk_norm ? a.qp.data() : a.q.data();
  float* k = cfg.qk_norm ? a.kp.data() : a.k.data();
  proj_forward(l, kQ, a.xn1.data(), q, a, train, N);
  proj_forward(l, kK, a.xn1.data(), k, a, train, N);
  proj_forward(l, kV, a.xn1.data(), a.v.data(), a, train, N);
  if (cfg.qk_norm) {  // one RMSNorm row per (token, head), head_dim wide
    const float eps = static_cast<float>(cfg.rms_norm_eps);
    be->rmsnorm_forward(a.q.data(), a.rstdq.data(), q, L.q_norm_d.data(), N * NH, HD_, eps);
    be->rmsnorm_forward(a.k.data(), a.rstdk.data(), k, L.k_norm_d.data(), N * NKV, HD_, eps);
  }
  be->rope_forward(a.q.data(), a.q.data(), cos, sin, N, NH, HD_);
  be->rope_forward(a.k.data(), a.k.data(), cos, sin, N, NKV, HD_);
}

void LlamaModel::Impl::layer_forward(int l, const float* x, float* x_out, LayerActs& a, bool train) {
  const Layer& L = layers[static_cast<size_t>(l)];
  const int N = ws.N, C_ = static_cast<int>(C()), NH = static_cast<int>(cfg.num_attention_heads),
            NKV = static_cast<int>(cfg.num_key_value_heads), HD_ = static_cast<int>(HD());
  const float eps = static_cast<float>(cfg.rms_norm_eps);
  size_acts(a, train);
  be->rmsnorm_forward(a.xn1.data(), a.rstd1.data(), x, L.attn_norm_d.data(), N, C_, eps);
  qkv_forward(l, a, train, N, ws.cos_d.data(), ws.sin_d.data());
  be->attention_forward(a.att.data(), a.lse.data(), a.q.data(), a.k.data(), a.v.data(), ws.seg_d.data(), ws.B, ws.T, NH,
                        NKV, HD_, static_cast<int>(cfg.sliding_window));
  proj_forward(l, kO, a.att.data(), ws.tmp.data(), a, train, N);
  const int64_t NC = static_cast<int64_t>(N) * C_;
  be->add(a.h1.data(), x, ws.tmp.data(), NC);
  be->rmsnorm_forward(a.xn2.data(), a.rstd2.data(), a.h1.data(), L.mlp_norm_d.data(), N, C_, eps);
  proj_forward(l, kGate, a.xn2.data(), a.gate.data(), a, train, N);
  proj_forward(l, kUp, a.xn2.data(), a.up.data(), a, train, N);
  be->swiglu_forward(a.act.data(), a.gate.data(), a.up.data(), static_cast<int64_t>(N) * F());
  proj_forward(l, kDown, a.act.data(), ws.tmp.data(), a, train, N);
  be->add(x_out, a.h1.data(), ws.tmp.data(), NC);
}

void LlamaModel::Impl::layer_backward(int l, const float* x, LayerActs& a) {
  const Layer& L = layers[static_cast<size_t>(l)];
  const int N = ws.N, C_ = static_cast<int>(C()), NH = static_cast<int>(cfg.num_attention_heads),
            NKV = static_cast<int>(cfg.num_key_value_heads), HD_ = static_cast<int>(HD());
  const size_t n = static_cast<size_t>(N);
  ws.dxn.grow(n * C_);
  ws.dq.grow(n * QD());
  ws.dk.grow(n * KVD());
  ws.dv.grow(n * KVD());
  ws.datt.grow(n * QD());
  ws.dgate.grow(n * F());
  ws.dup.grow(n * F());
  ws.dact.grow(n * F());
  float* dx = ws.dx.data();  // dL/dx_out, which is also dL/dh1's residual part

  // MLP: x_out = h1 + down(act)
  proj_backward(l, kDown, dx, a.act.data(), ws.dact.data(), false, a, N);
  be->swiglu_backward(ws.dgate.data(), ws.dup.data(), ws.dact.data(), a.gate.data(), a.up.data(),
                      static_cast<int64_t>(N) * F());
  proj_backward(l, kGate, ws.dgate.data(), a.xn2.data(), ws.dxn.data(), false, a, N);
  proj_backward(l, kUp, ws.dup.data(), a.xn2.data(), ws.dxn.data(), true, a, N);
  be->rmsnorm_backward(dx, ws.dxn.data(), a.h1.data(), L.mlp_norm_d.data(), a.rstd2.data(), N, C_, true);

  // Attention: h1 = x + o(attn(q, k, v))
  proj_backward(l, kO, dx, a.att.data(), ws.datt.data(), false, a, N);
  be->attention_backward(ws.dq.data(), ws.dk.data(), ws.dv.data(), ws.datt.data(), a.att.data(), a.q.data(), a.k.data(),
                         a.v.data(), a.lse.data(), ws.seg_d.data(), ws.B, ws.T, NH, NKV, HD_,
                         static_cast<int>(cfg.sliding_window));
  be->rope_backward(ws.dq.data(), ws.dq.data(), ws.cos_d.data(), ws.sin_d.data(), N, NH, HD_);
  be->rope_backward(ws.dk.data(), ws.dk.data(), ws.cos_d.data(), ws.sin_d.data(), N, NKV, HD_);
  // qk_norm: dq, dk are the norms' output grads. Each norm's input grad goes to ws.datt (free since the
  // attention backward) and is used up by its projection's backward before the next one overwrites it.
  auto norm_input_grad = [&](const float* dy, const Buffer<float>& pre, const Buffer<float>& w,
                             const Buffer<float>& rstd, int heads) -> const float* {
    if (!cfg.qk_norm) return dy;
    be->rmsnorm_backward(ws.datt.data(), dy, pre.data(), w.data(), rstd.data(), N * heads, HD_, false);
    return ws.datt.data();
  };
  // Layer 0's input is the frozen embedding: only the LoRA grads of q/k/v are needed there.
  float* dxn = l > 0 ? ws.dxn.data() : nullptr;
  proj_backward(l, kQ, norm_input_grad(ws.dq.data(), a.qp, L.q_norm_d, a.rstdq, NH), a.xn1.data(), dxn, false, a, N);
  proj_backward(l, kK, norm_input_grad(ws.dk.data(), a.kp, L.k_norm_d, a.rstdk, NKV), a.xn1.data(), dxn, true, a, N);
  proj_backward(l, kV, ws.dv.data(), a.xn1.data(), dxn, true, a, N);
  if (l > 0) be->rmsnorm_backward(dx, ws.dxn.data(), x, L.attn_norm_d.data(), a.rstd1.data(), N, C_, true);
}

}  // namespace lp
