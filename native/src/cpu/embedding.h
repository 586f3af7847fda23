// cpu/embedding.h: token embedding lookup (embed_tokens), frozen: no gradient into the table.
#pragma once
#include <cstdint>

namespace lp::cpu {

// out (N, C) = table[tokens[n]] for n < N; table (V, C) row-major. Overwrites out.
// Every token id must lie in [0, V) (checked).
void embedding_forward(float* out, const int32_t* tokens, const float* table, int N, int V, int C);

}  // namespace lp::cpu
