// Tests for core/safetensors.h: byte-exact writing (against Python's safetensors), reading the golden
// model folders, sharded folders, float32 conversion and every error message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/check.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "test_util.h"

namespace {

using lp::testing::error_of;
using lp::testing::golden_dir;
using lp::testing::read_file;
using lp::testing::write_file;

std::string temp_dir() {
  std::string tmpl = testing::TempDir() + "lp_safetensors_XXXXXX";
  char* d = mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr);
  return tmpl;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

template <class T>
lp::TensorView view(const std::string& name, lp::DType dt, std::vector<int64_t> shape, const std::vector<T>& v) {
  lp::TensorView t;
  t.name = name;
  t.dtype = dt;
  t.shape = std::move(shape);
  t.data = reinterpret_cast<const uint8_t*>(v.data());
  t.nbytes = v.size() * sizeof(T);
  return t;
}

// safetensors.torch.save(...) of the tensors built in WritesExactlyWhatPythonWrites, metadata {"format": "pt"}.
const char* kPythonBytes =
    "60020000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a227074227d2c2262223a7b226474797065223a22493634"
    "222c22"
    "7368617065223a5b325d2c22646174615f6f666673657473223a5b302c31365d7d2c2264223a7b226474797065223a22463634222c22736861"
    "706522"
    "3a5b315d2c22646174615f6f666673657473223a5b31362c32345d7d2c226174746e2e30223a7b226474797065223a22463332222c22736861"
    "706522"
    "3a5b312c322c335d2c22646174615f6f666673657473223a5b32342c34385d7d2c227363616c6172223a7b226474797065223a22463332222c"
    "227368"
    "617065223a5b5d2c22646174615f6f666673657473223a5b34382c35325d7d2c22693332223a7b226474797065223a22493332222c22736861"
    "706522"
    "3a5b312c315d2c22646174615f6f666673657473223a5b35322c35365d7d2c2263223a7b226474797065223a2242463136222c227368617065"
    "223a5b"
    "335d2c22646174615f6f666673657473223a5b35362c36325d7d2c22615f68616c66223a7b226474797065223a22463136222c227368617065"
    "223a5b"
    "325d2c22646174615f6f666673657473223a5b36322c36365d7d2c226938223a7b226474797065223a224938222c227368617065223a5b325d"
    "2c2264"
    "6174615f6f666673657473223a5b36362c36385d7d2c2275223a7b226474797065223a225538222c227368617065223a5b325d2c2264617461"
    "5f6f66"
    "6673657473223a5b36382c37305d7d2c22666c6167223a7b226474797065223a22424f4f4c222c227368617065223a5b325d2c22646174615f"
    "6f6666"
    "73657473223a5b37302c37325d7d7d20ffffffffffffffff00000000000100009a9999999999b93f000000000000803f000000400000404000"
    "008040"
    "0000a0400000504007000000c03f00c040400038fffb807f01ff0100";

}  // namespace

TEST(CoreSafetensors, WritesExactlyWhatPythonWrites) {
  const std::vector<float> attn = {0, 1, 2, 3, 4, 5}, scalar = {3.25f};
  const std::vector<int64_t> b = {-1, int64_t{1} << 40};
  const std::vector<uint16_t> c = {0x3FC0, 0xC000, 0x4040};  // bf16 1.5, -2, 3
  const std::vector<uint16_t> half = {0x3800, 0xFBFF};       // fp16 0.5, -65504
  const std::vector<uint8_t> flag = {1, 0}, u = {1, 255};
  const std::vector<int8_t> i8 = {-128, 127};
  const std::vector<int32_t> i32 = {7};
  const std::vector<double> d = {0.1};
  const std::vector<lp::TensorView> tensors = {view("attn.0", lp::DType::F32, {1, 2, 3}, attn),
                                               view("b", lp::DType::I64, {2}, b),
                                               view("c", lp::DType::BF16, {3}, c),
                                               view("a_half", lp::DType::F16, {2}, half),
                                               view("flag", lp::DType::BOOL, {2}, flag),
                                               view("u", lp::DType::U8, {2}, u),
                                               view("i8", lp::DType::I8, {2}, i8),
                                               view("i32", lp::DType::I32, {1, 1}, i32),
                                               view("d", lp::DType::F64, {1}, d),
                                               view("scalar", lp::DType::F32, {}, scalar)};
  const std::string dir = temp_dir();
  lp::write_safetensors(dir + "/t.safetensors", tensors, {{"format", "pt"}});
  EXPECT_EQ(read_file(dir + "/t.safetensors"), from_hex(kPythonBytes));

  // And it reads back: names, dtypes, shapes, bytes, metadata, alignment.
  lp::SafetensorsFile f(dir + "/t.safetensors");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.names().size(), tensors.size());
  for (const auto& t : tensors) {
    const lp::TensorView& r = f.get(t.name);
    EXPECT_EQ(r.dtype, t.dtype) << t.name;
    EXPECT_EQ(r.shape, t.shape) << t.name;
    ASSERT_EQ(r.nbytes, t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(r.data, t.data, t.nbytes), 0) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r.data) % lp::dtype_size(r.dtype), 0u) << t.name;
  }
  EXPECT_EQ(lp::to_float32(f.get("c")), (std::vector<float>{1.5f, -2.0f, 3.0f}));
  EXPECT_EQ(lp::to_float32(f.get("a_half")), (std::vector<float>{0.5f, -65504.0f}));
  EXPECT_EQ(lp::to_float32(f.get("b")), (std::vector<float>{-1.0f, 1099511627776.0f}));
  EXPECT_EQ(lp::to_float32(f.get("scalar")), (std::vector<float>{3.25f}));
  EXPECT_EQ(lp::to_float32(f.get("flag")), (std::vector<float>{1.0f, 0.0f}));

  // An empty tensor and no metadata: Python writes {"x":{...,"data_offsets":[0,0]}} padded with 2 spaces.
  const std::vector<float> none;
  lp::write_safetensors(dir + "/e.safetensors", {view("x", lp::DType::F32, {0}, none)});
  EXPECT_EQ(
      read_file(dir + "/e.safetensors"),
      from_hex("38000000000000007b2278223a7b226474797065223a22463332222c227368617065223a5b305d2c22646174615f6f666673"
               "657473223a5b302c305d7d7d2020"));
  EXPECT_EQ(lp::SafetensorsFile(dir + "/e.safetensors").get("x").numel(), 0);
}

TEST(CoreSafetensors, RewritesGoldenFilesByteForByte) {
  // Files written by Python's safetensors (through transformers, peft and safetensors.torch.save_file):
  // reading every tensor and writing them back must give the same bytes.
  const std::string dir = temp_dir();
  for (const char* rel : {"llama/model/model.safetensors", "llama/nf4.safetensors", "llama/fp4.safetensors",
                          "qwen2/nf4.safetensors", "llama/outputs.safetensors", "llama/lora_init.safetensors",
                          "llama_rslora/final_adapter/adapter_model.safetensors"}) {
    lp::SafetensorsFile f(golden_dir(rel));
    lp::write_safetensors(dir + "/copy.safetensors", f.tensors(), f.metadata());
    EXPECT_EQ(read_file(dir + "/copy.safetensors"), read_file(golden_dir(rel))) << rel;
  }
}

TEST(CoreSafetensors, ReadsGoldenModelDir) {
  lp::SafetensorsDir d(golden_dir("llama/model"));
  const lp::TensorView& emb = d.get("model.embed_tokens.weight");
  EXPECT_EQ(emb.dtype, lp::DType::F32);
  EXPECT_EQ(emb.shape, (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(d.get("model.layers.0.mlp.down_proj.weight").shape, (std::vector<int64_t>{64, 80}));
  EXPECT_TRUE(d.contains("lm_head.weight"));
  EXPECT_EQ(d.names().size(), 2u * 9 + 3);  // 7 projections + 2 norms per layer; embed, norm, lm_head
  EXPECT_FALSE(lp::SafetensorsDir(golden_dir("llama_gqa/model")).contains("lm_head.weight"));  // tied
  EXPECT_TRUE(lp::SafetensorsDir(golden_dir("qwen2/model")).contains("model.layers.1.self_attn.k_proj.bias"));
  const std::vector<float> w = lp::to_float32(emb);
  EXPECT_EQ(w.size(), 128u * 64);
  float expect0;
  std::memcpy(&expect0, emb.data, 4);
  EXPECT_EQ(w[0], expect0);

  const std::string msg = error_of([&] { d.get("model.layers.0.mlp.down_proj.weights"); });
  EXPECT_NE(msg.find("tensor \"model.layers.0.mlp.down_proj.weights\" not found in " + golden_dir("llama/model")),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("closest names: model.layers.0.mlp.down_proj.weight"), std::string::npos) << msg;
}

TEST(CoreSafetensors, ReadsShardedDirAcrossShards) {
  const std::string dir = temp_dir();
  const std::vector<float> a = {1, 2}, b = {3, 4, 5};
  lp::write_safetensors(dir + "/model-00001-of-00002.safetensors", {view("a.weight", lp::DType::F32, {2}, a)},
                        {{"format", "pt"}});
  lp::write_safetensors(dir + "/model-00002-of-00002.safetensors", {view("b.weight", lp::DType::F32, {3}, b)},
                        {{"format", "pt"}});
  write_file(dir + "/model.safetensors.index.json",
             R"({"metadata": {"total_size": 20}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors", )"
             R"("b.weight": "model-00002-of-00002.safetensors"}})");
  lp::SafetensorsDir d(dir);
  EXPECT_EQ(d.names(), (std::vector<std::string>{"a.weight", "b.weight"}));
  EXPECT_EQ(lp::to_float32(d.get("b.weight")), b);
  EXPECT_EQ(d.shards().size(), 2u);

  write_file(dir + "/model.safetensors.index.json",
             R"({"weight_map": {"c.weight": "model-00001-of-00002.safetensors"}})");
  const std::string msg = error_of([&] { lp::SafetensorsDir bad(dir); });
  EXPECT_NE(msg.find("maps \"c.weight\" to model-00001-of-00002.safetensors, which does not hold it"),
            std::string::npos)
      << msg;

  const std::string empty = temp_dir();
  EXPECT_NE(error_of([&] {
              lp::SafetensorsDir none(empty);
            }).find("no model.safetensors or model.safetensors.index.json in " + empty),
            std::string::npos);
}

TEST(CoreSafetensors, ConvertsHalfAndBfloat16Exactly) {
  const std::vector<uint16_t> h = {0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00,
                                   0xC000, 0x7BFF, 0x7C00, 0xFC00, 0x7E00};
  const std::vector<float> hv = lp::to_float32(view("h", lp::DType::F16, {11}, h));
  EXPECT_EQ(hv[0], 0.0f);
  EXPECT_TRUE(std::signbit(hv[1]) && hv[1] == 0.0f);
  EXPECT_EQ(hv[2], std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(hv[3], std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(hv[4], std::ldexp(1.0f, -14));     // smallest normal
  EXPECT_EQ(hv[5], 1.0f);
  EXPECT_EQ(hv[6], -2.0f);
  EXPECT_EQ(hv[7], 65504.0f);
  EXPECT_EQ(hv[8], INFINITY);
  EXPECT_EQ(hv[9], -INFINITY);
  EXPECT_TRUE(std::isnan(hv[10]));
  const std::vector<uint16_t> bf = {0x3F80, 0xBF80, 0x0001, 0x7F80, 0x4049};
  const std::vector<float> bv = lp::to_float32(view("b", lp::DType::BF16, {5}, bf));
  EXPECT_EQ(bv[0], 1.0f);
  EXPECT_EQ(bv[1], -1.0f);
  EXPECT_EQ(bv[2], std::ldexp(1.0f, -133));
  EXPECT_EQ(bv[3], INFINITY);
  EXPECT_EQ(bv[4], 3.140625f);
}

TEST(CoreSafetensors, ErrorsSayWhatIsWrong) {
  const std::string dir = temp_dir();
  auto err = [](const std::string& path) { return error_of([&] { lp::SafetensorsFile f(path); }); };

  EXPECT_NE(err(dir + "/missing.safetensors").find("cannot open safetensors file " + dir + "/missing.safetensors"),
            std::string::npos);

  write_file(dir + "/short.safetensors", "abc");
  EXPECT_NE(err(dir + "/short.safetensors").find("is truncated: 3 bytes"), std::string::npos);

  std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  auto file = [&](const std::string& h, const std::string& data) {
    std::string len(8, '\0');
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((h.size() >> (8 * i)) & 0xFF);
    return len + h + data;
  };
  write_file(dir + "/oob.safetensors", file(header, std::string(8, '\0')).substr(0, 20));
  EXPECT_NE(err(dir + "/oob.safetensors").find("header length 54 runs past the end of the file (20 bytes)"),
            std::string::npos)
      << err(dir + "/oob.safetensors");

  write_file(dir + "/trunc.safetensors", file(header, std::string(5, '\0')));
  EXPECT_NE(err(dir + "/trunc.safetensors")
                .find("is truncated: tensor \"a\" ends at data byte 8 but the file holds 5 data bytes"),
            std::string::npos)
      << err(dir + "/trunc.safetensors");

  write_file(dir + "/trail.safetensors", file(header, std::string(12, '\0')));
  EXPECT_NE(err(dir + "/trail.safetensors").find("4 bytes after the last tensor"), std::string::npos);

  write_file(dir + "/dtype.safetensors", file(R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "xx"));
  EXPECT_NE(err(dir + "/dtype.safetensors").find("tensor \"a\": unsupported dtype \"F8_E4M3\""), std::string::npos)
      << err(dir + "/dtype.safetensors");

  write_file(dir + "/size.safetensors",
             file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')));
  EXPECT_NE(err(dir + "/size.safetensors").find("tensor \"a\" is F32 [3] (12 bytes) but data_offsets span 8 bytes"),
            std::string::npos);

  write_file(dir + "/gap.safetensors",
             file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", std::string(4, '\0')));
  EXPECT_NE(err(dir + "/gap.safetensors").find("leave a gap or overlap"), std::string::npos);

  write_file(dir + "/json.safetensors", file(R"({"a":{"dtype":"F32",)", ""));
  EXPECT_NE(err(dir + "/json.safetensors").find("header: expected a string key at byte offset 20"), std::string::npos)
      << err(dir + "/json.safetensors");

  write_file(dir + "/meta.safetensors", file(R"({"__metadata__":{"format":1}})", ""));
  EXPECT_NE(err(dir + "/meta.safetensors").find("__metadata__ value of \"format\" is a JSON int, expected a string"),
            std::string::npos);

  lp::SafetensorsFile nf4(golden_dir("llama/nf4.safetensors"));
  const std::string msg = error_of([&] { nf4.get("model.layers.0.self_attn.q_proj.weight.absmaxx"); });
  EXPECT_NE(msg.find("tensor \"model.layers.0.self_attn.q_proj.weight.absmaxx\" not found in " +
                     golden_dir("llama/nf4.safetensors")),
            std::string::npos);
  EXPECT_NE(msg.find("closest names: model.layers.0.self_attn.q_proj.weight.absmax"), std::string::npos) << msg;

  const std::vector<float> two = {1, 2};
  EXPECT_NE(error_of([&] {
              lp::write_safetensors(dir + "/w.safetensors", {view("a", lp::DType::F32, {3}, two)});
            }).find("tensor \"a\" is F32 [3] but holds 8 bytes"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              lp::write_safetensors(dir + "/w.safetensors",
                                    {view("a", lp::DType::F32, {2}, two), view("a", lp::DType::F32, {2}, two)});
            }).find("duplicate tensor name \"a\""),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              lp::check_tensor(nf4.get("model.layers.0.self_attn.q_proj.weight"), lp::DType::F32, {64, 64});
            }).find("tensor \"model.layers.0.self_attn.q_proj.weight\" is U8 [2048, 1], expected F32 [64, 64]"),
            std::string::npos);
}
