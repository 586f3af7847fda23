// core/parallel.h: LP_OMP(...) emits `#pragma omp ...` when compiled with OpenMP and nothing
// otherwise (no unknown-pragma warnings on toolchains without OpenMP, e.g. Apple clang):
//   LP_OMP(parallel for if (n > (1 << 16)))
#pragma once

#define LP_PRAGMA_(x) _Pragma(#x)
#ifdef _OPENMP
#define LP_OMP(x) LP_PRAGMA_(omp x)
#else
#define LP_OMP(x)
#endif
