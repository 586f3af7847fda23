// cpu/attention.cpp: tiled causal attention on the built-in serial sgemm. Forward: per (row, head,
// 64-query block) S = scale Q K^T over the visible key range, softmax, O = P V. Backward in two
// passes so that every output has a single writer (no atomics, deterministic):
//   pass 1 per (row, head, query block): P, dP = dO V^T, D = rowsum(P dP), dS = P (dP - D), dQ = scale dS K
//   pass 2 per (row, kv head, 64-key block), over the query heads of the group:
//          P^T, dP^T = V dO^T, dS^T, dV += P^T dO, dK += scale dS^T Q
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")  // lets the exp_f32 loops vectorise (see cpu/vec_math.h)
#endif
#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "cpu/gemm.h"
#include "cpu/vec_math.h"

namespace lp::cpu {
namespace {

constexpr int kBlock = 64;  // queries per forward/pass-1 task, keys per pass-2 task

void check_shapes(const char* fn, int B, int T, int NH, int NKV, int HS) {
  LP_CHECK(B >= 0 && T >= 0 && NH > 0 && NKV > 0 && HS > 0,
           fn << ": bad shape B=" << B << " T=" << T << " NH=" << NH << " NKV=" << NKV << " HS=" << HS);
  LP_CHECK(NH % NKV == 0, fn << ": NH=" << NH << " is not a multiple of NKV=" << NKV);
}

// Per token (row-local indices): lo[n] = first key token n sees, hi[n] = last query that sees key n.
void visibility(std::vector<int>& lo, std::vector<int>& hi, const int32_t* seg, int B, int T, int window) {
  lo.resize((size_t)B * T);
  hi.resize((size_t)B * T);
  for (int b = 0; b < B; ++b) {
    const int32_t* s = seg ? seg + (size_t)b * T : nullptr;
    int* l = lo.data() + (size_t)b * T;
    int* h = hi.data() + (size_t)b * T;
    for (int t = 0; t < T; ++t) {
      const int run_start = (t == 0 || !s || s[t] != s[t - 1]) ? t : l[t - 1];
      l[t] = run_start;  // fixed up for the window below
    }
    for (int t = T - 1; t >= 0; --t) {
      const int run_last = (t == T - 1 || !s || s[t] != s[t + 1]) ? (s ? t : T - 1) : h[t + 1];
      h[t] = run_last;
    }
    if (!s)
      for (int t = 0; t < T; ++t) l[t] = 0;
    if (window > 0)
      for (int t = 0; t < T; ++t) {
        l[t] = std::max(l[t], t - window + 1);
        h[t] = std::min(h[t], t + window - 1);
      }
  }
}

inline float scale_for(int HS) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(HS))); }

inline double sum_lanes(const double* l) { return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])); }

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int32_t* seg,
                       int B, int T, int NH, int NKV, int HS, int window) {
  check_shapes("attention_forward", B, T, NH, NKV, HS);
  if (B == 0 || T == 0) return;
  std::vector<int> lo, hi;
  visibility(lo, hi, seg, B, T, window);
  const int n_rep = NH / NKV;
  const int nqb = (T + kBlock - 1) / kBlock;
  const long n_tasks = (long)B * NH * nqb;
  const float scale = scale_for(HS);
  const int ldq = NH * HS, ldk = NKV * HS;
  const bool threaded = (double)B * NH * T * T * HS > 2e5;  // tiny problems: no fork/join
  (void)threaded;                                           // unused without OpenMP

  LP_OMP(parallel if (threaded)) {
    std::vector<float> S;
    LP_OMP(for schedule(dynamic, 1))
    for (long task = 0; task < n_tasks; ++task) {
      const int qb = (int)(task % nqb), h = (int)((task / nqb) % NH), b = (int)(task / ((long)nqb * NH));
      const int g = h / n_rep;
      const int i0 = qb * kBlock, i1 = std::min(T, i0 + kBlock), mq = i1 - i0;
      const int* lo_row = lo.data() + (size_t)b * T;
      const int jlo = lo_row[i0];  // lo is non-decreasing along the row
      const int nk = i1 - jlo;
      S.resize((size_t)mq * nk);
      const size_t row0 = (size_t)b * T;
      const float* qp = q + ((row0 + i0) * NH + h) * HS;
      const float* kp = k + ((row0 + jlo) * NKV + g) * HS;
      const float* vp = v + ((row0 + jlo) * NKV + g) * HS;
      // S (mq, nk) = scale * Q_blk (mq, HS) @ K_range^T
      sgemm_serial(false, true, mq, nk, HS, scale, qp, ldq, kp, ldk, 0.0f, S.data(), nk);
      for (int r = 0; r < mq; ++r) {
        const int i = i0 + r;
        const int a = lo_row[i] - jlo, e = i - jlo + 1;  // visible columns [a, e)
        float* row = S.data() + (size_t)r * nk;
        float m = row[a];
        for (int j = a + 1; j < e; ++j) m = row[j] > m ? row[j] : m;
        double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int j = a;
        for (; j + 8 <= e; j += 8)
          for (int u = 0; u < 8; ++u) {
            const float p = exp_f32(row[j + u] - m);
            row[j + u] = p;
            lanes[u] += p;
          }
        for (; j < e; ++j) {
          const float p = exp_f32(row[j] - m);
          row[j] = p;
          lanes[0] += p;
        }
        const double sum = sum_lanes(lanes);
        const float inv = 1.0f / static_cast<float>(sum);
        for (j = 0; j < a; ++j) row[j] = 0.0f;
        for (j = a; j < e; ++j) row[j] *= inv;
        for (j = e; j < nk; ++j) row[j] = 0.0f;
        lse[(row0 + i) * NH + h] = static_cast<float>(static_cast<double>(m) + std::log(sum));
      }
      // O_blk (mq, HS) = P (mq, nk) @ V_range (nk, HS)
      sgemm_serial(false, false, mq, HS, nk, 1.0f, S.data(), nk, vp, ldk, 0.0f, out + ((row0 + i0) * NH + h) * HS, ldq);
    }
  }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* lse, const int32_t* seg, int B, int T, int NH, int NKV, int HS,
                        int window) {
  check_shapes("attention_backward", B, T, NH, NKV, HS);
  if (B == 0 || T == 0) return;
  std::vector<int> lo, hi;
  visibility(lo, hi, seg, B, T, window);
  const int n_rep = NH / NKV;
  const int nb = (T + kBlock - 1) / kBlock;
  const float scale = scale_for(HS);
  const int ldq = NH * HS, ldk = NKV * HS;
  std::vector<float> D((size_t)B * T * NH);                 // D[n][h] = sum_j P dP = dO . O
  const bool threaded = (double)B * NH * T * T * HS > 2e5;  // tiny problems: no fork/join
  (void)threaded;                                           // unused without OpenMP

  // Pass 1: dQ and D, one task per (row, head, query block).
  const long n_tasks1 = (long)B * NH * nb;
  LP_OMP(parallel if (threaded)) {
    std::vector<float> P, dP;
    LP_OMP(for schedule(dynamic, 1))
    for (long task = 0; task < n_tasks1; ++task) {
      const int qb = (int)(task % nb), h = (int)((task / nb) % NH), b = (int)(task / ((long)nb * NH));
      const int g = h / n_rep;
      const int i0 = qb * kBlock, i1 = std::min(T, i0 + kBlock), mq = i1 - i0;
      const int* lo_row = lo.data() + (size_t)b * T;
      const int jlo = lo_row[i0], nk = i1 - jlo;
      const size_t row0 = (size_t)b * T;
      P.resize((size_t)mq * nk);
      dP.resize((size_t)mq * nk);
      const float* qp = q + ((row0 + i0) * NH + h) * HS;
      const float* dop = dout + ((row0 + i0) * NH + h) * HS;
      const float* kp = k + ((row0 + jlo) * NKV + g) * HS;
      const float* vp = v + ((row0 + jlo) * NKV + g) * HS;
      sgemm_serial(false, true, mq, nk, HS, scale, qp, ldq, kp, ldk, 0.0f, P.data(), nk);   // S
      sgemm_serial(false, true, mq, nk, HS, 1.0f, dop, ldq, vp, ldk, 0.0f, dP.data(), nk);  // dP = dO V^T
      for (int r = 0; r < mq; ++r) {
        const int i = i0 + r;
        const int a = lo_row[i] - jlo, e = i - jlo + 1;
        float* pr = P.data() + (size_t)r * nk;
        float* dpr = dP.data() + (size_t)r * nk;
        const float l = lse[(row0 + i) * NH + h];
        double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int j = a;
        for (; j + 8 <= e; j += 8)
          for (int u = 0; u < 8; ++u) {
            const float p = exp_f32(pr[j + u] - l);
            pr[j + u] = p;
            lanes[u] += (double)(p * dpr[j + u]);
          }
        for (; j < e; ++j) {
          const float p = exp_f32(pr[j] - l);
          pr[j] = p;
          lanes[0] += (double)(p * dpr[j]);
        }
        const float Di = static_cast<float>(sum_lanes(lanes));
        D[(row0 + i) * NH + h] = Di;
        for (j = 0; j < a; ++j) dpr[j] = 0.0f;
        for (j = a; j < e; ++j) dpr[j] = pr[j] * (dpr[j] - Di);  // dS
        for (j = e; j < nk; ++j) dpr[j] = 0.0f;
      }
      // dQ_blk (mq, HS) = scale * dS (mq, nk) @ K_range (nk, HS)
      sgemm_serial(false, false, mq, HS, nk, scale, dP.data(), nk, kp, ldk, 0.0f, dq + ((row0 + i0) * NH + h) * HS,
                   ldq);
    }
  }

  // Pass 2: dK and dV, one task per (row, kv head, key block), summing over the group's query heads.
  const long n_tasks2 = (long)B * NKV * nb;
  LP_OMP(parallel if (threaded)) {
    std::vector<float> P, dP;
    LP_OMP(for schedule(dynamic, 1))
    for (long task = 0; task < n_tasks2; ++task) {
      const int kb = (int)(task % nb), g = (int)((task / nb) % NKV), b = (int)(task / ((long)nb * NKV));
      const int j0 = kb * kBlock, j1 = std::min(T, j0 + kBlock), mk = j1 - j0;
      const int* hi_row = hi.data() + (size_t)b * T;
      const int qhi = hi_row[j1 - 1] + 1, nq = qhi - j0;  // queries [j0, qhi) can see this block
      const size_t row0 = (size_t)b * T;
      P.resize((size_t)mk * nq);
      dP.resize((size_t)mk * nq);
      const float* kp = k + ((row0 + j0) * NKV + g) * HS;
      const float* vp = v + ((row0 + j0) * NKV + g) * HS;
      float* dkp = dk + ((row0 + j0) * NKV + g) * HS;
      float* dvp = dv + ((row0 + j0) * NKV + g) * HS;
      for (int rep = 0; rep < n_rep; ++rep) {
        const int h = g * n_rep + rep;
        const float* qp = q + ((row0 + j0) * NH + h) * HS;
        const float* dop = dout + ((row0 + j0) * NH + h) * HS;
        sgemm_serial(false, true, mk, nq, HS, scale, kp, ldk, qp, ldq, 0.0f, P.data(), nq);   // S^T
        sgemm_serial(false, true, mk, nq, HS, 1.0f, vp, ldk, dop, ldq, 0.0f, dP.data(), nq);  // dP^T = V dO^T
        for (int r = 0; r < mk; ++r) {
          // Key j is seen by queries i in [j, hi[j]] (equivalently j in [lo[i], i]): columns [c0, e).
          const int j = j0 + r;
          const int c0 = j - j0, e = hi_row[j] - j0 + 1;
          float* pr = P.data() + (size_t)r * nq;
          float* dpr = dP.data() + (size_t)r * nq;
          for (int c = 0; c < c0; ++c) pr[c] = dpr[c] = 0.0f;
          for (int c = c0; c < e; ++c) {
            const size_t ih = (row0 + j0 + c) * NH + h;
            const float p = exp_f32(pr[c] - lse[ih]);
            pr[c] = p;
            dpr[c] = p * (dpr[c] - D[ih]);
          }
          for (int c = e; c < nq; ++c) pr[c] = dpr[c] = 0.0f;
        }
        const float beta = rep == 0 ? 0.0f : 1.0f;
        // dV_blk (mk, HS) (+)= P^T (mk, nq) @ dO (nq, HS);  dK_blk (+)= scale * dS^T (mk, nq) @ Q (nq, HS)
        sgemm_serial(false, false, mk, HS, nq, 1.0f, P.data(), nq, dop, ldq, beta, dvp, ldk);
        sgemm_serial(false, false, mk, HS, nq, scale, dP.data(), nq, qp, ldq, beta, dkp, ldk);
      }
    }
  }
}

void attention_decode(float* out, const float* q, const float* kcache, const float* vcache, int j0, int p, int NH,
                      int NKV, int HS) {
  check_shapes("attention_decode", 1, p + 1, NH, NKV, HS);
  const int rep = NH / NKV, KVD = NKV * HS;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  LP_OMP(parallel if (NH * (p - j0 + 1) * HS > (1 << 15))) {
    std::vector<float> s(static_cast<size_t>(p + 1));
    LP_OMP(for)
    for (int h = 0; h < NH; ++h) {
      const float* qh = q + static_cast<size_t>(h) * HS;
      const size_t kvo = static_cast<size_t>(h / rep) * HS;
      float mx = -INFINITY;
      for (int j = j0; j <= p; ++j) {
        const float* kj = kcache + static_cast<size_t>(j) * KVD + kvo;
        float d = 0;
        for (int i = 0; i < HS; ++i) d += qh[i] * kj[i];
        s[j] = d * scale;
        mx = std::max(mx, s[j]);
      }
      float sum = 0;
      for (int j = j0; j <= p; ++j) sum += s[j] = std::exp(s[j] - mx);
      float* o = out + static_cast<size_t>(h) * HS;
      std::fill(o, o + HS, 0.f);
      for (int j = j0; j <= p; ++j) {
        const float w = s[j] / sum;
        const float* vj = vcache + static_cast<size_t>(j) * KVD + kvo;
        for (int i = 0; i < HS; ++i) o[i] += w * vj[i];
      }
    }
  }
}

}  // namespace lp::cpu
