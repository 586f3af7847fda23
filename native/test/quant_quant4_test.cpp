// Tests for quant/quant4.h against bitsandbytes 0.50.2: code books, rounding at midpoints, nibble order,
// padding, partial blocks, the double-quant offset, and byte-identical 4-bit state for every quantized
// Linear of the golden models (test/reference/goldens, written by make_goldens.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/check.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "quant/quant4.h"
#include "test_util.h"

namespace {

using lp::testing::error_of;
using lp::testing::golden_dir;

const char* kCases[] = {"llama", "llama_gqa", "qwen2", "qwen3", "llama_rslora"};

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// FNV-1a 64, the same function the Python side used to summarize bitsandbytes' outputs.
uint64_t fnv(const void* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

std::vector<uint8_t> nibbles(const std::vector<uint8_t>& packed) {
  std::vector<uint8_t> out;
  for (uint8_t b : packed) {
    out.push_back(b >> 4);
    out.push_back(b & 15);
  }
  return out;
}

// Module prefixes with a 4-bit state in a golden file.
std::vector<std::string> prefixes(const lp::SafetensorsFile& f, const std::string& qt) {
  const std::string suffix = ".weight.quant_state.bitsandbytes__" + qt;
  std::vector<std::string> out;
  for (const auto& n : f.names())
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(n.substr(0, n.size() - suffix.size()));
  return out;
}

}  // namespace

TEST(QuantMaps, EqualBitsandbytesCodeBooksBitForBit) {
  const lp::Json maps = lp::read_json_file(golden_dir("quant_maps.json"));
  auto check = [&](const char* key, const float* values, size_t n) {
    const lp::Json& entries = maps.at(key);
    ASSERT_EQ(entries.size(), n) << key;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t want = static_cast<uint32_t>(std::stoul(entries[i].at("f32_hex").as_string(), nullptr, 16));
      EXPECT_EQ(bits(values[i]), want) << key << "[" << i << "] = " << values[i];
    }
  };
  check("nf4", lp::code4(lp::QuantType::NF4).data(), 16);
  check("fp4", lp::code4(lp::QuantType::FP4).data(), 16);
  // Derived here the way create_dynamic_map does (torch.linspace's fp32 arithmetic included), not copied.
  check("dynamic_signed_8bit", lp::dynamic_map_signed().data(), 256);
  EXPECT_EQ(lp::dynamic_map_signed()[0], -0.99296875f);
  EXPECT_EQ(lp::dynamic_map_signed()[127], 0.0f);
  EXPECT_EQ(lp::dynamic_map_signed()[255], 1.0f);
}

TEST(QuantNf4, MidpointGoesToLowerCodeAndFirstElementIsHighNibble) {
  // The 15 fp32 NF4 midpoints (code[i] + code[i+1]) / 2 listed in test/reference/README.md.
  const float mids[15] = {-0.8480963706970215f,  -0.6106328964233398f,  -0.4599952697753906f,   -0.33967941999435425f,
                          -0.23460739850997925f, -0.13791173696517944f, -0.045525018125772476f, 0.03979014977812767f,
                          0.120255246758461f,    0.2035212516784668f,   0.2920137643814087f,    0.3893125355243683f,
                          0.5016634464263916f,   0.6427869200706482f,   0.8614784479141235f};
  std::vector<float> x(64, 0.0f);
  x[0] = 1.0f;  // absmax 1: scaled == x
  for (int i = 0; i < 15; ++i) {
    x[1 + i] = mids[i];
    x[16 + i] = std::nextafter(mids[i], 2.0f);
    x[31 + i] = std::nextafter(mids[i], -2.0f);
  }
  const lp::Quantized4 q = lp::quantize_4bit(x.data(), 64, 64, lp::QuantType::NF4);
  const std::vector<uint8_t> nib = nibbles(q.packed);
  // bitsandbytes 0.50.2 on the same input: at a midpoint 0..14 (lower), above 1..15, below 0..14.
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ(nib[1 + i], i) << "at midpoint " << i;
    EXPECT_EQ(nib[16 + i], i + 1) << "above midpoint " << i;
    EXPECT_EQ(nib[31 + i], i) << "below midpoint " << i;
  }
  EXPECT_EQ(q.packed[0], 0xF0);  // x[0] = 1.0 -> code 15 in the high nibble, x[1] = mid 0 -> code 0
  EXPECT_EQ(q.absmax, std::vector<float>{1.0f});
}

TEST(QuantNf4, OddCountPadsWithTheCodeOfZero) {
  // bitsandbytes: [0.5, -0.25, 0.125] -> packed f2 a7 (padding nibble 7 = NF4 zero), absmax [0.5].
  const float x[3] = {0.5f, -0.25f, 0.125f};
  const lp::Quantized4 q = lp::quantize_4bit(x, 3, 64, lp::QuantType::NF4);
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0xF2, 0xA7}));
  EXPECT_EQ(q.absmax, std::vector<float>{0.5f});
  float out[3];
  lp::dequantize_4bit(q.packed.data(), q.absmax.data(), 3, 64, lp::QuantType::NF4, out);
  EXPECT_EQ(out[0], 0.5f);
  EXPECT_EQ(out[1], lp::code4(lp::QuantType::NF4)[2] * 0.5f);
}

TEST(QuantFp4, TinyPositiveGetsNibble8AsOnBitsandbytesCpu) {
  // bitsandbytes: [1, 1e-4, -1e-4, 0, ...] -> 0x38 0x00: FP4 holds +0.0 at indices 0 and 8; argsort puts
  // 0 first, so a tiny positive value lands on 8 and a tiny negative one (or 0) on 0.
  std::vector<float> x(64, 0.0f);
  x[0] = 1.0f;
  x[1] = 1e-4f;
  x[2] = -1e-4f;
  const lp::Quantized4 q = lp::quantize_4bit(x.data(), 64, 64, lp::QuantType::FP4);
  EXPECT_EQ(q.packed[0], 0x38);
  EXPECT_EQ(q.packed[1], 0x00);
}

TEST(Quant8bit, NearestDynamicCodeWithTiesToLower) {
  const auto& map = lp::dynamic_map_signed();
  std::vector<float> x(256);
  x[0] = 1.0f;
  for (int i = 0; i < 255; ++i) x[1 + i] = (map[i] + map[i + 1]) / 2.0f;
  const lp::Quantized8 q = lp::quantize_blockwise_8bit(x.data(), 256, 256, map.data());
  EXPECT_EQ(q.codes[0], 255);
  for (int i = 0; i < 255; ++i) EXPECT_EQ(q.codes[1 + i], i) << "midpoint " << i;
  EXPECT_EQ(q.absmax, std::vector<float>{1.0f});
}

TEST(QuantMean, ReproducesTorchMeanBitForBit) {
  // torch 2.15 x.mean() (one thread) of x_i = ((i * 2654435761) mod 2^32 >> 8) * 2^-24: several differ
  // from both a sequential fp32 sum and the correctly rounded mean.
  const std::pair<int64_t, uint32_t> cases[] = {
      {5, 0x3edf444d},   {7, 0x3ed9df22},   {9, 0x3ef1bbcb},    {64, 0x3effa6f2},   {80, 0x3effeb5a},
      {100, 0x3efc40dc}, {257, 0x3efeb278}, {1000, 0x3efffce6}, {4099, 0x3efffbc5}, {32768, 0x3efffd05}};
  for (const auto& [n, want] : cases) {
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      x[i] = static_cast<float>(((static_cast<uint64_t>(i) * 2654435761ull) & 0xFFFFFFFFull) >> 8) * 0x1.0p-24f;
    EXPECT_EQ(bits(lp::torch_mean_f32(x.data(), n)), want) << "n = " << n;
  }
}

TEST(QuantState, MatchesBitsandbytesOnPartialBlocksAndManyNestedBlocks) {
  // bitsandbytes.functional.quantize_4bit(x, blocksize=64, compress_statistics=True) then dequantize_4bit,
  // summarized with FNV-1a. n = 101: one full and one partial block (odd); n = 19237: 301 blocks, so the
  // nested quantization has a full 256-block and a partial one.
  struct Case {
    lp::QuantType t;
    int64_t n;
    uint64_t packed, codes;
    std::vector<uint32_t> nested_absmax;
    uint32_t offset;
    uint64_t deq;
  };
  const Case cases[] = {
      {lp::QuantType::NF4,
       101,
       0x63f1cc8e6fe992c9ull,
       0x831c907b4ea2b60ull,
       {0x3d240000},
       0x3f524000,
       0xcb21c7c2b8be8ff1ull},
      {lp::QuantType::NF4,
       19237,
       0xbd595821a65af197ull,
       0xcb7895cfdaf79d05ull,
       {0x3e9d440c, 0x3e96bbf4},
       0x3f895103,
       0x287496d27b92fd29ull},
      {lp::QuantType::FP4,
       101,
       0xebcc58d9d420cb53ull,
       0x831c907b4ea2b60ull,
       {0x3d240000},
       0x3f524000,
       0x32378701cde3d309ull},
      {lp::QuantType::FP4,
       19237,
       0x341d6e466db72458ull,
       0xcb7895cfdaf79d05ull,
       {0x3e9d440c, 0x3e96bbf4},
       0x3f895103,
       0xf7e583ac27b3f9beull},
  };
  for (const Case& c : cases) {
    std::vector<float> x(static_cast<size_t>(c.n));
    for (int64_t i = 0; i < c.n; ++i)
      x[i] = static_cast<float>((i * 37) % 101 - 50) / 64.0f * (1.0f + static_cast<float>((i / 64) % 7) / 8.0f);
    const lp::QuantState qs = lp::quantize_weight(x.data(), {c.n}, c.t);
    EXPECT_EQ(fnv(qs.packed.data(), qs.packed.size()), c.packed) << c.n;
    EXPECT_EQ(fnv(qs.absmax_codes.data(), qs.absmax_codes.size()), c.codes) << c.n;
    ASSERT_EQ(qs.nested_absmax.size(), c.nested_absmax.size());
    for (size_t i = 0; i < c.nested_absmax.size(); ++i) EXPECT_EQ(bits(qs.nested_absmax[i]), c.nested_absmax[i]);
    EXPECT_EQ(bits(qs.nested_offset), c.offset);
    std::vector<float> out(static_cast<size_t>(c.n));
    qs.dequantize(out.data());
    EXPECT_EQ(fnv(out.data(), out.size() * 4), c.deq) << c.n;
  }
}

TEST(QuantState, QuantizesEveryGoldenWeightByteIdentically) {
  int modules = 0;
  for (const char* name : kCases) {
    const std::string c = name;
    lp::SafetensorsDir model(golden_dir(c + "/model"));
    for (const char* qt : {"nf4", "fp4"}) {
      if (std::string(qt) == "fp4" && c != "llama") continue;
      lp::SafetensorsFile file(golden_dir(c + "/" + qt + ".safetensors"));
      for (const std::string& p : prefixes(file, qt)) {
        const lp::TensorView& w = model.get(p + ".weight");
        const std::vector<float> wf = lp::to_float32(w);
        const lp::QuantState mine = lp::quantize_weight(wf.data(), w.shape, lp::parse_quant_type(qt, "test"));
        const lp::QuantState ref = lp::load_quant_state(file, p);
        const std::string where = c + " " + qt + " " + p;
        EXPECT_EQ(mine.packed, ref.packed) << where;
        EXPECT_EQ(mine.absmax_codes, ref.absmax_codes) << where;
        EXPECT_EQ(std::memcmp(mine.nested_absmax.data(), ref.nested_absmax.data(), ref.nested_absmax.size() * 4), 0)
            << where;
        EXPECT_EQ(std::memcmp(mine.nested_quant_map.data(), ref.nested_quant_map.data(), 256 * 4), 0) << where;
        EXPECT_EQ(bits(mine.nested_offset), bits(ref.nested_offset)) << where;
        EXPECT_EQ(mine.shape, ref.shape);
        EXPECT_EQ(mine.blocksize, 64);
        // The quant_state JSON bytes too.
        std::string blob;
        const auto tensors = lp::quant_state_tensors(mine, p, blob);
        const lp::TensorView& stored = file.get(p + ".weight.quant_state.bitsandbytes__" + qt);
        EXPECT_EQ(blob, std::string(reinterpret_cast<const char*>(stored.data), stored.nbytes)) << where;
        ++modules;
      }
    }
  }
  EXPECT_EQ(modules, 14 + 14 + 14 + 14 + 14 + 14);  // 2 layers x 7 projections, nf4 in 5 cases + fp4 in llama
}

TEST(QuantState, DequantizesLikeBitsandbytes) {
  // dequant.safetensors: bitsandbytes' own fp32 dequantization of down_proj [64, 80], whose rows straddle
  // 64-blocks (the stock CPU kernel's bug case).
  lp::SafetensorsFile deq(golden_dir("llama/dequant.safetensors"));
  for (const char* qt : {"nf4", "fp4"}) {
    const lp::QuantState qs = lp::load_quant_state(
        lp::SafetensorsFile(golden_dir(std::string("llama/") + qt + ".safetensors")), "model.layers.0.mlp.down_proj");
    ASSERT_EQ(qs.shape, (std::vector<int64_t>{64, 80}));
    std::vector<float> out(64 * 80);
    qs.dequantize(out.data());
    const lp::TensorView& want = deq.get(std::string(qt) + ".model.layers.0.mlp.down_proj.weight");
    EXPECT_EQ(std::memcmp(out.data(), want.data, want.nbytes), 0) << qt;
    // The same through the unfused path: recovered absmax, then dequantize_4bit.
    const std::vector<float> am = qs.block_absmax();
    std::vector<float> out2(64 * 80);
    lp::dequantize_4bit(qs.packed.data(), am.data(), 64 * 80, 64, qs.quant_type, out2.data());
    EXPECT_EQ(out, out2) << qt;
  }
}

TEST(QuantState, AbsmaxRecoveryRoundsProductBeforeAddingOffset) {
  // Pick values where an FMA would round differently; the weight decodes NF4 code 15 (1.0) so the output
  // is the recovered absmax itself.
  const auto& map = lp::dynamic_map_signed();
  float nabs = 0.3f, off = 0.0f;
  int code = -1;
  for (int k = 130; k < 256 && code < 0; ++k)
    for (float o : {0.01f, 0.0123f, 0.02f, 0.03f, 0.0371f}) {
      volatile float prod = map[k] * nabs;
      if (std::fma(map[k], nabs, o) != prod + o) {
        code = k;
        off = o;
        break;
      }
    }
  ASSERT_GE(code, 0);
  lp::QuantState qs;
  qs.shape = {64};
  qs.packed.assign(32, 0xFF);
  qs.nested = true;
  qs.absmax_codes = {static_cast<uint8_t>(code)};
  qs.nested_absmax = {nabs};
  qs.nested_quant_map.assign(map.begin(), map.end());
  qs.nested_offset = off;
  volatile float prod = map[code] * nabs;
  const float expect = prod + off;
  std::vector<float> out(64);
  qs.dequantize(out.data());
  EXPECT_EQ(bits(out[0]), bits(expect));
  EXPECT_EQ(bits(qs.block_absmax()[0]), bits(expect));
}

TEST(QuantState, RewritesGoldenNf4FileByteForByte) {
  // Load every 4-bit state, serialize it again next to the untouched tensors (Qwen2's biases), and
  // write the file: the bytes must equal what transformers + bitsandbytes + safetensors wrote.
  for (const char* name : {"llama", "qwen2"}) {
    const std::string path = golden_dir(std::string(name) + "/nf4.safetensors");
    lp::SafetensorsFile file(path);
    const std::vector<std::string> ps = prefixes(file, "nf4");
    std::vector<lp::QuantState> states;
    for (const auto& p : ps) states.push_back(lp::load_quant_state(file, p));
    std::vector<std::string> blobs(ps.size());
    std::vector<lp::TensorView> all;
    for (size_t i = 0; i < ps.size(); ++i)
      for (auto& t : lp::quant_state_tensors(states[i], ps[i], blobs[i])) all.push_back(t);
    for (const auto& t : file.tensors())
      if (t.name.size() > 5 && t.name.compare(t.name.size() - 5, 5, ".bias") == 0) all.push_back(t);
    ASSERT_EQ(all.size(), file.tensors().size()) << name;
    const std::string out = testing::TempDir() + "lp_nf4_copy.safetensors";
    lp::write_safetensors(out, all, file.metadata());
    std::ifstream a(out, std::ios::binary), b(path, std::ios::binary);
    std::stringstream sa, sb;
    sa << a.rdbuf();
    sb << b.rdbuf();
    EXPECT_TRUE(sa.str() == sb.str()) << name;
  }
}

TEST(QuantState, PlainAbsmaxRoundTripsAndDequantizesInParallel) {
  // Without double quantization: absmax stays fp32; save/load/dequantize on a weight big enough for
  // OpenMP, checked against a scalar reference.
  const int64_t N = 256, K = 1000;
  std::vector<float> w(static_cast<size_t>(N * K));
  for (int64_t i = 0; i < N * K; ++i)
    w[i] = std::sin(0.001f * static_cast<float>(i)) * (1.0f + static_cast<float>(i % 13));
  const lp::QuantState qs = lp::quantize_weight(w.data(), {N, K}, lp::QuantType::NF4, 128, false, "bfloat16");
  EXPECT_FALSE(qs.nested);
  EXPECT_EQ(static_cast<int64_t>(qs.absmax.size()), N * K / 128);
  std::string blob;
  const std::string path = testing::TempDir() + "lp_plain.safetensors";
  lp::write_safetensors(path, lp::quant_state_tensors(qs, "m.proj", blob));
  EXPECT_EQ(blob, R"({"quant_type": "nf4", "blocksize": 128, "dtype": "bfloat16", "shape": [256, 1000]})");
  const lp::QuantState back = lp::load_quant_state(lp::SafetensorsFile(path), "m.proj");
  EXPECT_EQ(back.packed, qs.packed);
  EXPECT_EQ(back.absmax, qs.absmax);
  EXPECT_EQ(back.dtype, "bfloat16");
  std::vector<float> out(static_cast<size_t>(N * K));
  back.dequantize(out.data());
  const auto& code = lp::code4(lp::QuantType::NF4);
  for (int64_t e = 0; e < N * K; ++e) {
    const uint8_t byte = qs.packed[e / 2];
    const float want = code[(e & 1) ? (byte & 15) : (byte >> 4)] * qs.absmax[e / 128];
    ASSERT_EQ(out[e], want) << e;
    ASSERT_LE(std::fabs(out[e] - w[e]), qs.absmax[e / 128] * 0.16f) << e;  // half the widest NF4 gap
  }
}

TEST(QuantState, LoadErrorsNameTheTensor) {
  const lp::SafetensorsFile file(golden_dir("llama/nf4.safetensors"));
  std::string msg = error_of([&] { lp::load_quant_state(file, "model.layers.0.self_attn.q_projj"); });
  EXPECT_NE(msg.find("tensor \"model.layers.0.self_attn.q_projj.weight.quant_state.bitsandbytes__nf4\" not found in " +
                     golden_dir("llama/nf4.safetensors")),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("closest names: model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__nf4"),
            std::string::npos)
      << msg;

  // A state whose JSON shape disagrees with the packed bytes.
  const lp::QuantState qs = lp::load_quant_state(file, "model.layers.0.self_attn.q_proj");
  std::string blob;
  std::vector<lp::TensorView> t = lp::quant_state_tensors(qs, "p", blob);
  lp::Json j = lp::Json::parse(blob);
  j.set("shape", lp::Json(lp::Json::Array{lp::Json(64), lp::Json(80)}));
  const std::string bad = j.dump_python();
  t.back().data = reinterpret_cast<const uint8_t*>(bad.data());
  t.back().nbytes = bad.size();
  t.back().shape = {static_cast<int64_t>(bad.size())};
  const std::string path = testing::TempDir() + "lp_bad_state.safetensors";
  lp::write_safetensors(path, t);
  msg = error_of([&] { lp::load_quant_state(lp::SafetensorsFile(path), "p"); });
  EXPECT_NE(msg.find(path + ": tensor \"p.weight\" is U8 [2048, 1], expected U8 [2560, 1]"), std::string::npos) << msg;

  EXPECT_NE(error_of([&] {
              lp::quantize_4bit(qs.nested_absmax.data(), 1, 48, lp::QuantType::NF4);
            }).find("blocksize 48 is not one of 32, 64, ..., 4096"),
            std::string::npos);
}
