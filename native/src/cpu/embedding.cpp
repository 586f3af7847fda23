// cpu/embedding.cpp: embedding row gather.
#include "cpu/embedding.h"

#include <cstddef>
#include <cstring>

#include "core/check.h"
#include "core/parallel.h"

namespace lp::cpu {

void embedding_forward(float* out, const int32_t* tokens, const float* table, int N, int V, int C) {
  LP_CHECK(N >= 0 && V > 0 && C > 0, "embedding_forward: bad shape N=" << N << " V=" << V << " C=" << C);
  for (int n = 0; n < N; ++n)
    LP_CHECK(tokens[n] >= 0 && tokens[n] < V, "embedding_forward: token id " << tokens[n] << " at position " << n
                                                                             << " outside the vocabulary [0, " << V
                                                                             << ")");
  LP_OMP(parallel for if ((long)N * C > (1 << 16)))
  for (int n = 0; n < N; ++n) std::memcpy(out + (size_t)n * C, table + (size_t)tokens[n] * C, sizeof(float) * C);
}

}  // namespace lp::cpu
