// Tests for core/gguf.h and core/gguf_dequant.h: the golden test/reference/goldens/gguf (gguf-py's
// GGUFWriter and its numpy dequantization, make_gguf_golden.py) read value for value, and every kind of
// malformed file named in its error.
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <functional>
#include <string>

#include "core/check.h"
#include "core/gguf.h"
#include "core/gguf_dequant.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "test_util.h"

namespace {

using lp::testing::error_of;
using lp::testing::golden_dir;
using lp::testing::read_file;
using lp::testing::write_file;

const std::string kTypes = golden_dir("gguf/types.gguf");

// The golden's bytes with `edit` applied, written to a temporary file; returns its path.
std::string edited(const std::string& name, const std::function<void(std::string&)>& edit) {
  std::string bytes = read_file(kTypes);
  edit(bytes);
  const std::string path = testing::TempDir() + "lp_gguf_" + name + ".gguf";
  write_file(path, bytes);
  return path;
}

// The byte offset of tensor `name`'s info field `field` (0: dims count, then 8-byte dims, then type,
// then offset) in the header: the info follows the u64-length-prefixed name.
size_t info_field(const std::string& bytes, const std::string& name, size_t field_offset) {
  std::string key(8, '\0');
  const uint64_t n = name.size();
  std::memcpy(key.data(), &n, 8);
  key += name;
  const size_t at = bytes.rfind(key);  // tensor infos follow the metadata
  EXPECT_NE(at, std::string::npos);
  return at + key.size() + field_offset;
}
constexpr size_t kTypeField = 4 + 2 * 8;  // after n_dims and two dims
constexpr size_t kOffsetField = kTypeField + 4;

template <class T>
void put(std::string& bytes, size_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof v);
}

TEST(Gguf, MetadataOfEveryValueType) {
  const lp::GgufFile f(kTypes);
  EXPECT_EQ(f.version(), 3u);
  const lp::Json expected = lp::read_json_file(golden_dir("gguf/metadata.json"));
  ASSERT_EQ(f.metadata().size(), expected.size());
  for (const auto& [key, value] : expected.items()) {
    const lp::Json* got = f.find_metadata(key);
    ASSERT_NE(got, nullptr) << key;
    EXPECT_EQ(*got, value) << key << ": " << got->dump() << " vs " << value.dump();
  }
  EXPECT_TRUE(f.get_metadata("test.uint64").is_int());
  EXPECT_TRUE(f.get_metadata("test.float32").is_number());
  EXPECT_NE(error_of([&] { f.get_metadata("llama.block_count"); }).find("has no metadata \"llama.block_count\""),
            std::string::npos);
}

TEST(Gguf, DequantizesEveryTypeAsGgufPy) {
  const lp::GgufFile f(kTypes);
  const lp::SafetensorsFile want(golden_dir("gguf/dequant.safetensors"));
  ASSERT_EQ(f.tensors().size(), want.tensors().size());
  for (const lp::GgufTensor& t : f.tensors()) {
    SCOPED_TRACE(t.name);
    const lp::TensorView& w = want.get(t.name);
    EXPECT_EQ(t.shape, w.shape);  // GGUF's [512, 3] is the row-major [3, 512]
    const std::vector<float> got = f.to_float32(t);
    const std::vector<float> ref = lp::to_float32(w);
    ASSERT_EQ(got.size(), ref.size());
    size_t differing = 0;
    for (size_t i = 0; i < got.size(); ++i) differing += std::memcmp(&got[i], &ref[i], 4) != 0;
    EXPECT_EQ(differing, 0u) << "values not bit-identical to gguf.quants.dequantize";
  }
}

TEST(Gguf, TypeNamesMatchTheTensors) {
  const lp::GgufFile f(kTypes);
  for (const lp::GgufTensor& t : f.tensors()) {
    std::string lower = lp::gguf::type_name(t.type);
    for (char& c : lower) c = static_cast<char>(std::tolower(c));
    EXPECT_EQ(lower, t.name);  // make_gguf_golden.py names each tensor after its type
  }
}

TEST(Gguf, MissingTensorNamesCloseOnes) {
  const lp::GgufFile f(kTypes);
  const std::string e = error_of([&] { f.get("q4_l"); });
  EXPECT_NE(e.find("tensor \"q4_l\" not found in " + kTypes), std::string::npos) << e;
  EXPECT_NE(e.find("q4_k"), std::string::npos) << e;
}

TEST(Gguf, WrongMagic) {
  const std::string path = edited("magic", [](std::string& b) { b.replace(0, 4, "GGML"); });
  const std::string e = error_of([&] { lp::GgufFile f(path); });
  EXPECT_NE(e.find(path + " is not a GGUF file: it starts with bytes 47 47 4d 4c"), std::string::npos) << e;
}

TEST(Gguf, UnsupportedVersion) {
  const std::string path = edited("version", [](std::string& b) { put<uint32_t>(b, 4, 1); });
  const std::string e = error_of([&] { lp::GgufFile f(path); });
  EXPECT_NE(e.find(path + " has GGUF version 1; loraplane reads versions 2 and 3"), std::string::npos) << e;
}

TEST(Gguf, TruncatedInTheHeader) {
  const std::string path = edited("truncated_header", [](std::string& b) { b.resize(300); });
  const std::string e = error_of([&] { lp::GgufFile f(path); });
  EXPECT_NE(e.find(path + " is truncated: "), std::string::npos) << e;
  EXPECT_NE(e.find("at byte"), std::string::npos) << e;
}

TEST(Gguf, TruncatedInTheData) {
  const std::string path = edited("truncated_data", [](std::string& b) { b.resize(b.size() - 100); });
  const std::string e = error_of([&] { lp::GgufFile f(path); });
  EXPECT_NE(e.find(path + " is truncated: tensor \"q6_k\""), std::string::npos) << e;
  EXPECT_NE(e.find("ends past the end of the file"), std::string::npos) << e;
}

TEST(Gguf, EmptyFile) {
  const std::string path = edited("empty", [](std::string& b) { b.clear(); });
  const std::string e = error_of([&] { lp::GgufFile f(path); });
  EXPECT_NE(e.find(path + " is truncated: the magic at byte 0 needs 4 bytes"), std::string::npos) << e;
}

TEST(Gguf, UnknownTensorType) {
  const std::string path =
      edited("unknown_type", [](std::string& b) { put<uint32_t>(b, info_field(b, "q4_k", kTypeField), 99); });
  const std::string e = error_of([&] { lp::GgufFile f(path); });
  EXPECT_NE(e.find(path + ": tensor \"q4_k\" has tensor type 99 (unknown), which loraplane cannot read"),
            std::string::npos)
      << e;
}

TEST(Gguf, KnownTypeItCannotDequantize) {
  // Q5_0 has a known block layout, so the file opens; dequantizing that tensor is the error.
  const std::string path = edited("q5_0", [](std::string& b) {
    put<uint32_t>(b, info_field(b, "q4_0", kTypeField), static_cast<uint32_t>(lp::gguf::TensorType::Q5_0));
  });
  const lp::GgufFile f(path);
  EXPECT_EQ(f.to_float32(f.get("q8_0")).size(), 3u * 512u);  // the other tensors still read
  const std::string e = error_of([&] { f.to_float32(f.get("q4_0")); });
  EXPECT_NE(e.find(path + ": tensor \"q4_0\" is Q5_0, which loraplane cannot dequantize"), std::string::npos) << e;
}

TEST(Gguf, OffsetPastTheEnd) {
  const std::string path =
      edited("offset", [](std::string& b) { put<uint64_t>(b, info_field(b, "f16", kOffsetField), 1u << 20); });
  const std::string e = error_of([&] { lp::GgufFile f(path); });
  EXPECT_NE(e.find(path + " is truncated: tensor \"f16\" (3072 bytes at data offset 1048576) ends past the end"),
            std::string::npos)
      << e;
}

TEST(Gguf, UnalignedOffset) {
  const std::string path =
      edited("unaligned", [](std::string& b) { put<uint64_t>(b, info_field(b, "f16", kOffsetField), 7169); });
  const std::string e = error_of([&] { lp::GgufFile f(path); });
  EXPECT_NE(e.find(path + ": tensor \"f16\" starts at data offset 7169, not a multiple of 32"), std::string::npos) << e;
}

TEST(Gguf, RowsNotAWholeNumberOfBlocks) {
  const std::string path =
      edited("rows", [](std::string& b) { put<uint64_t>(b, info_field(b, "q4_k", 4), 384); });  // 384 % 256 != 0
  const std::string e = error_of([&] { lp::GgufFile f(path); });
  EXPECT_NE(e.find(path + ": tensor \"q4_k\" is Q4_K with rows of 384 values, not a whole number of 256-value blocks"),
            std::string::npos)
      << e;
}

TEST(Gguf, MissingFile) {
  const std::string e = error_of([] { lp::GgufFile f("/nonexistent/model.gguf"); });
  EXPECT_NE(e.find("cannot open GGUF file /nonexistent/model.gguf"), std::string::npos) << e;
}

}  // namespace
