// model/llama_layer.cpp: one decoder layer, forward and backward, on the cpu/ ops; batch preparation.
//
//   h1    = x + o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1)))   n1 = rmsnorm(x)
//   x_out = h1 + down_proj(silu(gate_proj(n2)) * up_proj(n2))                    n2 = rmsnorm(h1)
// Every projection is the frozen base (dequantized into one reused buffer) plus, when adapted,
// scale * B A drop(x), as PEFT's Linear4bit computes it.
#include <algorithm>

#include "core/check.h"
#include "cpu/attention.h"
#include "cpu/cross_entropy.h"
#include "cpu/linear.h"
#include "cpu/lora.h"
#include "cpu/rmsnorm.h"
#include "cpu/rope.h"
#include "cpu/swiglu.h"
#include "model/llama_impl.h"

namespace lp {

namespace {
template <typename T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}
}  // namespace

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
  cpu::attention_segments_from_positions(ws.seg.data(), ws.pos.data(), b.B, b.T);
  const int half = static_cast<int>(HD() / 2);
  ws.cos.resize(n * half);
  ws.sin.resize(n * half);
  cpu::rope_cos_sin(ws.cos.data(), ws.sin.data(), ws.pos.data(), ws.N, inv_freq.data(), static_cast<int>(HD()));
  if (!with_labels) return;
  // HF's shift: logits[t] is scored against labels[t + 1]; the last position of each row has no target.
  ws.labels.resize(n);
  for (int r = 0; r < b.B; ++r)
    for (int t = 0; t < b.T; ++t) {
      const size_t i = static_cast<size_t>(r) * b.T + t;
      const int32_t y = t + 1 < b.T ? b.labels[i + 1] : cpu::kIgnoreIndex;
      LP_CHECK(y == cpu::kIgnoreIndex || (y >= 0 && y < V()),
               "batch labels[" << i + 1 << "] = " << y << " is neither -100 nor in the vocabulary [0, " << V() << ")");
      ws.labels[i] = y;
    }
}

void LlamaModel::Impl::size_acts(LayerActs& a, bool train) {
  const size_t N = static_cast<size_t>(ws.N);
  a.xn1.resize(N * C());
  a.rstd1.resize(N);
  a.q.resize(N * QD());
  a.k.resize(N * KVD());
  a.v.resize(N * KVD());
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
  grow(ws.tmp, N * C());
  grow(ws.xd, dropout ? N * std::max({C(), QD(), F()}) : 0);
}

void LlamaModel::Impl::proj_forward(int l, int p, const float* x, float* y, LayerActs& a, bool train, int N) {
  const Proj& pr = layers[static_cast<size_t>(l)].proj[p];
  cpu::linear_forward(y, x, weight(pr), pr.bias.empty() ? nullptr : pr.bias.data(), N, pr.in, pr.out);
  if (!lora_on(pr)) return;
  const LoraParam& A = params[static_cast<size_t>(pr.lora)];
  const LoraParam& Bp = params[static_cast<size_t>(pr.lora) + 1];
  const bool dropout = train && opts.lora.dropout > 0;
  uint8_t* mask = dropout ? a.lora_mask[p].data() : nullptr;
  if (mask) cpu::lora_dropout_mask(mask, static_cast<int64_t>(N) * pr.in, opts.lora.dropout, opts.lora.seed, dropout_stream(l, p));
  cpu::lora_forward(y, a.lora_h[p].data(), dropout ? ws.xd.data() : nullptr, x, mask, opts.lora.dropout, A.value.data(),
                    Bp.value.data(), N, pr.in, r(), pr.out, scaling);
}

void LlamaModel::Impl::proj_backward(int l, int p, const float* dy, const float* x, float* dx, bool accumulate,
                                     LayerActs& a, int N) {
  const Proj& pr = layers[static_cast<size_t>(l)].proj[p];
  if (dx) cpu::linear_backward(dx, dy, weight(pr), N, pr.in, pr.out, accumulate);
  if (!lora_on(pr)) return;
  LoraParam& A = params[static_cast<size_t>(pr.lora)];
  LoraParam& Bp = params[static_cast<size_t>(pr.lora) + 1];
  const uint8_t* mask = a.lora_mask[p].empty() ? nullptr : a.lora_mask[p].data();
  grow(ws.dh, static_cast<size_t>(N) * r());
  cpu::lora_backward(A.grad.data(), Bp.grad.data(), dx, ws.dh.data(), mask ? ws.xd.data() : nullptr, dy, x, mask,
                     opts.lora.dropout, a.lora_h[p].data(), A.value.data(), Bp.value.data(), N, pr.in, r(), pr.out,
                     scaling);
}

void LlamaModel::Impl::layer_forward(int l, const float* x, float* x_out, LayerActs& a, bool train) {
  const Layer& L = layers[static_cast<size_t>(l)];
  const int N = ws.N, C_ = static_cast<int>(C()), NH = static_cast<int>(cfg.num_attention_heads),
            NKV = static_cast<int>(cfg.num_key_value_heads), HD_ = static_cast<int>(HD());
  const float eps = static_cast<float>(cfg.rms_norm_eps);
  size_acts(a, train);
  cpu::rmsnorm_forward(a.xn1.data(), a.rstd1.data(), x, L.attn_norm.data(), N, C_, eps);
  proj_forward(l, kQ, a.xn1.data(), a.q.data(), a, train, N);
  proj_forward(l, kK, a.xn1.data(), a.k.data(), a, train, N);
  proj_forward(l, kV, a.xn1.data(), a.v.data(), a, train, N);
  cpu::rope_forward(a.q.data(), a.q.data(), ws.cos.data(), ws.sin.data(), N, NH, HD_);
  cpu::rope_forward(a.k.data(), a.k.data(), ws.cos.data(), ws.sin.data(), N, NKV, HD_);
  cpu::attention_forward(a.att.data(), a.lse.data(), a.q.data(), a.k.data(), a.v.data(), ws.seg.data(), ws.B, ws.T, NH,
                         NKV, HD_, static_cast<int>(cfg.sliding_window));
  proj_forward(l, kO, a.att.data(), ws.tmp.data(), a, train, N);
  const size_t NC = static_cast<size_t>(N) * C_;
#pragma omp parallel for if (NC > (1 << 16))
  for (size_t i = 0; i < NC; ++i) a.h1[i] = x[i] + ws.tmp[i];
  cpu::rmsnorm_forward(a.xn2.data(), a.rstd2.data(), a.h1.data(), L.mlp_norm.data(), N, C_, eps);
  proj_forward(l, kGate, a.xn2.data(), a.gate.data(), a, train, N);
  proj_forward(l, kUp, a.xn2.data(), a.up.data(), a, train, N);
  cpu::swiglu_forward(a.act.data(), a.gate.data(), a.up.data(), static_cast<int64_t>(N) * F());
  proj_forward(l, kDown, a.act.data(), ws.tmp.data(), a, train, N);
#pragma omp parallel for if (NC > (1 << 16))
  for (size_t i = 0; i < NC; ++i) x_out[i] = a.h1[i] + ws.tmp[i];
}

void LlamaModel::Impl::layer_backward(int l, const float* x, LayerActs& a) {
  const Layer& L = layers[static_cast<size_t>(l)];
  const int N = ws.N, C_ = static_cast<int>(C()), NH = static_cast<int>(cfg.num_attention_heads),
            NKV = static_cast<int>(cfg.num_key_value_heads), HD_ = static_cast<int>(HD());
  const size_t n = static_cast<size_t>(N);
  grow(ws.dxn, n * C_);
  grow(ws.dq, n * QD());
  grow(ws.dk, n * KVD());
  grow(ws.dv, n * KVD());
  grow(ws.datt, n * QD());
  grow(ws.dgate, n * F());
  grow(ws.dup, n * F());
  grow(ws.dact, n * F());
  float* dx = ws.dx.data();  // dL/dx_out, which is also dL/dh1's residual part

  // MLP: x_out = h1 + down(act)
  proj_backward(l, kDown, dx, a.act.data(), ws.dact.data(), false, a, N);
  cpu::swiglu_backward(ws.dgate.data(), ws.dup.data(), ws.dact.data(), a.gate.data(), a.up.data(), static_cast<int64_t>(N) * F());
  proj_backward(l, kGate, ws.dgate.data(), a.xn2.data(), ws.dxn.data(), false, a, N);
  proj_backward(l, kUp, ws.dup.data(), a.xn2.data(), ws.dxn.data(), true, a, N);
  cpu::rmsnorm_backward(dx, nullptr, ws.dxn.data(), a.h1.data(), L.mlp_norm.data(), a.rstd2.data(), N, C_, true);

  // Attention: h1 = x + o(attn(q, k, v))
  proj_backward(l, kO, dx, a.att.data(), ws.datt.data(), false, a, N);
  cpu::attention_backward(ws.dq.data(), ws.dk.data(), ws.dv.data(), ws.datt.data(), a.q.data(), a.k.data(), a.v.data(),
                          a.lse.data(), ws.seg.data(), ws.B, ws.T, NH, NKV, HD_, static_cast<int>(cfg.sliding_window));
  cpu::rope_backward(ws.dq.data(), ws.dq.data(), ws.cos.data(), ws.sin.data(), N, NH, HD_);
  cpu::rope_backward(ws.dk.data(), ws.dk.data(), ws.cos.data(), ws.sin.data(), N, NKV, HD_);
  // Layer 0's input is the frozen embedding: only the LoRA grads of q/k/v are needed there.
  float* dxn = l > 0 ? ws.dxn.data() : nullptr;
  proj_backward(l, kQ, ws.dq.data(), a.xn1.data(), dxn, false, a, N);
  proj_backward(l, kK, ws.dk.data(), a.xn1.data(), dxn, true, a, N);
  proj_backward(l, kV, ws.dv.data(), a.xn1.data(), dxn, true, a, N);
  if (l > 0) cpu::rmsnorm_backward(dx, nullptr, ws.dxn.data(), x, L.attn_norm.data(), a.rstd1.data(), N, C_, true);
}

}  // namespace lp
