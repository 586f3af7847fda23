// Dequantization of GGUF tensor data to fp32, value for value as llama.cpp's reference
// dequantize_row_* (ggml-quants.c) and gguf-py's gguf.quants compute it: F32, F16, BF16, Q8_0, Q4_0,
// Q4_1, Q4_K, Q5_K and Q6_K.
#pragma once
#include <cstdint>

#include "core/gguf_format.h"

namespace lp::gguf {

const char* type_name(TensorType t);  // "Q4_K", ...; "unknown" for a number ggml does not define here
bool can_dequantize(TensorType t);

// Writes n values (a whole number of blocks of t) from `data` to `out`. t must be one can_dequantize accepts.
void dequantize(TensorType t, const uint8_t* data, int64_t n, float* out);

}  // namespace lp::gguf
