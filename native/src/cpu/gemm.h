// cpu/gemm.h: single-precision GEMM for the CPU backend (row-major, BLAS argument order).
// Provides sgemm (OpenBLAS when built with LORAPLANE_HAVE_CBLAS, else the built-in kernel),
// sgemm_builtin (always the built-in cache-blocked, OpenMP-parallel kernel), sgemm_serial (the
// built-in kernel on the calling thread only, for use inside a parallel region) and
// gemm_backend_name().
#pragma once

namespace lp::cpu {

// C (M, N) = alpha * op(A) (M, K) @ op(B) (K, N) + beta * C, all row-major fp32.
//   op(A) = A    when !transA: A stored (M, K), lda >= K
//         = A^T  when  transA: A stored (K, M), lda >= M
//   op(B) = B    when !transB: B stored (K, N), ldb >= N
//         = B^T  when  transB: B stored (N, K), ldb >= K
//   C stored (M, N), ldc >= N.
// beta == 0 overwrites C without reading it (NaN/garbage in C does not propagate), as BLAS does;
// beta == 1 accumulates. K == 0 gives C = beta * C. C must not alias A or B.
void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc);

// Same contract; always the built-in kernel (multithreaded with OpenMP when available).
void sgemm_builtin(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                   int ldb, float beta, float* C, int ldc);

// Same contract; the built-in kernel on the calling thread only (no OpenMP region, no BLAS), so it
// is safe and cheap to call from inside `#pragma omp parallel` (attention tiles).
void sgemm_serial(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                  int ldb, float beta, float* C, int ldc);

// "openblas" when sgemm goes through cblas_sgemm, else the built-in kernel's flavour:
// "builtin-avx512" / "builtin-avx2" / "builtin-avx" / "builtin-generic" (the vector width it was
// compiled for under -march).
const char* gemm_backend_name();

// The built-in kernel's vector flavour, whichever backend sgemm uses.
const char* gemm_builtin_name();

}  // namespace lp::cpu
