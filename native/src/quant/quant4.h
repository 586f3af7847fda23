// 4-bit blockwise quantization bit-compatible with bitsandbytes 0.50 (NF4 and FP4, double quantization
// of the block absmax), and the QuantState that transformers serializes for a Linear4bit weight.
//
// Layout, for a weight (N, K) flattened row-major into n = N*K values (a block may span two rows):
//   packed  (ceil(n/2))   two 4-bit codes per byte, element 2j in the HIGH nibble
//   absmax  (nblocks)     fp32 max|x| of each block of `blocksize` values (nblocks = ceil(n/blocksize))
// With double quantization absmax is stored as 8-bit codes of (absmax - offset), quantized in blocks
// of 256 with bitsandbytes' signed dynamic map. Dequantization is bit-exact with bitsandbytes:
//   absmax[b] = fp32(fp32(map8[code8[b]] * nested_absmax[b / 256]) + offset)   (two roundings, no FMA)
//   w[e]      = fp32(code4[nibble(e)] * absmax[e / blocksize])
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/safetensors.h"

namespace lp {

enum class QuantType { NF4, FP4 };
const char* quant_type_name(QuantType t);  // "nf4" / "fp4"
QuantType parse_quant_type(std::string_view name, std::string_view context);

// bitsandbytes.functional.get_4bit_type(t): the 16 fp32 code values, indexed by nibble.
const std::array<float, 16>& code4(QuantType t);
// bitsandbytes.functional.create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), sorted.
const std::array<float, 256>& dynamic_map_signed();

struct Quantized4 {
  std::vector<uint8_t> packed;  // (ceil(n/2))
  std::vector<float> absmax;    // (nblocks)
};
// bitsandbytes quantize_4bit (default backend): scaled = clamp(x * (1/absmax), -1, 1) (a trailing partial
// block divides by its absmax instead), code = the number of fp32 midpoints of the sorted code strictly
// below `scaled` (ties go to the lower code). blocksize: 32..4096, a power of two.
Quantized4 quantize_4bit(const float* x, int64_t n, int blocksize, QuantType t);
// out (n) = code4[nibble] * absmax[block]. Multithreaded over blocks.
void dequantize_4bit(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, QuantType t, float* out);

struct Quantized8 {
  std::vector<uint8_t> codes;  // (n)
  std::vector<float> absmax;   // (nblocks)
};
// bitsandbytes quantize_blockwise as its default backend computes it (the goldens' rule; the stock CPU
// kernel's approximate search sometimes misses): nearest entry of the sorted 256-entry `code`, ties to
// the lower one, same scaling rule as quantize_4bit.
Quantized8 quantize_blockwise_8bit(const float* x, int64_t n, int blocksize, const float* code);

// torch.mean of a contiguous fp32 vector on CPU, bit for bit: torch's cascade summation with 8-lane
// vector accumulators, then sum / n. Exact for single-threaded torch and for any n <= 32768 (torch does
// not split smaller reductions across threads). bitsandbytes takes the double-quant offset this way;
// a correctly rounded mean differs from it by an ulp in about a third of real weights.
float torch_mean_f32(const float* x, int64_t n);

// Everything needed to dequantize one 4-bit weight, as bitsandbytes' QuantState holds it.
struct QuantState {
  QuantType quant_type = QuantType::NF4;
  int blocksize = 64;
  std::vector<int64_t> shape;           // original weight shape, e.g. (N, K)
  std::string dtype = "float32";        // dtype bitsandbytes dequantizes to: "float32", "bfloat16", "float16"
  std::vector<uint8_t> packed;          // (ceil(n/2))
  std::vector<float> absmax;            // (nblocks), only when !nested
  bool nested = false;                  // double quantization
  std::vector<uint8_t> absmax_codes;    // (nblocks) 8-bit codes of absmax - nested_offset
  std::vector<float> nested_absmax;     // (ceil(nblocks / nested_blocksize))
  std::vector<float> nested_quant_map;  // (256)
  int nested_blocksize = 256;
  float nested_offset = 0.0f;

  int64_t numel() const;
  int64_t nblocks() const;
  // The fp32 absmax of every block (recovered from the 8-bit codes when nested).
  std::vector<float> block_absmax() const;
  // out (numel) fp32, row-major in `shape`. Allocates nothing: the hot path dequantizes each layer
  // into one reused buffer.
  void dequantize(float* out) const;
};

// bitsandbytes.functional.quantize_4bit(w, blocksize, compress_statistics=double_quant, quant_type=t)
// of an fp32 weight; `dtype` records the weight's original dtype.
QuantState quantize_weight(const float* w, const std::vector<int64_t>& shape, QuantType t, int blocksize = 64,
                           bool double_quant = true, const std::string& dtype = "float32");

// Reads the transformers-serialized 4-bit state of module prefix P (e.g. "model.layers.0.mlp.down_proj"):
// P.weight, P.weight.absmax, P.weight.quant_map, P.weight.quant_state.bitsandbytes__{nf4,fp4} and, when
// double-quantized, P.weight.nested_absmax and P.weight.nested_quant_map. Every dtype, shape and JSON
// field is checked, naming the tensor.
QuantState load_quant_state(const SafetensorsFile& file, const std::string& prefix);
QuantState load_quant_state(const SafetensorsDir& dir, const std::string& prefix);

// The tensors transformers writes for prefix P, in the same form as load_quant_state reads. The views
// point into `qs` and into `json_blob` (which receives the quant_state JSON): keep both alive and
// unchanged until the tensors are written.
std::vector<TensorView> quant_state_tensors(const QuantState& qs, const std::string& prefix, std::string& json_blob);
std::vector<TensorView> quant_state_tensors(QuantState&& qs, const std::string& prefix,
                                            std::string& json_blob) = delete;

}  // namespace lp
