// The GGUF writer's bytes against the layout in gguf_format.h (header, typed metadata with general.alignment, tensor
// infos with ggml's innermost-first dims, 32-byte aligned offsets and data), and a failed write leaving no file behind.
// Whether llama.cpp loads what the exports write is trainer/src/gguf-export.test.ts's job (the real llama.cpp).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/gguf_format.h"
#include "core/gguf_writer.h"
#include "model_test_util.h"
#include "test_util.h"

namespace lp {
namespace {

using testing::error_of;
using testing::read_file;

// Reads little-endian values off a byte string in order.
struct Cursor {
  const std::string& b;
  size_t at = 0;
  template <typename T>
  T get() {
    T v;
    std::memcpy(&v, b.data() + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  std::string str() {
    const auto n = get<uint64_t>();
    std::string s = b.substr(at, n);
    at += n;
    return s;
  }
};

TEST(GgufWriter, WritesTheLayoutLlamaCppReads) {
  const testing::TempDir dir("gguf_writer");
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 4);
  w.set_f32("adapter.lora.alpha", 16.f);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_strings("tokenizer.ggml.tokens", {"a", "bc"});
  w.set_i32s("tokenizer.ggml.token_type", {1, 3});
  w.add_tensor("t.weight", {2, 3}, [](std::vector<float>& v) { v = {0, 1, 2, 3, 4, 5}; });
  w.add_tensor("n.weight", {5}, [](std::vector<float>& v) { v = {9, 8, 7, 6, 5}; });
  w.write(dir / "x.gguf");
  const std::string b = read_file(dir / "x.gguf");

  Cursor c{b};
  EXPECT_EQ(c.get<uint32_t>(), gguf::kMagic);
  EXPECT_EQ(c.get<uint32_t>(), 3u);
  EXPECT_EQ(c.get<uint64_t>(), 2u);         // tensors
  EXPECT_EQ(c.get<uint64_t>(), 7u);         // metadata
  EXPECT_EQ(c.str(), gguf::kAlignmentKey);  // the Writer's own, first
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::ValueType::UINT32));
  EXPECT_EQ(c.get<uint32_t>(), gguf::kDefaultAlignment);
  EXPECT_EQ(c.str(), "general.architecture");
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::ValueType::STRING));
  EXPECT_EQ(c.str(), "llama");
  EXPECT_EQ(c.str(), "llama.block_count");
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::ValueType::UINT32));
  EXPECT_EQ(c.get<uint32_t>(), 4u);
  EXPECT_EQ(c.str(), "adapter.lora.alpha");
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::ValueType::FLOAT32));
  EXPECT_EQ(c.get<float>(), 16.f);
  EXPECT_EQ(c.str(), "tokenizer.ggml.add_bos_token");
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::ValueType::BOOL));
  EXPECT_EQ(c.get<uint8_t>(), 1);
  EXPECT_EQ(c.str(), "tokenizer.ggml.tokens");
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::ValueType::ARRAY));
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::ValueType::STRING));
  EXPECT_EQ(c.get<uint64_t>(), 2u);
  EXPECT_EQ(c.str(), "a");
  EXPECT_EQ(c.str(), "bc");
  EXPECT_EQ(c.str(), "tokenizer.ggml.token_type");
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::ValueType::ARRAY));
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::ValueType::INT32));
  EXPECT_EQ(c.get<uint64_t>(), 2u);
  EXPECT_EQ(c.get<int32_t>(), 1);
  EXPECT_EQ(c.get<int32_t>(), 3);

  // (2, 3) as PyTorch holds it is ne = [3, 2] for ggml; the second tensor starts at the next multiple of 32.
  EXPECT_EQ(c.str(), "t.weight");
  EXPECT_EQ(c.get<uint32_t>(), 2u);
  EXPECT_EQ(c.get<uint64_t>(), 3u);
  EXPECT_EQ(c.get<uint64_t>(), 2u);
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::TensorType::F32));
  EXPECT_EQ(c.get<uint64_t>(), 0u);
  EXPECT_EQ(c.str(), "n.weight");
  EXPECT_EQ(c.get<uint32_t>(), 1u);
  EXPECT_EQ(c.get<uint64_t>(), 5u);
  EXPECT_EQ(c.get<uint32_t>(), static_cast<uint32_t>(gguf::TensorType::F32));
  EXPECT_EQ(c.get<uint64_t>(), 32u);

  const size_t data = (c.at + 31) / 32 * 32;
  Cursor d{b, data};
  for (float v : {0.f, 1.f, 2.f, 3.f, 4.f, 5.f}) EXPECT_EQ(d.get<float>(), v);
  d.at = data + 32;
  for (float v : {9.f, 8.f, 7.f, 6.f, 5.f}) EXPECT_EQ(d.get<float>(), v);
  EXPECT_EQ(b.size(), data + 64);
}

TEST(GgufWriter, AFailedWriteLeavesNoFile) {
  const testing::TempDir dir("gguf_writer_fail");
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.add_tensor("a.weight", {4}, [](std::vector<float>& v) { v = {1, 2, 3, 4}; });
  w.add_tensor("b.weight", {4}, [](std::vector<float>&) { LP_CHECK(false, "dequantization failed"); });
  EXPECT_NE(error_of([&] { w.write(dir / "x.gguf"); }).find("dequantization failed"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));

  gguf::Writer short_fill;
  short_fill.add_tensor("c.weight", {4}, [](std::vector<float>& v) { v = {1, 2}; });
  EXPECT_NE(error_of([&] { short_fill.write(dir / "y.gguf"); }).find("GGUF tensor \"c.weight\" got 2 values for 4"),
            std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace lp
