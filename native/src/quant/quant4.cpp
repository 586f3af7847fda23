#include "quant/quant4.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

#include "core/check.h"
#include "core/json.h"

namespace lp {

namespace {

// absmax = fp32(fp32(code * nested_absmax) + offset), as bitsandbytes rounds it. The volatile keeps
// the compiler from fusing the two into an FMA (GCC contracts by default in GNU mode, and
// -march=native provides FMA), which would change the last bit of some absmax values.
float recover_absmax(float code, float nested_absmax, float offset) {
  volatile float scaled = code * nested_absmax;
  return scaled + offset;
}

// Below this many blocks the OpenMP fork costs more than the work.
constexpr int64_t kParallelBlocks = 64;

void check_blocksize(int blocksize, const char* what) {
  LP_CHECK(blocksize >= 32 && blocksize <= 4096 && (blocksize & (blocksize - 1)) == 0,
           what << ": blocksize " << blocksize << " is not one of 32, 64, ..., 4096 (bitsandbytes' choices)");
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::array<float, 16> make_code4(QuantType t) {
  std::array<float, 16> c{};
  if (t == QuantType::NF4) {
    // get_4bit_type("nf4"): Python float literals rounded to fp32.
    const double v[16] = {-1.0,
                          -0.6961928009986877,
                          -0.5250730514526367,
                          -0.39491748809814453,
                          -0.28444138169288635,
                          -0.18477343022823334,
                          -0.09105003625154495,
                          0.0,
                          0.07958029955625534,
                          0.16093020141124725,
                          0.24611230194568634,
                          0.33791524171829224,
                          0.44070982933044434,
                          0.5626170039176941,
                          0.7229568362236023,
                          1.0};
    for (int i = 0; i < 16; ++i) c[i] = static_cast<float>(v[i]);
  } else {
    // get_4bit_type("fp4"): E2M1 bit patterns sign|exp|mantissa, divided by the max (12) in fp32.
    // Index 8 ("-0") is written as the int 0 there, so it is +0.0.
    const float v[16] = {0, 0.0625f, 8, 12, 4, 6, 2, 3, 0, -0.0625f, -8, -12, -4, -6, -2, -3};
    for (int i = 0; i < 16; ++i) c[i] = v[i] / 12.0f;
  }
  return c;
}

// Midpoints of the sorted code and the code index of each sorted slot (bnb: argsort, whose tie between
// FP4's two zeros keeps index order, so 0 comes before 8).
struct Bucketer4 {
  std::array<float, 15> mids;
  std::array<uint8_t, 16> order;

  explicit Bucketer4(const std::array<float, 16>& code) {
    std::array<int, 16> idx;
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return code[a] < code[b]; });
    for (int i = 0; i < 16; ++i) order[i] = static_cast<uint8_t>(idx[i]);
    for (int i = 0; i < 15; ++i) mids[i] = (code[idx[i]] + code[idx[i + 1]]) / 2.0f;
  }
  // torch.bucketize(s, mids): the number of midpoints strictly below s.
  uint8_t operator()(float s) const {
    int k = 0;
    for (float m : mids) k += m < s;
    return order[k];
  }
};

const Bucketer4& bucketer4(QuantType t) {
  static const Bucketer4 nf4(code4(QuantType::NF4)), fp4(code4(QuantType::FP4));
  return t == QuantType::NF4 ? nf4 : fp4;
}

// Per byte value, the two decoded codes (high nibble first): one lookup per two weights.
struct PairLut {
  alignas(64) float v[256][2];
  explicit PairLut(const std::array<float, 16>& code) {
    for (int b = 0; b < 256; ++b) {
      v[b][0] = code[b >> 4];
      v[b][1] = code[b & 15];
    }
  }
};

const PairLut& pair_lut(QuantType t) {
  static const PairLut nf4(code4(QuantType::NF4)), fp4(code4(QuantType::FP4));
  return t == QuantType::NF4 ? nf4 : fp4;
}

// Shared by dequantize_4bit and QuantState::dequantize; absmax_at(b) gives block b's fp32 absmax.
void dequant4_blocks(const uint8_t* packed, int64_t n, int blocksize, QuantType t, float* out,
                     const std::function<float(int64_t)>& absmax_at) {
  const auto& lut = pair_lut(t).v;
  const int64_t nblocks = ceil_div(n, blocksize);
#pragma omp parallel for schedule(static) if (nblocks >= kParallelBlocks)
  for (int64_t b = 0; b < nblocks; ++b) {
    const float am = absmax_at(b);
    const int64_t e0 = b * blocksize;  // even, as blocksize is
    const int64_t len = std::min<int64_t>(blocksize, n - e0);
    const uint8_t* p = packed + e0 / 2;
    float* o = out + e0;
    const int64_t pairs = len / 2;
    for (int64_t j = 0; j < pairs; ++j) {
      o[2 * j] = lut[p[j]][0] * am;
      o[2 * j + 1] = lut[p[j]][1] * am;
    }
    if (len & 1) o[len - 1] = lut[p[pairs]][0] * am;
  }
}

// Blockwise absmax and scaling shared by the 4-bit and 8-bit quantizers (bnb default backend): full
// blocks multiply by the fp32 reciprocal of their absmax; a trailing partial block stores its absmax
// clamped to 1e-38 and divides by it. emit(e, scaled) receives every element.
template <class Emit>
void scale_blocks(const float* x, int64_t n, int blocksize, float* absmax, Emit emit) {
  const int64_t nblocks = ceil_div(n, blocksize);
#pragma omp parallel for schedule(static) if (nblocks >= kParallelBlocks)
  for (int64_t b = 0; b < nblocks; ++b) {
    const int64_t e0 = b * blocksize;
    const int64_t e1 = std::min<int64_t>(n, e0 + blocksize);
    float am = 0.0f;
    for (int64_t e = e0; e < e1; ++e) am = std::max(am, std::fabs(x[e]));
    const float am_c = std::max(am, 1e-38f);
    const bool partial = e1 - e0 < blocksize;
    absmax[b] = partial ? am_c : am;
    const float inv = 1.0f / am_c;
    for (int64_t e = e0; e < e1; ++e) {
      const float s = partial ? x[e] / am_c : x[e] * inv;
      emit(e, std::clamp(s, -1.0f, 1.0f));
    }
  }
}

// torch's cascade_sum (aten/src/ATen/native/cpu/SumKernel.cpp) for one contiguous row, float
// accumulators: multi_row_sum over 4 interleaved rows of L-lane "vectors". L = 8: torch runs its
// 256-bit sum kernel even on AVX512 CPUs (checked against torch 2.15 on one); L = 1 when n < 8.
template <int L>
std::array<float, L> torch_row_sum(const float* x, int64_t nvec) {
  using Vec = std::array<float, L>;
  auto add = [](Vec& a, const Vec& b) {
    for (int l = 0; l < L; ++l) a[l] += b[l];
  };
  auto load = [&](int64_t v) {
    Vec r;
    std::memcpy(r.data(), x + v * L, sizeof(Vec));
    return r;
  };
  constexpr int kRows = 4, kLevels = 4;
  const int64_t size = nvec / kRows;
  auto ceil_log2 = [](int64_t v) -> int64_t {
    if (v <= 2) return 1;
    int64_t r = 0;
    for (uint64_t u = static_cast<uint64_t>(v - 1); u; u >>= 1) ++r;
    return r;
  };
  const int64_t level_power = std::max<int64_t>(4, ceil_log2(size) / kLevels);
  const int64_t level_step = int64_t{1} << level_power;
  const int64_t level_mask = level_step - 1;
  Vec acc[kLevels][kRows] = {};
  int64_t i = 0;
  while (i + level_step <= size) {
    for (int64_t j = 0; j < level_step; ++j, ++i)
      for (int k = 0; k < kRows; ++k) add(acc[0][k], load(i * kRows + k));
    for (int j = 1; j < kLevels; ++j) {
      for (int k = 0; k < kRows; ++k) {
        add(acc[j][k], acc[j - 1][k]);
        acc[j - 1][k] = Vec{};
      }
      if ((i & (level_mask << (j * level_power))) != 0) break;
    }
  }
  for (; i < size; ++i)
    for (int k = 0; k < kRows; ++k) add(acc[0][k], load(i * kRows + k));
  for (int j = 1; j < kLevels; ++j)
    for (int k = 0; k < kRows; ++k) add(acc[0][k], acc[j][k]);
  Vec total = acc[0][0];
  for (int64_t v = size * kRows; v < nvec; ++v) add(total, load(v));
  for (int k = 1; k < kRows; ++k) add(total, acc[0][k]);
  return total;
}

std::vector<float> build_dynamic_map() {
  std::vector<float> data;
  const double scale[7] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};  // Python's 10 ** (i - 6)
  for (int i = 0; i < 7; ++i) {
    // torch.linspace(0.1, 1, 2^i + 1) in fp32, as torch's scalar CPU kernel computes it (contracted to
    // FMAs in torch's build): start + step * j for the first half, end - step * (steps - 1 - j) after.
    const int64_t steps = (int64_t{1} << i) + 1;
    const float start = 0.1f, end = 1.0f;
    const float step = (end - start) / static_cast<float>(steps - 1);
    std::vector<float> bounds(static_cast<size_t>(steps));
    for (int64_t j = 0; j < steps; ++j)
      bounds[j] = j < steps / 2 ? std::fmaf(step, static_cast<float>(j), start)
                                : std::fmaf(-step, static_cast<float>(steps - 1 - j), end);
    // (10 ** k) * means: torch casts the Python scalar to fp32 and multiplies in fp32.
    const float s = static_cast<float>(scale[i]);
    for (int64_t j = 0; j + 1 < steps; ++j) {
      const float mean = (bounds[j] + bounds[j + 1]) / 2.0f;
      data.push_back(s * mean);
      data.push_back(-s * mean);
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  return data;
}

// Lookup of the tensors of one prefix in a file or a model folder, with messages naming the key.
struct Source {
  std::function<const TensorView*(const std::string&)> find;
  std::function<std::vector<std::string>()> names;
  std::string where;

  [[noreturn]] void missing(const std::string& key) const {
    std::string close;
    for (const auto& c : close_names(key, names())) close += (close.empty() ? "" : ", ") + c;
    LP_CHECK(false, "4-bit state: tensor \"" << key << "\" not found in " << where << "; closest names: " << close);
  }
  const TensorView& get(const std::string& key) const {
    const TensorView* t = find(key);
    if (!t) missing(key);
    return *t;
  }
};

std::vector<float> floats(const TensorView& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), t.data, t.nbytes);
  return v;
}

QuantState load_impl(const Source& src, const std::string& prefix) {
  const std::string w = prefix + ".weight";
  QuantType qt = QuantType::NF4;
  const TensorView* blob = src.find(w + ".quant_state.bitsandbytes__nf4");
  if (!blob) {
    blob = src.find(w + ".quant_state.bitsandbytes__fp4");
    qt = QuantType::FP4;
  }
  if (!blob) src.missing(w + ".quant_state.bitsandbytes__nf4");
  const std::string ctx = src.where + " \"" + blob->name + "\"";
  LP_CHECK(blob->dtype == DType::U8, ctx << ": is " << dtype_name(blob->dtype) << ", expected U8 bytes of JSON");
  const Json j = Json::parse(std::string_view(reinterpret_cast<const char*>(blob->data), blob->nbytes), ctx);
  LP_CHECK(j.is_object(), ctx << ": quant_state is a JSON " << j.type_name() << ", expected an object");
  auto field = [&](const char* key) -> const Json& {
    const Json* v = j.find(key);
    LP_CHECK(v, ctx << ": quant_state JSON lacks \"" << key << "\"");
    return *v;
  };

  QuantState qs;
  qs.quant_type = qt;
  LP_CHECK(field("quant_type").is_string() && parse_quant_type(field("quant_type").as_string(), ctx) == qt,
           ctx << ": quant_type does not match the key suffix " << quant_type_name(qt));
  LP_CHECK(field("blocksize").is_int(), ctx << ": blocksize must be an integer");
  qs.blocksize = static_cast<int>(field("blocksize").as_int());
  check_blocksize(qs.blocksize, ctx.c_str());
  LP_CHECK(field("dtype").is_string(), ctx << ": dtype must be a string");
  qs.dtype = field("dtype").as_string();
  LP_CHECK(qs.dtype == "float32" || qs.dtype == "bfloat16" || qs.dtype == "float16",
           ctx << ": dtype \"" << qs.dtype << "\" is not float32, bfloat16 or float16");
  LP_CHECK(field("shape").is_array() && field("shape").size() > 0, ctx << ": shape must be a non-empty list");
  for (const Json& d : field("shape").as_array()) {
    LP_CHECK(d.is_int() && d.as_int() > 0, ctx << ": shape entries must be positive integers");
    qs.shape.push_back(d.as_int());
  }
  const int64_t n = qs.numel(), nblocks = qs.nblocks();

  const TensorView& packed = src.get(w);
  check_tensor(packed, DType::U8, {(n + 1) / 2, 1}, src.where);
  qs.packed.assign(packed.data, packed.data + packed.nbytes);

  const TensorView& qmap = src.get(w + ".quant_map");
  check_tensor(qmap, DType::F32, {16}, src.where);
  LP_CHECK(std::memcmp(qmap.data, code4(qt).data(), 16 * sizeof(float)) == 0,
           src.where << " \"" << qmap.name << "\" differs from bitsandbytes' " << quant_type_name(qt) << " code");

  const TensorView& absmax = src.get(w + ".absmax");
  qs.nested = src.find(w + ".nested_absmax") != nullptr;
  if (!qs.nested) {
    check_tensor(absmax, DType::F32, {nblocks}, src.where);
    qs.absmax = floats(absmax);
    return qs;
  }
  check_tensor(absmax, DType::U8, {nblocks}, src.where);
  qs.absmax_codes.assign(absmax.data, absmax.data + absmax.nbytes);
  LP_CHECK(field("nested_blocksize").is_int() && field("nested_blocksize").as_int() > 0,
           ctx << ": nested_blocksize must be a positive integer");
  qs.nested_blocksize = static_cast<int>(field("nested_blocksize").as_int());
  LP_CHECK(field("nested_dtype").is_string() && field("nested_dtype").as_string() == "float32",
           ctx << ": nested_dtype must be \"float32\"");
  LP_CHECK(field("nested_offset").is_number(), ctx << ": nested_offset must be a number");
  qs.nested_offset = static_cast<float>(field("nested_offset").as_double());  // the double of an fp32: exact
  const TensorView& nabs = src.get(w + ".nested_absmax");
  check_tensor(nabs, DType::F32, {ceil_div(nblocks, qs.nested_blocksize)}, src.where);
  qs.nested_absmax = floats(nabs);
  const TensorView& nmap = src.get(w + ".nested_quant_map");
  check_tensor(nmap, DType::F32, {256}, src.where);
  qs.nested_quant_map = floats(nmap);
  return qs;
}

}  // namespace

const char* quant_type_name(QuantType t) { return t == QuantType::NF4 ? "nf4" : "fp4"; }

QuantType parse_quant_type(std::string_view name, std::string_view context) {
  if (name == "nf4") return QuantType::NF4;
  if (name == "fp4") return QuantType::FP4;
  LP_CHECK(false, context << ": unsupported 4-bit quant_type \"" << name << "\" (expected nf4 or fp4)");
}

const std::array<float, 16>& code4(QuantType t) {
  static const std::array<float, 16> nf4 = make_code4(QuantType::NF4), fp4 = make_code4(QuantType::FP4);
  return t == QuantType::NF4 ? nf4 : fp4;
}

const std::array<float, 256>& dynamic_map_signed() {
  static const std::array<float, 256> map = [] {
    std::array<float, 256> m{};
    const std::vector<float> d = build_dynamic_map();
    std::copy(d.begin(), d.end(), m.begin());
    return m;
  }();
  return map;
}

Quantized4 quantize_4bit(const float* x, int64_t n, int blocksize, QuantType t) {
  check_blocksize(blocksize, "quantize_4bit");
  LP_CHECK(n > 0, "quantize_4bit: empty input");
  const Bucketer4& bucket = bucketer4(t);
  Quantized4 q;
  q.packed.assign(static_cast<size_t>((n + 1) / 2), 0);
  q.absmax.resize(static_cast<size_t>(ceil_div(n, blocksize)));
  uint8_t* packed = q.packed.data();
  // Blocks start at even elements, so no two threads write the same byte.
  scale_blocks(x, n, blocksize, q.absmax.data(), [&](int64_t e, float s) {
    const uint8_t c = bucket(s);
    packed[e / 2] |= (e & 1) ? c : static_cast<uint8_t>(c << 4);
  });
  if (n & 1) packed[n / 2] |= bucket(0.0f);  // bnb pads the scaled values with one 0.0
  return q;
}

void dequantize_4bit(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, QuantType t, float* out) {
  check_blocksize(blocksize, "dequantize_4bit");
  dequant4_blocks(packed, n, blocksize, t, out, [absmax](int64_t b) { return absmax[b]; });
}

Quantized8 quantize_blockwise_8bit(const float* x, int64_t n, int blocksize, const float* code) {
  LP_CHECK(blocksize > 0 && n > 0,
           "quantize_blockwise_8bit: need n > 0 and blocksize > 0, got " << n << ", " << blocksize);
  std::array<float, 255> mids;
  for (int i = 0; i < 255; ++i) mids[i] = (code[i] + code[i + 1]) / 2.0f;
  Quantized8 q;
  q.codes.resize(static_cast<size_t>(n));
  q.absmax.resize(static_cast<size_t>(ceil_div(n, blocksize)));
  scale_blocks(x, n, blocksize, q.absmax.data(), [&](int64_t e, float s) {
    q.codes[e] = static_cast<uint8_t>(std::lower_bound(mids.begin(), mids.end(), s) - mids.begin());
  });
  return q;
}

float torch_mean_f32(const float* x, int64_t n) {
  LP_CHECK(n > 0, "torch_mean_f32: empty input");
  constexpr int L = 8;
  float sum;
  if (n < L) {
    sum = torch_row_sum<1>(x, n)[0];
  } else {
    const int64_t nvec = n / L;
    const auto lanes = torch_row_sum<L>(x, nvec);
    sum = 0.0f;
    for (int64_t k = nvec * L; k < n; ++k) sum += x[k];
    for (int l = 0; l < L; ++l) sum += lanes[l];
  }
  return sum / static_cast<float>(n);
}

int64_t QuantState::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t QuantState::nblocks() const { return ceil_div(numel(), blocksize); }

std::vector<float> QuantState::block_absmax() const {
  if (!nested) return absmax;
  const int64_t nb = nblocks();
  std::vector<float> out(static_cast<size_t>(nb));
  for (int64_t b = 0; b < nb; ++b)
    out[b] = recover_absmax(nested_quant_map[absmax_codes[b]], nested_absmax[b / nested_blocksize], nested_offset);
  return out;
}

void QuantState::dequantize(float* out) const {
  if (!nested) {
    dequant4_blocks(packed.data(), numel(), blocksize, quant_type, out, [this](int64_t b) { return absmax[b]; });
    return;
  }
  dequant4_blocks(packed.data(), numel(), blocksize, quant_type, out, [this](int64_t b) {
    return recover_absmax(nested_quant_map[absmax_codes[b]], nested_absmax[b / nested_blocksize], nested_offset);
  });
}

QuantState quantize_weight(const float* w, const std::vector<int64_t>& shape, QuantType t, int blocksize,
                           bool double_quant, const std::string& dtype) {
  QuantState qs;
  qs.quant_type = t;
  qs.blocksize = blocksize;
  qs.shape = shape;
  qs.dtype = dtype;
  const int64_t n = qs.numel();
  Quantized4 q = quantize_4bit(w, n, blocksize, t);
  qs.packed = std::move(q.packed);
  if (!double_quant) {
    qs.absmax = std::move(q.absmax);
    return qs;
  }
  qs.nested = true;
  qs.nested_offset = torch_mean_f32(q.absmax.data(), static_cast<int64_t>(q.absmax.size()));
  for (float& a : q.absmax) a -= qs.nested_offset;
  const auto& map = dynamic_map_signed();
  Quantized8 q8 =
      quantize_blockwise_8bit(q.absmax.data(), static_cast<int64_t>(q.absmax.size()), qs.nested_blocksize, map.data());
  qs.absmax_codes = std::move(q8.codes);
  qs.nested_absmax = std::move(q8.absmax);
  qs.nested_quant_map.assign(map.begin(), map.end());
  return qs;
}

QuantState load_quant_state(const SafetensorsFile& file, const std::string& prefix) {
  return load_impl({[&](const std::string& k) { return file.find(k); }, [&] { return file.names(); }, file.path()},
                   prefix);
}

QuantState load_quant_state(const SafetensorsDir& dir, const std::string& prefix) {
  return load_impl({[&](const std::string& k) { return dir.find(k); }, [&] { return dir.names(); }, dir.dir()}, prefix);
}

std::vector<TensorView> quant_state_tensors(const QuantState& qs, const std::string& prefix, std::string& json_blob) {
  const std::string w = prefix + ".weight";
  const int64_t n = qs.numel(), nblocks = qs.nblocks();
  LP_CHECK(static_cast<int64_t>(qs.packed.size()) == (n + 1) / 2, w << ": packed holds " << qs.packed.size()
                                                                    << " bytes, shape " << shape_str(qs.shape)
                                                                    << " needs " << (n + 1) / 2);
  auto view = [](std::string name, DType dt, std::vector<int64_t> shape, const void* data, size_t nbytes) {
    TensorView t;
    t.name = std::move(name);
    t.dtype = dt;
    t.shape = std::move(shape);
    t.data = static_cast<const uint8_t*>(data);
    t.nbytes = nbytes;
    return t;
  };
  // QuantState.as_dict(packed=True): json.dumps of the non-tensor fields, in this order.
  Json meta = Json::object();
  meta.set("quant_type", quant_type_name(qs.quant_type));
  meta.set("blocksize", qs.blocksize);
  meta.set("dtype", qs.dtype);
  Json shape = Json::array();
  for (int64_t d : qs.shape) shape.push_back(d);
  meta.set("shape", std::move(shape));
  const auto& c4 = code4(qs.quant_type);
  std::vector<TensorView> out;
  out.push_back(view(w, DType::U8, {(n + 1) / 2, 1}, qs.packed.data(), qs.packed.size()));
  out.push_back(view(w + ".quant_map", DType::F32, {16}, c4.data(), sizeof(c4)));
  if (qs.nested) {
    LP_CHECK(static_cast<int64_t>(qs.absmax_codes.size()) == nblocks && qs.nested_quant_map.size() == 256 &&
                 static_cast<int64_t>(qs.nested_absmax.size()) == ceil_div(nblocks, qs.nested_blocksize),
             w << ": inconsistent double-quantization state for shape " << shape_str(qs.shape));
    meta.set("nested_blocksize", qs.nested_blocksize);
    meta.set("nested_dtype", "float32");
    meta.set("nested_offset", static_cast<double>(qs.nested_offset));
    out.push_back(view(w + ".absmax", DType::U8, {nblocks}, qs.absmax_codes.data(), qs.absmax_codes.size()));
    out.push_back(view(w + ".nested_absmax", DType::F32, {static_cast<int64_t>(qs.nested_absmax.size())},
                       qs.nested_absmax.data(), qs.nested_absmax.size() * sizeof(float)));
    out.push_back(view(w + ".nested_quant_map", DType::F32, {256}, qs.nested_quant_map.data(), 256 * sizeof(float)));
  } else {
    LP_CHECK(static_cast<int64_t>(qs.absmax.size()) == nblocks,
             w << ": absmax holds " << qs.absmax.size() << " values, expected " << nblocks);
    out.push_back(view(w + ".absmax", DType::F32, {nblocks}, qs.absmax.data(), qs.absmax.size() * sizeof(float)));
  }
  json_blob = meta.dump_python();
  out.push_back(view(w + ".quant_state.bitsandbytes__" + std::string(quant_type_name(qs.quant_type)), DType::U8,
                     {static_cast<int64_t>(json_blob.size())}, json_blob.data(), json_blob.size()));
  return out;
}

}  // namespace lp
