// GGUF's on-disk facts (llama.cpp's gguf.h / ggml.h, GGUF version 3), shared by the reader of base models
// and the writers of exported adapters and merged models.
//
// File layout: magic "GGUF" | u32 version | u64 tensor count | u64 metadata count | metadata key/value
// pairs | tensor infos (name, u32 n_dims, u64 dims[n_dims] innermost first, u32 ggml type, u64 offset)
// | padding to the alignment | tensor data, each tensor at its offset from the data start (aligned).
// Strings are u64 length + bytes (no terminator); everything is little-endian.
#pragma once
#include <cstdint>

namespace lp::gguf {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kVersion = 3;
constexpr uint32_t kDefaultAlignment = 32;
constexpr const char* kAlignmentKey = "general.alignment";

// Metadata value types, numbered as gguf_type.
enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

// Tensor types, numbered as ggml_type (the gaps are types llama.cpp removed or that loraplane does not read).
enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};

// Elements per block and bytes per block of a tensor type (ggml's type traits); {0, 0} for a type not listed.
struct BlockLayout {
  int64_t elements;
  int64_t bytes;
};

constexpr int64_t kQK = 32;       // elements per block of the legacy quants (QK4_0, QK4_1, QK8_0)
constexpr int64_t kQK_K = 256;    // elements per super-block of the K-quants (QK_K)
constexpr int64_t kScalesK = 12;  // bytes of packed 6-bit scales and mins in Q4_K and Q5_K (K_SCALE_SIZE)

constexpr BlockLayout block_layout(TensorType t) {
  switch (t) {
    case TensorType::F32:
      return {1, 4};
    case TensorType::F16:
    case TensorType::BF16:
      return {1, 2};
    case TensorType::Q4_0:
      return {kQK, 2 + kQK / 2};  // f16 d, 32 nibbles
    case TensorType::Q4_1:
      return {kQK, 4 + kQK / 2};  // f16 d, f16 m, 32 nibbles
    case TensorType::Q5_0:
      return {kQK, 2 + 4 + kQK / 2};  // f16 d, u32 high bits, 32 nibbles
    case TensorType::Q5_1:
      return {kQK, 4 + 4 + kQK / 2};  // f16 d, f16 m, u32 high bits, 32 nibbles
    case TensorType::Q8_0:
      return {kQK, 2 + kQK};  // f16 d, 32 int8
    case TensorType::Q4_K:
      return {kQK_K, 4 + kScalesK + kQK_K / 2};  // f16 d, f16 dmin, scales, 256 nibbles
    case TensorType::Q5_K:
      return {kQK_K, 4 + kScalesK + kQK_K / 8 + kQK_K / 2};  // + 256 high bits
    case TensorType::Q6_K:
      return {kQK_K, kQK_K / 2 + kQK_K / 4 + kQK_K / 16 + 2};  // low 4 bits, high 2 bits, int8 scales, f16 d
    default:
      return {0, 0};
  }
}

}  // namespace lp::gguf
