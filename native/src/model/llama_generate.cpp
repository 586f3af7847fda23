// model/llama_generate.cpp: autoregressive sampling with a KV cache, through the model's backend. The
// prompt goes through the batched layer forward once (its post-RoPE k and v fill the cache); each new token then runs
// every layer for one row, attending over the cache. Sampling follows transformers' logits processors: logits /
// temperature, then top-p (TopPLogitsWarper: drop the smallest tokens whose cumulative probability stays <= 1 - top_p,
// always keep the most likely), then one draw from lp's RNG.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/check.h"
#include "core/rng.h"
#include "model/llama_impl.h"
#include "model/rope_tables.h"

namespace lp {

namespace {

// Index of the token drawn from logits (V); probs and order are (V) scratch.
int32_t sample(const float* logits, int V, float temperature, float top_p, float u, std::vector<double>& probs,
               std::vector<int32_t>& order) {
  if (temperature <= 0) return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  const float mx = *std::max_element(logits, logits + V);
  double sum = 0;
  for (int i = 0; i < V; ++i) sum += probs[i] = std::exp((static_cast<double>(logits[i]) - mx) / temperature);
  for (int i = 0; i < V; ++i) probs[i] /= sum;
  // Keep the most likely tokens up to (and including) the one that takes the mass to top_p: the
  // complement of HF's "ascending cumulative mass <= 1 - top_p" removal.
  int keep = V;
  order.resize(V);
  std::iota(order.begin(), order.end(), 0);
  if (top_p < 1) {
    std::sort(order.begin(), order.end(),
              [&](int32_t a, int32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
    double acc = 0;
    for (int i = 0; i < V; ++i) {
      acc += probs[order[i]];
      if (acc >= top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0;
  for (int i = 0; i < keep; ++i) kept += probs[order[i]];
  double target = static_cast<double>(u) * kept, acc = 0;
  for (int i = 0; i < keep; ++i) {
    acc += probs[order[i]];
    if (target < acc) return order[i];
  }
  return order[keep - 1];
}

}  // namespace

std::vector<int32_t> LlamaModel::generate(const std::vector<int32_t>& prompt, int max_new_tokens, float temperature,
                                          float top_p, uint64_t seed, const std::vector<int32_t>& stop_ids) {
  Impl& m = *impl_;
  LP_CHECK(!prompt.empty(), "generate needs a non-empty prompt");
  LP_CHECK(max_new_tokens >= 0, "generate: max_new_tokens must not be negative, got " << max_new_tokens);
  LP_CHECK(temperature >= 0, "generate: temperature must not be negative, got " << temperature);
  LP_CHECK(top_p > 0 && top_p <= 1, "generate: top_p must lie in (0, 1], got " << top_p);
  std::vector<int32_t> out;
  if (max_new_tokens == 0) return out;

  const ModelConfig& c = m.cfg;
  Backend& be = *m.be;
  const int L = static_cast<int>(c.num_hidden_layers), C = static_cast<int>(m.C()), V = static_cast<int>(m.V()),
            NH = static_cast<int>(c.num_attention_heads), NKV = static_cast<int>(c.num_key_value_heads),
            HD = static_cast<int>(m.HD()), KVD = static_cast<int>(m.KVD()), F = static_cast<int>(m.F());
  const int P = static_cast<int>(prompt.size());
  const int cap = P + max_new_tokens;
  const int window = static_cast<int>(c.sliding_window);
  const float eps = static_cast<float>(c.rms_norm_eps);
  Buffer<float> kcache(&be), vcache(&be);  // (L, cap, KVD)
  kcache.resize(static_cast<size_t>(L) * cap * KVD);
  vcache.resize(kcache.size());
  const size_t fsz = sizeof(float);

  // Prefill: the prompt as one batch row; every layer's k (after RoPE) and v go into the cache.
  Batch pb;
  pb.B = 1;
  pb.T = P;
  pb.input_ids = prompt;
  m.prepare(pb, false);
  m.sync_to_device();
  m.ws.stream.resize(2 * static_cast<size_t>(P) * C);
  if (m.ws.acts.empty()) m.ws.acts.emplace_back(&be);
  LayerActs& a = m.ws.acts[0];
  float* x0 = m.ws.stream.data();
  float* x1 = x0 + static_cast<size_t>(P) * C;
  be.embedding_forward(x0, m.ws.ids_d.data(), *m.embed_w, P);
  for (int l = 0; l < L; ++l) {
    m.layer_forward(l, x0, x1, a, false);
    be.copy(kcache.data() + static_cast<size_t>(l) * cap * KVD, a.k.data(), static_cast<size_t>(P) * KVD * fsz);
    be.copy(vcache.data() + static_cast<size_t>(l) * cap * KVD, a.v.data(), static_cast<size_t>(P) * KVD * fsz);
    std::swap(x0, x1);
  }
  Buffer<float> x(&be), xn(&be), rstd(&be), tmp(&be), logits_d(&be), cosr(&be), sinr(&be);
  Buffer<int32_t> tok_d(&be);
  x.resize(C);  // the last row
  be.copy(x.data(), x0 + static_cast<size_t>(P - 1) * C, C * fsz);

  // Decode buffers (one row), reused for every token.
  xn.resize(C);
  rstd.resize(1);
  tmp.resize(C);
  logits_d.resize(V);
  std::vector<float> logits(V), cos_h(HD / 2), sin_h(HD / 2);
  std::vector<double> probs(V);
  std::vector<int32_t> order;
  const Rng rng(seed, 0);

  for (int step = 0;; ++step) {
    be.rmsnorm_forward(xn.data(), rstd.data(), x.data(), m.final_norm_d.data(), 1, C, eps);
    // logits (1, V) = xn (1, C) @ W^T
    be.linear_forward(logits_d.data(), xn.data(), m.lm_weight(), nullptr, 1);
    logits_d.download(logits.data(), V);
    const int32_t tok =
        sample(logits.data(), V, temperature, top_p, rng.uniform(static_cast<uint64_t>(step)), probs, order);
    out.push_back(tok);
    if (static_cast<int>(out.size()) == max_new_tokens ||
        std::find(stop_ids.begin(), stop_ids.end(), tok) != stop_ids.end())
      break;

    // One new row at position p = P + step through every layer.
    const int32_t p = P + step;
    m.ws.B = m.ws.T = m.ws.N = 1;
    rope_cos_sin(cos_h.data(), sin_h.data(), &p, 1, m.inv_freq.data(), HD);
    cosr.upload(cos_h);
    sinr.upload(sin_h);
    tok_d.upload(&tok, 1);
    be.embedding_forward(x.data(), tok_d.data(), *m.embed_w, 1);
    const int j0 = window > 0 ? std::max(0, p - window + 1) : 0;  // first visible cache row
    for (int l = 0; l < L; ++l) {
      const Layer& ly = m.layers[static_cast<size_t>(l)];
      m.size_acts(a, false);
      be.rmsnorm_forward(a.xn1.data(), a.rstd1.data(), x.data(), ly.attn_norm_d.data(), 1, C, eps);
      m.qkv_forward(l, a, false, 1, cosr.data(), sinr.data());
      float* kc = kcache.data() + static_cast<size_t>(l) * cap * KVD;
      float* vc = vcache.data() + static_cast<size_t>(l) * cap * KVD;
      be.copy(kc + static_cast<size_t>(p) * KVD, a.k.data(), KVD * fsz);
      be.copy(vc + static_cast<size_t>(p) * KVD, a.v.data(), KVD * fsz);
      be.attention_decode(a.att.data(), a.q.data(), kc, vc, j0, p, NH, NKV, HD);
      m.proj_forward(l, kO, a.att.data(), tmp.data(), a, false, 1);
      be.add(a.h1.data(), x.data(), tmp.data(), C);
      be.rmsnorm_forward(a.xn2.data(), a.rstd2.data(), a.h1.data(), ly.mlp_norm_d.data(), 1, C, eps);
      m.proj_forward(l, kGate, a.xn2.data(), a.gate.data(), a, false, 1);
      m.proj_forward(l, kUp, a.xn2.data(), a.up.data(), a, false, 1);
      be.swiglu_forward(a.act.data(), a.gate.data(), a.up.data(), F);
      m.proj_forward(l, kDown, a.act.data(), tmp.data(), a, false, 1);
      be.add(x.data(), a.h1.data(), tmp.data(), C);
    }
  }
  return out;
}

}  // namespace lp
