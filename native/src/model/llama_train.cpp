// model/llama_train.cpp: the whole-model pass: embedding, decoder layers (with activation
// checkpointing), final norm, lm_head and the masked causal-LM cross-entropy, then the backward into
// the LoRA grads. Also the public forward_backward / evaluate / logits.
//
// The lm_head and the loss run in chunks of rows, each chunk's dlogits turned into d(final norm)
// at once, so the (N, V) logits are never held whole during training.
#include <algorithm>

#include "core/check.h"
#include "core/loss.h"
#include "model/llama_impl.h"
#include "model/memory_estimate.h"

namespace lp {

LossStats LlamaModel::Impl::run(const Batch& b, bool backward, float grad_scale, std::vector<float>* logits_out) {
  prepare(b, logits_out == nullptr);
  sync_to_device();
  const bool train = backward;  // dropout is active in training only
  if (train && opts.lora.dropout > 0 && adapters) ++dropout_calls;
  const int L = static_cast<int>(cfg.num_hidden_layers), N = ws.N, C_ = static_cast<int>(C()),
            V_ = static_cast<int>(V());
  const size_t NC = static_cast<size_t>(N) * C_;
  const bool ckpt = opts.activation_checkpointing;

  // Residual stream: every layer boundary is kept for the backward; inference ping-pongs two slots.
  ws.stream.resize((backward ? L + 1 : 2) * NC);
  auto slot = [&](int i) { return ws.stream.data() + (backward ? i : i % 2) * NC; };
  const size_t n_acts = backward && !ckpt ? L : 1;
  while (ws.acts.size() < n_acts) ws.acts.emplace_back(be.get());
  ws.acts.erase(ws.acts.begin() + static_cast<std::ptrdiff_t>(n_acts), ws.acts.end());
  auto acts = [&](int l) -> LayerActs& { return ws.acts[ws.acts.size() == 1 ? 0 : l]; };

  be->embedding_forward(slot(0), ws.ids_d.data(), *embed_w, N);
  for (int l = 0; l < L; ++l) layer_forward(l, slot(l), slot(l + 1), acts(l), train);

  ws.xf.resize(NC);
  ws.rstdf.resize(N);
  be->rmsnorm_forward(ws.xf.data(), ws.rstdf.data(), slot(L), final_norm_d.data(), N, C_,
                      static_cast<float>(cfg.rms_norm_eps));
  const FrozenWeight& W = lm_weight();  // (V, C)
  if (logits_out) {
    ws.logits.resize(static_cast<size_t>(N) * V_);
    // logits (N, V) = xf (N, C) @ W^T
    be->linear_forward(ws.logits.data(), ws.xf.data(), W, nullptr, N);
    logits_out->resize(ws.logits.size());
    ws.logits.download(logits_out->data(), logits_out->size());
    return {};
  }

  LossStats stats;
  if (backward) ws.dxn.grow(NC);
  float* dxf = ws.dxn.data();  // d(final norm output) (N, C)
  const int rows = lm_head_chunk_rows(N, V_);
  ws.logits.resize(static_cast<size_t>(rows) * V_);
  for (int n0 = 0; n0 < N; n0 += rows) {
    const int m = std::min(rows, N - n0);
    const int32_t* y = ws.labels.data() + n0;
    if (std::all_of(y, y + m, [](int32_t t) { return t == kIgnoreIndex; })) {  // nothing to score here
      if (backward) be->zero(dxf + static_cast<size_t>(n0) * C_, static_cast<size_t>(m) * C_ * sizeof(float));
      continue;
    }
    // logits (m, V) = xf[n0:n0+m] (m, C) @ W^T
    be->linear_forward(ws.logits.data(), ws.xf.data() + static_cast<size_t>(n0) * C_, W, nullptr, m);
    const CrossEntropySum ce =
        be->cross_entropy(ws.logits.data(), ws.labels_d.data() + n0, m, V_, grad_scale, backward);
    stats.loss_sum += ce.loss_sum;
    stats.tokens += ce.n_valid;
    // dxf[n0:n0+m] (m, C) = dlogits (m, V) @ W (V, C)
    if (backward) be->linear_backward(dxf + static_cast<size_t>(n0) * C_, ws.logits.data(), W, m, false);
  }
  if (!backward) return stats;

  ws.dx.grow(NC);
  be->rmsnorm_backward(ws.dx.data(), dxf, slot(L), final_norm_d.data(), ws.rstdf.data(), N, C_, false);
  for (int l = L - 1; l >= 0; --l) {
    // Recompute the layer from its saved input (same dropout masks: same call counter). Its output
    // overwrites slot l+1 with identical values, which nothing reads any more. The last layer's
    // activations are still there from the forward.
    if (ckpt && l < L - 1) layer_forward(l, slot(l), slot(l + 1), acts(l), train);
    layer_backward(l, slot(l), acts(l));
  }
  return stats;
}

LossStats LlamaModel::forward_backward(const Batch& batch, float grad_scale) {
  return impl_->run(batch, true, grad_scale, nullptr);
}

LossStats LlamaModel::evaluate(const Batch& batch) { return impl_->run(batch, false, 0.f, nullptr); }

void LlamaModel::logits(const Batch& batch, std::vector<float>& out) { impl_->run(batch, false, 0.f, &out); }

}  // namespace lp
