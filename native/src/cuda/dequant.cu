// cuda/dequant.cu: frozen projections on the device and their NF4/FP4 dequantization, bit-exact with
// QuantState::dequantize (and so with bitsandbytes) in fp32, then rounded to bf16 for the tensor-core
// GEMM in bf16 precision:
//   absmax[b] = fp32(fp32(map8[code8[b]] * nested_absmax[b / nested_blocksize]) + offset)   (double quant)
//   w[e]      = fp32(code4[nibble(e)] * absmax[e / blocksize]),  element 2j in the HIGH nibble of byte j.
// Dense (unquantized) projections are kept as bf16 (fp32 in fp32 precision) and used as they are.
#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace lp::cuda {
namespace {

struct Code4 {
  float v[16];
};

struct CudaWeight : FrozenWeight {
  explicit CudaWeight(Backend* be) : packed(be), absmax(be), codes(be), nested_absmax(be), nested_map(be), dense(be) {}
  bool quantized = false;
  bool nested = false;
  Code4 code{};
  int blocksize = 64, nested_blocksize = 256;
  float offset = 0.f;
  int64_t n = 0;
  Buffer<uint8_t> packed;       // (ceil(n/2))
  Buffer<float> absmax;         // (nblocks) when !nested
  Buffer<uint8_t> codes;        // (nblocks) when nested
  Buffer<float> nested_absmax;  // (ceil(nblocks / nested_blocksize))
  Buffer<float> nested_map;     // (256)
  Buffer<unsigned char> dense;  // (out, in) bf16 (fp32 in fp32 precision), when !quantized
  bool dense_bf16 = false;

  void download(QuantState& qs) const override {
    LP_CHECK(quantized, "cuda backend: download of a dense weight's 4-bit state");
    qs.packed = packed.to_vector();
    if (nested) {
      qs.absmax_codes = codes.to_vector();
      qs.nested_absmax = nested_absmax.to_vector();
      qs.nested_quant_map = nested_map.to_vector();
    } else {
      qs.absmax = absmax.to_vector();
    }
  }
};

__device__ inline float block_scale(int64_t b, const float* absmax, const uint8_t* codes, const float* nested_absmax,
                                    const float* nested_map, bool nested, int nbs, float offset) {
  if (!nested) return absmax[b];
  return __fadd_rn(__fmul_rn(nested_map[codes[b]], nested_absmax[b / nbs]), offset);
}

template <typename T>
__global__ void dequant4_kernel(T* out, const uint8_t* packed, const float* absmax, const uint8_t* codes,
                                const float* nested_absmax, const float* nested_map, bool nested, int nbs, float offset,
                                Code4 code, int blocksize, int64_t n) {
  const int64_t nbytes = (n + 1) / 2;
  LP_GRID_STRIDE(j, nbytes) {
    const uint8_t byte = packed[j];
    const int64_t e = 2 * j;
    // Blocks hold an even number of elements (blocksize >= 32), so both nibbles share one block.
    const float s = block_scale(e / blocksize, absmax, codes, nested_absmax, nested_map, nested, nbs, offset);
    out[e] = from_float<T>(__fmul_rn(code.v[byte >> 4], s));
    if (e + 1 < n) out[e + 1] = from_float<T>(__fmul_rn(code.v[byte & 15], s));
  }
}

template <typename T>
void launch_dequant(Context& ctx, const CudaWeight& w, T* out) {
  const Launch l = elementwise_launch((w.n + 1) / 2);
  LP_LAUNCH(dequant4_kernel<T>, l, ctx.stream, out, w.packed.data(), w.absmax.data(), w.codes.data(),
            w.nested_absmax.data(), w.nested_map.data(), w.nested, w.nested_blocksize, w.offset, w.code, w.blocksize,
            w.n);
}

}  // namespace

std::unique_ptr<FrozenWeight> upload_weight(Context& ctx, Backend& be, const QuantState* qs, const float* dense,
                                            int out, int in) {
  LP_CHECK((qs != nullptr) != (dense != nullptr), "cuda backend: a frozen weight is either 4-bit or dense");
  auto w = std::make_unique<CudaWeight>(&be);
  w->out = out;
  w->in = in;
  w->n = static_cast<int64_t>(out) * in;
  if (qs) {
    LP_CHECK(qs->numel() == w->n,
             "cuda backend: 4-bit weight holds " << qs->numel() << " values, expected " << out << " x " << in);
    w->quantized = true;
    w->blocksize = qs->blocksize;
    const auto& c = code4(qs->quant_type);
    for (int i = 0; i < 16; ++i) w->code.v[i] = c[static_cast<size_t>(i)];
    w->packed.upload(qs->packed);
    w->nested = qs->nested;
    if (qs->nested) {
      w->codes.upload(qs->absmax_codes);
      w->nested_absmax.upload(qs->nested_absmax);
      w->nested_map.upload(qs->nested_quant_map);
      w->nested_blocksize = qs->nested_blocksize;
      w->offset = qs->nested_offset;
    } else {
      w->absmax.upload(qs->absmax);
    }
    return w;
  }
  // Dense: converted once at load (bf16 precision keeps a bf16 copy, like a dequantized 4-bit weight).
  const size_t n = static_cast<size_t>(w->n);
  w->dense_bf16 = ctx.bf16();
  if (!ctx.bf16()) {
    w->dense.upload(reinterpret_cast<const unsigned char*>(dense), n * sizeof(float));
    return w;
  }
  Buffer<float> staging(&be);
  staging.upload(dense, n);
  w->dense.resize(n * sizeof(__nv_bfloat16));
  cast_to_bf16(ctx, reinterpret_cast<__nv_bfloat16*>(w->dense.data()), staging.data(), w->n);
  LP_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));  // staging is released on return
  return w;
}

const void* dequantize(Context& ctx, const FrozenWeight& fw) {
  const auto& w = static_cast<const CudaWeight&>(fw);
  if (!w.quantized) return w.dense.data();
  const size_t bytes = static_cast<size_t>(w.n) * (ctx.bf16() ? sizeof(__nv_bfloat16) : sizeof(float));
  ctx.weight.grow(bytes);
  if (ctx.bf16())
    launch_dequant(ctx, w, reinterpret_cast<__nv_bfloat16*>(ctx.weight.data()));
  else
    launch_dequant(ctx, w, reinterpret_cast<float*>(ctx.weight.data()));
  return ctx.weight.data();
}

DenseTable dense_table(const FrozenWeight& fw) {
  const auto& w = static_cast<const CudaWeight&>(fw);
  LP_CHECK(!w.quantized, "dense_table: the weight is 4-bit, not dense");
  return {w.dense.data(), w.dense_bf16};
}

void dequantize_f32(Context& ctx, const FrozenWeight& fw, float* out) {
  const auto& w = static_cast<const CudaWeight&>(fw);
  LP_CHECK(w.quantized, "dequantize_f32: the weight is dense, not 4-bit");
  launch_dequant(ctx, w, out);
}

}  // namespace lp::cuda
