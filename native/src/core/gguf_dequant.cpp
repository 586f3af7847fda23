// Compiled with -ffp-contract=off (native/CMakeLists.txt): llama.cpp's reference and numpy round the
// product before the subtraction in `d * q - m`; a fused multiply-add would differ in the last bit.
#include "core/gguf_dequant.h"

#include <cstring>

#include "core/check.h"
#include "core/safetensors.h"

namespace lp::gguf {

namespace {

float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return half_to_float(h);
}

// The 6-bit scale and min of sub-block j (0..7) from Q4_K's and Q5_K's 12 packed bytes (get_scale_min_k4).
void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Block: f16 d | 32 nibbles (element l in the low nibble of byte l, element l + 16 in its high nibble).
void q4_0(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  const uint8_t* qs = b + 2;
  for (int l = 0; l < kQK / 2; ++l) {
    y[l] = static_cast<float>((qs[l] & 0xF) - 8) * d;
    y[l + kQK / 2] = static_cast<float>((qs[l] >> 4) - 8) * d;
  }
}

// Block: f16 d | f16 m | 32 nibbles as Q4_0.
void q4_1(const uint8_t* b, float* y) {
  const float d = f16_at(b), m = f16_at(b + 2);
  const uint8_t* qs = b + 4;
  for (int l = 0; l < kQK / 2; ++l) {
    y[l] = static_cast<float>(qs[l] & 0xF) * d + m;
    y[l + kQK / 2] = static_cast<float>(qs[l] >> 4) * d + m;
  }
}

// Block: f16 d | 32 int8.
void q8_0(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  for (int l = 0; l < kQK; ++l) y[l] = static_cast<float>(static_cast<int8_t>(b[2 + l])) * d;
}

// Super-block: f16 d | f16 dmin | 12 bytes of scales and mins | 128 bytes of nibbles. Each 64 elements
// take 32 bytes: the first 32 elements their low nibbles (sub-block scale 2i), the next 32 their high ones.
void q4_k(const uint8_t* b, float* y) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = scales + kScalesK;
  for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, q += 32) {
    uint8_t sc, m;
    scale_min_k4(is, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
  }
}

// Super-block: as Q4_K with 32 bytes of fifth bits before the nibbles: bit i of byte l belongs to
// element l of sub-block i.
void q5_k(const uint8_t* b, float* y) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = scales + kScalesK;
  const uint8_t* ql = qh + kQK_K / 8;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
    uint8_t sc, m;
    scale_min_k4(is, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
  }
}

// Super-block: 128 bytes of low 4 bits | 64 bytes of high 2 bits | 16 int8 scales | f16 d. Each half of
// 128 elements takes 64 low bytes, 32 high bytes and 8 scales (one per 16 elements).
void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = ql + kQK_K / 2;
  const auto* sc = reinterpret_cast<const int8_t*>(qh + kQK_K / 4);
  const float d = f16_at(b + kQK_K / 2 + kQK_K / 4 + kQK_K / 16);
  for (int n = 0; n < kQK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = static_cast<int8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = static_cast<int8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
  }
}

template <void (*Block)(const uint8_t*, float*)>
void blocks(TensorType t, const uint8_t* data, int64_t n, float* out) {
  const BlockLayout bl = block_layout(t);
  for (int64_t i = 0; i < n / bl.elements; ++i) Block(data + i * bl.bytes, out + i * bl.elements);
}

}  // namespace

const char* type_name(TensorType t) {
  switch (t) {
    case TensorType::F32:
      return "F32";
    case TensorType::F16:
      return "F16";
    case TensorType::Q4_0:
      return "Q4_0";
    case TensorType::Q4_1:
      return "Q4_1";
    case TensorType::Q5_0:
      return "Q5_0";
    case TensorType::Q5_1:
      return "Q5_1";
    case TensorType::Q8_0:
      return "Q8_0";
    case TensorType::Q8_1:
      return "Q8_1";
    case TensorType::Q2_K:
      return "Q2_K";
    case TensorType::Q3_K:
      return "Q3_K";
    case TensorType::Q4_K:
      return "Q4_K";
    case TensorType::Q5_K:
      return "Q5_K";
    case TensorType::Q6_K:
      return "Q6_K";
    case TensorType::Q8_K:
      return "Q8_K";
    case TensorType::BF16:
      return "BF16";
  }
  return "unknown";
}

bool can_dequantize(TensorType t) {
  switch (t) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
      return true;
    default:
      return false;
  }
}

void dequantize(TensorType t, const uint8_t* data, int64_t n, float* out) {
  const BlockLayout bl = block_layout(t);
  LP_CHECK(can_dequantize(t) && n % bl.elements == 0,
           "cannot dequantize " << n << " values of GGUF type " << type_name(t));
  TensorView plain;  // the unquantized types convert as safetensors' dtypes do
  plain.shape = {n};
  plain.data = data;
  switch (t) {
    case TensorType::F32:
      plain.dtype = DType::F32;
      return lp::to_float32(plain, out);
    case TensorType::F16:
      plain.dtype = DType::F16;
      return lp::to_float32(plain, out);
    case TensorType::BF16:
      plain.dtype = DType::BF16;
      return lp::to_float32(plain, out);
    case TensorType::Q8_0:
      return blocks<q8_0>(t, data, n, out);
    case TensorType::Q4_0:
      return blocks<q4_0>(t, data, n, out);
    case TensorType::Q4_1:
      return blocks<q4_1>(t, data, n, out);
    case TensorType::Q4_K:
      return blocks<q4_k>(t, data, n, out);
    case TensorType::Q5_K:
      return blocks<q5_k>(t, data, n, out);
    case TensorType::Q6_K:
      return blocks<q6_k>(t, data, n, out);
    default:
      return;
  }
}

}  // namespace lp::gguf
