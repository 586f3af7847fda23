// Every CUDA op against the CPU backend on fresh random inputs (gpu_test_util.h): fp32 precision
// within 1e-4, bf16 precision (the default) within 1e-2; the dequantization and the dropout masks
// bit for bit. Shapes are odd on purpose (rows not a multiple of the tiles, blocks straddling rows).
#include <cstring>
#include <string>

#include "core/loss.h"
#include "cuda/ops.h"
#include "gpu_test_util.h"
#include "quant/quant4.h"

namespace lp {
namespace {

using gpu_testing::Backends;
using gpu_testing::expect_close;
using gpu_testing::kBf16Tol;
using gpu_testing::kFp32Tol;
using gpu_testing::on;
using gpu_testing::randn;
using gpu_testing::zeros;

const char* precision_name(const Backends& b, const Backend* be) { return be == b.f32.get() ? "fp32" : "bf16"; }
double tolerance(const Backends& b, const Backend* be) { return be == b.f32.get() ? kFp32Tol : kBf16Tol; }

TEST(CudaKernels, DequantizationIsBitExactForNf4AndFp4) {
  Backends b;
  const int out = 96, in = 200;  // 19200 values: blocks of 64 straddle rows
  const std::vector<float> w = randn(static_cast<size_t>(out) * in, 1, 0.05f);
  for (QuantType t : {QuantType::NF4, QuantType::FP4})
    for (bool dq : {false, true}) {
      const QuantState qs = quantize_weight(w.data(), {out, in}, t, 64, dq);
      std::vector<float> ref(w.size());
      qs.dequantize(ref.data());
      const auto fw = b.f32->frozen_weight(&qs, nullptr, out, in);
      Buffer<float> got = zeros<float>(*b.f32, w.size());
      cuda::dequantize_f32(cuda::context_of(*b.f32), *fw, got.data());
      const std::vector<float> g = got.to_vector();
      EXPECT_EQ(std::memcmp(g.data(), ref.data(), g.size() * sizeof(float)), 0)
          << quant_type_name(t) << (dq ? " double-quant" : "");
    }
}

// y = x W^T + b and dx (+)= dy W over a 4-bit weight, on both precisions.
TEST(CudaKernels, LinearForwardAndBackward) {
  Backends b;
  const int N = 77, in = 320, out = 192;
  const std::vector<float> w = randn(static_cast<size_t>(out) * in, 2, 0.05f);
  const QuantState qs = quantize_weight(w.data(), {out, in}, QuantType::NF4);
  const std::vector<float> x = randn(static_cast<size_t>(N) * in, 3), bias = randn(out, 4),
                           dy = randn(static_cast<size_t>(N) * out, 5);
  std::vector<float> ref_y, ref_dx;
  for (Backend* be : {b.cpu.get(), b.f32.get(), b.bf16.get()}) {
    const auto W = be->frozen_weight(&qs, nullptr, out, in);
    Buffer<float> xb = on(*be, x), bb = on(*be, bias), dyb = on(*be, dy),
                  y = zeros<float>(*be, static_cast<size_t>(N) * out), dx = on(*be, x);  // accumulates onto x's values
    be->linear_forward(y.data(), xb.data(), *W, bb.data(), N);
    be->linear_backward(dx.data(), dyb.data(), *W, N, true);
    if (be == b.cpu.get()) {
      ref_y = y.to_vector();
      ref_dx = dx.to_vector();
      continue;
    }
    const std::string p = precision_name(b, be);
    expect_close(("linear forward " + p).c_str(), y.to_vector(), ref_y, tolerance(b, be));
    expect_close(("linear backward (accumulate) " + p).c_str(), dx.to_vector(), ref_dx, tolerance(b, be));
  }
}

// The lm_head is a dense frozen weight (bf16 on the GPU in bf16 precision): logits and their backward.
TEST(CudaKernels, DenseWeightForwardAndBackward) {
  Backends b;
  const int N = 65, V = 1000, C = 96;
  const std::vector<float> W = randn(static_cast<size_t>(V) * C, 6, 0.05f), x = randn(static_cast<size_t>(N) * C, 7),
                           dl = randn(static_cast<size_t>(N) * V, 8, 0.01f);
  std::vector<float> ref_y, ref_dx;
  for (Backend* be : {b.cpu.get(), b.f32.get(), b.bf16.get()}) {
    const auto w = be->frozen_weight(nullptr, W.data(), V, C);
    Buffer<float> xb = on(*be, x), db = on(*be, dl), y = zeros<float>(*be, static_cast<size_t>(N) * V),
                  dx = zeros<float>(*be, x.size());
    be->linear_forward(y.data(), xb.data(), *w, nullptr, N);
    be->linear_backward(dx.data(), db.data(), *w, N, false);
    if (be == b.cpu.get()) {
      ref_y = y.to_vector();
      ref_dx = dx.to_vector();
      continue;
    }
    const std::string p = precision_name(b, be);
    expect_close(("dense (lm_head) forward " + p).c_str(), y.to_vector(), ref_y, tolerance(b, be));
    expect_close(("dense (lm_head) backward " + p).c_str(), dx.to_vector(), ref_dx, tolerance(b, be));
  }
}

TEST(CudaKernels, LoraDropoutMaskEqualsTheCpuMask) {
  Backends b;
  const int64_t n = 100003;
  Buffer<uint8_t> c = zeros<uint8_t>(*b.cpu, n), g = zeros<uint8_t>(*b.f32, n);
  const uint64_t seed = gpu_testing::run_seed(), stream = 12345;
  b.cpu->lora_dropout_mask(c.data(), n, 0.1f, seed, stream);
  b.f32->lora_dropout_mask(g.data(), n, 0.1f, seed, stream);
  EXPECT_EQ(c.to_vector(), g.to_vector());
}

TEST(CudaKernels, LoraForwardAndBackwardWithAndWithoutDropout) {
  Backends b;
  const int N = 70, in = 256, r = 16, out = 96;
  const float scale = 2.f, p = 0.1f;
  const std::vector<float> x = randn(static_cast<size_t>(N) * in, 8), A = randn(static_cast<size_t>(r) * in, 9, 0.06f),
                           Bw = randn(static_cast<size_t>(out) * r, 10, 0.1f),
                           y0 = randn(static_cast<size_t>(N) * out, 11), dy = randn(static_cast<size_t>(N) * out, 12),
                           dx0 = randn(static_cast<size_t>(N) * in, 13);
  for (bool dropout : {false, true}) {
    std::vector<std::vector<float>> ref;
    for (Backend* be : {b.cpu.get(), b.f32.get(), b.bf16.get()}) {
      Buffer<float> xb = on(*be, x), Ab = on(*be, A), Bb = on(*be, Bw), y = on(*be, y0), dyb = on(*be, dy),
                    dx = on(*be, dx0), h = zeros<float>(*be, static_cast<size_t>(N) * r),
                    dh = zeros<float>(*be, static_cast<size_t>(N) * r),
                    xd = zeros<float>(*be, static_cast<size_t>(N) * in), dA = zeros<float>(*be, A.size()),
                    dB = zeros<float>(*be, Bw.size());
      Buffer<uint8_t> mask = zeros<uint8_t>(*be, static_cast<size_t>(N) * in);
      if (dropout) be->lora_dropout_mask(mask.data(), static_cast<int64_t>(N) * in, p, 42, 7);
      const uint8_t* m = dropout ? mask.data() : nullptr;
      be->lora_forward(y.data(), h.data(), xd.data(), xb.data(), m, p, Ab.data(), Bb.data(), N, in, r, out, scale);
      be->lora_backward(dA.data(), dB.data(), dx.data(), dh.data(), xd.data(), dyb.data(), xb.data(), m, p, h.data(),
                        Ab.data(), Bb.data(), N, in, r, out, scale);
      const std::vector<std::vector<float>> got{y.to_vector(), dA.to_vector(), dB.to_vector(), dx.to_vector()};
      if (be == b.cpu.get()) {
        ref = got;
        continue;
      }
      const char* names[] = {"y", "dA", "dB", "dx"};
      for (size_t i = 0; i < got.size(); ++i) {
        const std::string what =
            std::string("lora ") + names[i] + (dropout ? " dropout " : " ") + precision_name(b, be);
        expect_close(what.c_str(), got[i], ref[i], tolerance(b, be));
      }
    }
  }
}

TEST(CudaKernels, RmsnormRopeSwigluEmbeddingAdd) {
  Backends b;
  const int N = 37, C = 520, NH = 6, HD = 64, V = 300;
  const std::vector<float> x = randn(static_cast<size_t>(N) * C, 14), w = randn(C, 15, 0.1f),
                           dout = randn(x.size(), 16), acc = randn(x.size(), 17),
                           q = randn(static_cast<size_t>(N) * NH * HD, 18),
                           ang = randn(static_cast<size_t>(N) * HD / 2, 19, 3.f),
                           table = randn(static_cast<size_t>(V) * C, 20);
  std::vector<float> cosv(ang.size()), sinv(ang.size()), wp(w);
  for (size_t i = 0; i < ang.size(); ++i) {
    cosv[i] = std::cos(ang[i]);
    sinv[i] = std::sin(ang[i]);
  }
  for (float& v : wp) v += 1.f;
  std::vector<int32_t> tok(N);
  for (int i = 0; i < N; ++i)
    tok[static_cast<size_t>(i)] = (i * 37 + static_cast<int>(gpu_testing::run_seed() % 97)) % V;
  std::vector<std::vector<float>> ref;
  for (Backend* be : {b.cpu.get(), b.f32.get(), b.bf16.get()}) {
    const auto tw = be->frozen_weight(nullptr, table.data(), V, C);
    Buffer<float> xb = on(*be, x), wb = on(*be, wp), db = on(*be, dout), y = zeros<float>(*be, x.size()),
                  rstd = zeros<float>(*be, N), dx = on(*be, acc), qb = on(*be, q), cb = on(*be, cosv),
                  sb = on(*be, sinv), qr = zeros<float>(*be, q.size()), dq = zeros<float>(*be, q.size()),
                  act = zeros<float>(*be, x.size()), dg = zeros<float>(*be, x.size()), du = zeros<float>(*be, x.size()),
                  emb = zeros<float>(*be, static_cast<size_t>(N) * C), sum = zeros<float>(*be, x.size());
    Buffer<int32_t> tk = on(*be, tok);
    be->rmsnorm_forward(y.data(), rstd.data(), xb.data(), wb.data(), N, C, 1e-5f);
    be->rmsnorm_backward(dx.data(), db.data(), xb.data(), wb.data(), rstd.data(), N, C, true);
    be->rope_forward(qr.data(), qb.data(), cb.data(), sb.data(), N, NH, HD);
    be->rope_backward(dq.data(), qb.data(), cb.data(), sb.data(), N, NH, HD);
    be->swiglu_forward(act.data(), xb.data(), db.data(), static_cast<int64_t>(x.size()));
    be->swiglu_backward(dg.data(), du.data(), dx.data(), xb.data(), db.data(), static_cast<int64_t>(x.size()));
    be->embedding_forward(emb.data(), tk.data(), *tw, N);
    be->add(sum.data(), xb.data(), db.data(), static_cast<int64_t>(x.size()));
    const std::vector<std::vector<float>> got{y.to_vector(),   rstd.to_vector(), dx.to_vector(), qr.to_vector(),
                                              dq.to_vector(),  act.to_vector(),  dg.to_vector(), du.to_vector(),
                                              emb.to_vector(), sum.to_vector()};
    if (be == b.cpu.get()) {
      ref = got;
      continue;
    }
    const char* names[] = {"rmsnorm out",  "rmsnorm rstd",  "rmsnorm dx (accumulate)",
                           "rope forward", "rope backward", "swiglu forward",
                           "swiglu dgate", "swiglu dup",    "embedding",
                           "add"};
    // These ops are fp32 in both precisions; only the embedding table is bf16 in bf16 precision.
    for (size_t i = 0; i < got.size(); ++i)
      expect_close((std::string(names[i]) + " " + precision_name(b, be)).c_str(), got[i], ref[i],
                   i == 8 ? tolerance(b, be) : kFp32Tol);
  }
}

// Qwen3's q/k norm: one RMSNorm row per (token, head), head_dim wide (narrower than the row kernel's block),
// forward and the input gradient written (not accumulated), as the model calls them.
TEST(CudaKernels, PerHeadRmsnorm) {
  Backends b;
  uint32_t tag = 60;
  for (const int HD : {64, 128}) {
    const int rows = 37 * 6;  // tokens x heads
    const size_t n = static_cast<size_t>(rows) * HD;
    const std::vector<float> x = randn(n, ++tag), dout = randn(n, ++tag);
    std::vector<float> w = randn(HD, ++tag, 0.1f);
    for (float& v : w) v += 1.f;
    std::vector<std::vector<float>> ref;
    for (Backend* be : {b.cpu.get(), b.f32.get(), b.bf16.get()}) {
      Buffer<float> xb = on(*be, x), wb = on(*be, w), db = on(*be, dout), y = zeros<float>(*be, n),
                    rstd = zeros<float>(*be, rows), dx = zeros<float>(*be, n);
      be->rmsnorm_forward(y.data(), rstd.data(), xb.data(), wb.data(), rows, HD, 1e-6f);
      be->rmsnorm_backward(dx.data(), db.data(), xb.data(), wb.data(), rstd.data(), rows, HD, false);
      const std::vector<std::vector<float>> got{y.to_vector(), rstd.to_vector(), dx.to_vector()};
      if (be == b.cpu.get()) {
        ref = got;
        continue;
      }
      const char* names[] = {"out", "rstd", "dx"};
      for (size_t i = 0; i < got.size(); ++i)
        expect_close(
            ("per-head rmsnorm hd" + std::to_string(HD) + " " + names[i] + " " + precision_name(b, be)).c_str(), got[i],
            ref[i], kFp32Tol);
    }
  }
}

struct AttnCase {
  const char* name;
  int B, T, NH, NKV, HD, window;
  bool packed;
};

TEST(CudaKernels, AttentionForwardBackwardAndDecode) {
  Backends b;
  const AttnCase cases[] = {{"MHA hd64", 2, 100, 4, 4, 64, 0, false},
                            {"GQA hd128", 1, 161, 8, 2, 128, 0, false},
                            {"GQA hd128 packed", 2, 130, 4, 2, 128, 0, true},
                            {"sliding window 40 hd64", 1, 150, 4, 1, 64, 40, false},
                            {"hd16 packed", 3, 33, 4, 2, 16, 0, true}};
  uint32_t tag = 100;
  for (const AttnCase& c : cases) {
    const size_t nq = static_cast<size_t>(c.B) * c.T * c.NH * c.HD, nk = static_cast<size_t>(c.B) * c.T * c.NKV * c.HD;
    const std::vector<float> q = randn(nq, ++tag), k = randn(nk, ++tag), v = randn(nk, ++tag), dout = randn(nq, ++tag);
    std::vector<int32_t> seg(static_cast<size_t>(c.B) * c.T, 0);
    if (c.packed)  // documents of a few to 45 tokens, ids restarting per row
      for (int r = 0; r < c.B; ++r) {
        int id = 0, left = 1 + static_cast<int>(gpu_testing::run_seed() % 17);
        for (int t = 0; t < c.T; ++t) {
          if (left-- == 0) {
            ++id;
            left = 5 + (t * 13 + r) % 40;
          }
          seg[static_cast<size_t>(r) * c.T + t] = id;
        }
      }
    std::vector<std::vector<float>> ref;
    // fp32 precision: the fp32 kernels; bf16: the tensor-core kernels (attention_tc.cu).
    for (Backend* be : {b.cpu.get(), b.f32.get(), b.bf16.get()}) {
      Buffer<float> qb = on(*be, q), kb = on(*be, k), vb = on(*be, v), db = on(*be, dout), o = zeros<float>(*be, nq),
                    lse = zeros<float>(*be, static_cast<size_t>(c.B) * c.T * c.NH), dq = zeros<float>(*be, nq),
                    dk = zeros<float>(*be, nk), dv = zeros<float>(*be, nk),
                    dec = zeros<float>(*be, static_cast<size_t>(c.NH) * c.HD);
      Buffer<int32_t> sb = on(*be, seg);
      be->attention_forward(o.data(), lse.data(), qb.data(), kb.data(), vb.data(), sb.data(), c.B, c.T, c.NH, c.NKV,
                            c.HD, c.window);
      be->attention_backward(dq.data(), dk.data(), dv.data(), db.data(), o.data(), qb.data(), kb.data(), vb.data(),
                             lse.data(), sb.data(), c.B, c.T, c.NH, c.NKV, c.HD, c.window);
      // Decode: the last query of row 0 over row 0's k and v as the cache.
      const int p = c.T - 1, j0 = c.window > 0 ? std::max(0, p - c.window + 1) : 0;
      be->attention_decode(dec.data(), qb.data() + static_cast<size_t>(p) * c.NH * c.HD, kb.data(), vb.data(), j0, p,
                           c.NH, c.NKV, c.HD);
      const std::vector<std::vector<float>> got{o.to_vector(),  lse.to_vector(), dq.to_vector(),
                                                dk.to_vector(), dv.to_vector(),  dec.to_vector()};
      if (be == b.cpu.get()) {
        ref = got;
        continue;
      }
      const char* names[] = {"out", "lse", "dq", "dk", "dv", "decode"};
      for (size_t i = 0; i < got.size(); ++i) {
        if (c.packed && i == 5) continue;  // decode knows no segments: compared on the unpacked cases
        // The decode kernel is fp32 in both precisions.
        expect_close((std::string("attention ") + c.name + " " + names[i] + " " + precision_name(b, be)).c_str(),
                     got[i], ref[i], i == 5 ? kFp32Tol : tolerance(b, be));
      }
    }
  }
}

TEST(CudaKernels, CrossEntropyForwardAndFusedBackward) {
  Backends b;
  const int N = 53, V = 5003;
  const std::vector<float> logits = randn(static_cast<size_t>(N) * V, 30, 3.f);
  std::vector<int32_t> labels(N);
  for (int i = 0; i < N; ++i) labels[static_cast<size_t>(i)] = i % 7 == 3 ? kIgnoreIndex : (i * 811 + 5) % V;
  for (bool backward : {false, true}) {
    std::vector<float> ref_d;
    CrossEntropySum ref{};
    for (Backend* be : {b.cpu.get(), b.f32.get()}) {
      Buffer<float> lb = on(*be, logits);
      Buffer<int32_t> yb = on(*be, labels);
      const CrossEntropySum s = be->cross_entropy(lb.data(), yb.data(), N, V, 0.02f, backward);
      if (be == b.cpu.get()) {
        ref = s;
        ref_d = lb.to_vector();
        continue;
      }
      EXPECT_EQ(s.n_valid, ref.n_valid);
      const double e = std::fabs(s.loss_sum - ref.loss_sum) / std::fabs(ref.loss_sum);
      std::printf("[gpu] cross-entropy loss sum%s rel err %.3g\n", backward ? " (fused)" : "", e);
      EXPECT_LT(e, kFp32Tol);
      if (backward) expect_close("cross-entropy dlogits", lb.to_vector(), ref_d, kFp32Tol);
    }
  }
}

TEST(CudaKernels, AdamwGradNormAndClipping) {
  Backends b;
  const std::vector<int64_t> sizes{4096, 333, 70001};
  std::vector<std::vector<float>> grads, params, ms, vs;
  uint32_t tag = 40;
  for (int64_t n : sizes) {
    grads.push_back(randn(static_cast<size_t>(n), ++tag, 0.3f));
    params.push_back(randn(static_cast<size_t>(n), ++tag, 0.05f));
    ms.push_back(randn(static_cast<size_t>(n), ++tag, 0.01f));
    std::vector<float> v = randn(static_cast<size_t>(n), ++tag, 0.01f);
    for (float& x : v) x = x * x;
    vs.push_back(v);
  }
  std::vector<std::vector<float>> ref;
  double ref_norm = 0;
  for (Backend* be : {b.cpu.get(), b.f32.get()}) {
    std::vector<Buffer<float>> g, p, m, v;
    for (size_t i = 0; i < sizes.size(); ++i) {
      g.push_back(on(*be, grads[i]));
      p.push_back(on(*be, params[i]));
      m.push_back(on(*be, ms[i]));
      v.push_back(on(*be, vs[i]));
    }
    std::vector<float*> gp;
    for (Buffer<float>& x : g) gp.push_back(x.data());
    const double norm = be->clip_grad_norm(gp.data(), sizes.data(), 3, 1.0);  // the norm is far above 1: clips
    for (size_t i = 0; i < sizes.size(); ++i)
      be->adamw_step(p[i].data(), g[i].data(), m[i].data(), v[i].data(), sizes[i], 3, 2e-4, 0.9, 0.999, 1e-8, 0.01);
    std::vector<std::vector<float>> got;
    for (size_t i = 0; i < sizes.size(); ++i)
      for (Buffer<float>* t : {&g[i], &p[i], &m[i], &v[i]}) got.push_back(t->to_vector());
    if (be == b.cpu.get()) {
      ref = got;
      ref_norm = norm;
      continue;
    }
    std::printf("[gpu] grad norm rel err %.3g\n", std::fabs(norm - ref_norm) / ref_norm);
    EXPECT_LT(std::fabs(norm - ref_norm) / ref_norm, kFp32Tol);
    const char* names[] = {"clipped grad", "adamw param", "adamw exp_avg", "adamw exp_avg_sq"};
    for (size_t i = 0; i < got.size(); ++i) expect_close(names[i % 4], got[i], ref[i], kFp32Tol);
  }
}

}  // namespace
}  // namespace lp
