// cpu/gemm.cpp: sgemm through cblas when available, else (and always for sgemm_builtin/sgemm_serial)
// a BLIS-style kernel: C is cut into NC-column panels and KC-deep slices; for each slice op(B) is
// packed into NR-wide slivers and MC-row blocks of op(A) into MR-high slivers, and an MR x NR
// register-blocked micro-kernel written with GCC/Clang vector extensions (AVX-512, AVX2/FMA or
// 128-bit, whatever -march gives the compiler) runs over them. Threads split C into a grid of
// blocks and run that loop nest independently (see gemm_blocked).
#include "cpu/gemm.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "core/check.h"
#include "core/parallel.h"

#ifdef LORAPLANE_HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace lp::cpu {
namespace {

#if defined(__AVX512F__)
constexpr int kVW = 16;  // floats per vector register
constexpr int kMR = 8;   // micro-tile rows
constexpr int kNV = 2;   // vectors per micro-tile row: 8 x 32 tile, 16 zmm accumulators
constexpr const char* kBuiltinName = "builtin-avx512";
#elif defined(__AVX__)
constexpr int kVW = 8;
constexpr int kMR = 6;
constexpr int kNV = 2;  // 6 x 16 tile, 12 ymm accumulators
#if defined(__AVX2__) && defined(__FMA__)
constexpr const char* kBuiltinName = "builtin-avx2";
#else
constexpr const char* kBuiltinName = "builtin-avx";
#endif
#else
constexpr int kVW = 4;
constexpr int kMR = 6;
constexpr int kNV = 2;  // 6 x 8 tile
constexpr const char* kBuiltinName = "builtin-generic";
#endif
constexpr int kNR = kVW * kNV;          // micro-tile columns
constexpr int kKC = 256;                // depth of a packed slice: an A sliver + a B sliver stay in L1
constexpr int kMC = (128 / kMR) * kMR;  // rows of a packed A block (L2 resident)
constexpr int kNC = 2048;               // columns of a packed B panel (L3 resident), multiple of kNR

typedef float vfloat __attribute__((vector_size(kVW * sizeof(float))));
typedef float vfloat_u __attribute__((vector_size(kVW * sizeof(float)), aligned(4)));

// A 64-byte aligned scratch buffer that only grows; one per thread (thread_local), reused across calls.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t want) {
    if (want > n) {
      std::free(p);
      size_t bytes = (want * sizeof(float) + 63) / 64 * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      LP_CHECK(p != nullptr, "sgemm: cannot allocate " << bytes << " bytes of packing buffer");
      n = want;
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};
thread_local Scratch tls_a_pack;
thread_local Scratch tls_b_pack;

// Ap: ceil(mc / MR) slivers, each (kc, MR): Ap[s][p][i] = op(A)(i0 + s*MR + i, p0 + p), zero-padded rows.
void pack_a(bool transA, const float* A, int lda, int i0, int mc, int p0, int kc, float* Ap) {
  for (int s = 0; s * kMR < mc; ++s) {
    float* dst = Ap + (size_t)s * kc * kMR;
    const int rows = std::min(kMR, mc - s * kMR);
    if (!transA) {  // op(A)(i, p) = A[i * lda + p]
      for (int i = 0; i < rows; ++i) {
        const float* src = A + (size_t)(i0 + s * kMR + i) * lda + p0;
        for (int p = 0; p < kc; ++p) dst[p * kMR + i] = src[p];
      }
    } else {  // op(A)(i, p) = A[p * lda + i]
      for (int p = 0; p < kc; ++p) {
        const float* src = A + (size_t)(p0 + p) * lda + i0 + s * kMR;
        for (int i = 0; i < rows; ++i) dst[p * kMR + i] = src[i];
      }
    }
    if (rows < kMR)
      for (int p = 0; p < kc; ++p)
        for (int i = rows; i < kMR; ++i) dst[p * kMR + i] = 0.0f;
  }
}

// One B sliver (kc, NR): dst[p][j] = op(B)(p0 + p, j0 + j), zero-padded columns.
void pack_b_sliver(bool transB, const float* B, int ldb, int p0, int kc, int j0, int cols, float* dst) {
  if (!transB) {  // op(B)(p, j) = B[p * ldb + j]
    for (int p = 0; p < kc; ++p) {
      const float* src = B + (size_t)(p0 + p) * ldb + j0;
      for (int j = 0; j < cols; ++j) dst[p * kNR + j] = src[j];
      for (int j = cols; j < kNR; ++j) dst[p * kNR + j] = 0.0f;
    }
  } else {  // op(B)(p, j) = B[j * ldb + p]
    for (int j = 0; j < cols; ++j) {
      const float* src = B + (size_t)(j0 + j) * ldb + p0;
      for (int p = 0; p < kc; ++p) dst[p * kNR + j] = src[p];
    }
    for (int p = 0; p < kc; ++p)
      for (int j = cols; j < kNR; ++j) dst[p * kNR + j] = 0.0f;
  }
}

// acc (MR, NR) = Ap sliver (kc, MR)^T @ Bp sliver (kc, NR); then C = alpha * acc + beta * C on the
// full MR x NR tile (beta == 0: C not read).
inline void micro_kernel(int kc, const float* __restrict a, const float* __restrict b, float* __restrict c, int ldc,
                         float alpha, float beta) {
  vfloat acc[kMR][kNV];
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < kNV; ++v) acc[i][v] = vfloat{};
  for (int p = 0; p < kc; ++p) {
    vfloat bv[kNV];
    for (int v = 0; v < kNV; ++v) bv[v] = *reinterpret_cast<const vfloat_u*>(b + p * kNR + v * kVW);
    for (int i = 0; i < kMR; ++i) {
      const float ai = a[p * kMR + i];
      for (int v = 0; v < kNV; ++v) acc[i][v] += ai * bv[v];
    }
  }
  for (int i = 0; i < kMR; ++i) {
    for (int v = 0; v < kNV; ++v) {
      vfloat_u* cp = reinterpret_cast<vfloat_u*>(c + (size_t)i * ldc + v * kVW);
      if (beta == 0.0f)
        *cp = alpha * acc[i][v];
      else if (beta == 1.0f)
        *cp = *cp + alpha * acc[i][v];
      else
        *cp = alpha * acc[i][v] + beta * *cp;
    }
  }
}

// Edge tile: only the top-left (mr, nr) of the micro-tile is written.
inline void micro_kernel_edge(int kc, const float* a, const float* b, float* c, int ldc, float alpha, float beta,
                              int mr, int nr) {
  alignas(64) float tmp[kMR * kNR];
  micro_kernel(kc, a, b, tmp, kNR, 1.0f, 0.0f);
  for (int i = 0; i < mr; ++i) {
    float* crow = c + (size_t)i * ldc;
    const float* trow = tmp + i * kNR;
    if (beta == 0.0f)
      for (int j = 0; j < nr; ++j) crow[j] = alpha * trow[j];
    else if (beta == 1.0f)
      for (int j = 0; j < nr; ++j) crow[j] = crow[j] + alpha * trow[j];
    else
      for (int j = 0; j < nr; ++j) crow[j] = alpha * trow[j] + beta * crow[j];
  }
}

void scale_c(int M, int N, float beta, float* C, int ldc) {
  for (int i = 0; i < M; ++i) {
    float* row = C + (size_t)i * ldc;
    if (beta == 0.0f)
      std::memset(row, 0, sizeof(float) * N);
    else if (beta != 1.0f)
      for (int j = 0; j < N; ++j) row[j] *= beta;
  }
}

void check_args(bool transA, bool transB, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                const float* C, int ldc) {
  LP_CHECK(M >= 0 && N >= 0 && K >= 0, "sgemm: negative size M=" << M << " N=" << N << " K=" << K);
  LP_CHECK(lda >= std::max(1, transA ? M : K), "sgemm: lda=" << lda << " too small for " << (transA ? "A^T" : "A"));
  LP_CHECK(ldb >= std::max(1, transB ? K : N), "sgemm: ldb=" << ldb << " too small for " << (transB ? "B^T" : "B"));
  LP_CHECK(ldc >= std::max(1, N), "sgemm: ldc=" << ldc << " < N=" << N);
  LP_CHECK((M == 0 || N == 0 || C != nullptr) && (M == 0 || N == 0 || K == 0 || (A != nullptr && B != nullptr)),
           "sgemm: null operand");
}

// The serial blocked algorithm on the calling thread (arguments already checked, M, N, K > 0).
void gemm_serial_impl(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
                      const float* B, int ldb, float beta, float* C, int ldc) {
  float* Bp = tls_b_pack.get((size_t)kKC * std::min(kNC, (N + kNR - 1) / kNR * kNR));
  float* Ap = tls_a_pack.get((size_t)kMC * kKC);
  for (int jc = 0; jc < N; jc += kNC) {
    const int nc = std::min(kNC, N - jc);
    for (int pc = 0; pc < K; pc += kKC) {
      const int kc = std::min(kKC, K - pc);
      const float beta_eff = pc == 0 ? beta : 1.0f;
      // op(B)[pc:pc+kc, jc:jc+nc] into NR-wide slivers
      for (int s = 0; s * kNR < nc; ++s)
        pack_b_sliver(transB, B, ldb, pc, kc, jc + s * kNR, std::min(kNR, nc - s * kNR), Bp + (size_t)s * kc * kNR);
      for (int ic = 0; ic < M; ic += kMC) {
        const int mc = std::min(kMC, M - ic);
        pack_a(transA, A, lda, ic, mc, pc, kc, Ap);  // op(A)[ic:ic+mc, pc:pc+kc] into MR-high slivers
        for (int s = 0; s * kNR < nc; ++s) {
          const int j = jc + s * kNR, nr = std::min(kNR, N - j);
          const float* bs = Bp + (size_t)s * kc * kNR;
          for (int ir = 0; ir < mc; ir += kMR) {
            const int mr = std::min(kMR, mc - ir);
            const float* as = Ap + (size_t)(ir / kMR) * kc * kMR;
            float* c = C + (size_t)(ic + ir) * ldc + j;
            if (mr == kMR && nr == kNR)
              micro_kernel(kc, as, bs, c, ldc, alpha, beta_eff);
            else
              micro_kernel_edge(kc, as, bs, c, ldc, alpha, beta_eff, mr, nr);
          }
        }
      }
    }
  }
}

// Threads own disjoint blocks of C in a tm x tn grid and each runs the serial algorithm on its
// block with its own packing buffers: no barriers, so a thread that the OS preempts delays the
// call once instead of at every K slice. A is packed tn times and B tm times in total; the grid
// minimises that traffic, tn * M + tm * N (tall C: split rows; wide C: split columns).
void gemm_blocked(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc, bool allow_threads) {
  check_args(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  int nthreads = 1;
#ifdef _OPENMP
  // Each thread gets at least ~2 MFLOP, else the fork/join costs more than it saves.
  if (allow_threads && !omp_in_parallel())
    nthreads = (int)std::max(1.0, std::min((double)omp_get_max_threads(), 2.0 * M * N * K / 2e6));
#else
  (void)allow_threads;
#endif
  if (nthreads == 1) {
    gemm_serial_impl(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const int mt = (M + kMR - 1) / kMR, nt = (N + kNR - 1) / kNR;  // micro-tile rows / columns
  int tm = 1, tn = 1;
  double best = -1.0;
  for (int a = 1; a <= nthreads; ++a) {
    if (nthreads % a != 0) continue;
    const int b = nthreads / a;
    if ((a > 1 && a > mt) || (b > 1 && b > nt)) continue;  // every thread needs a micro-tile row/column
    const double cost = (double)b * M + (double)a * N;
    if (best < 0 || cost < best) {
      best = cost;
      tm = a;
      tn = b;
    }
  }
  if (best < 0) {  // e.g. a prime thread count larger than both tile counts: split the longer side
    if (mt >= nt)
      tm = std::min(nthreads, mt);
    else
      tn = std::min(nthreads, nt);
  }
  LP_OMP(parallel num_threads(tm * tn)) {
    int tid = 0, nth = 1;
#ifdef _OPENMP
    tid = omp_get_thread_num();
    nth = omp_get_num_threads();  // the runtime may grant fewer threads than asked for
#endif
    for (int blk = tid; blk < tm * tn; blk += nth) {
      const int ti = blk / tn, tj = blk % tn;
      // Block edges on micro-tile boundaries.
      const int m0 = (int)((long)mt * ti / tm) * kMR, m1 = std::min(M, (int)((long)mt * (ti + 1) / tm) * kMR);
      const int n0 = (int)((long)nt * tj / tn) * kNR, n1 = std::min(N, (int)((long)nt * (tj + 1) / tn) * kNR);
      if (m1 <= m0 || n1 <= n0) continue;
      const float* Ab = transA ? A + m0 : A + (size_t)m0 * lda;  // op(A) rows m0..m1
      const float* Bb = transB ? B + (size_t)n0 * ldb : B + n0;  // op(B) columns n0..n1
      gemm_serial_impl(transA, transB, m1 - m0, n1 - n0, K, alpha, Ab, lda, Bb, ldb, beta, C + (size_t)m0 * ldc + n0,
                       ldc);
    }
  }
}

}  // namespace

void sgemm_builtin(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                   int ldb, float beta, float* C, int ldc) {
  gemm_blocked(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, true);
}

void sgemm_serial(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc) {
  gemm_blocked(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, false);
}

void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc) {
#ifdef LORAPLANE_HAVE_CBLAS
  check_args(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
  if (M == 0 || N == 0) return;
  if (K == 0) {  // some BLAS builds skip the beta scaling on K == 0
    scale_c(M, N, beta, C, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
              lda, B, ldb, beta, C, ldc);
#else
  gemm_blocked(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, true);
#endif
}

const char* gemm_backend_name() {
#ifdef LORAPLANE_HAVE_CBLAS
  return "openblas";
#else
  return kBuiltinName;
#endif
}

const char* gemm_builtin_name() { return kBuiltinName; }

}  // namespace lp::cpu
