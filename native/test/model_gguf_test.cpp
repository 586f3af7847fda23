// A base model from a GGUF file (model/gguf_base.h through LlamaModel::load): the llama, llama_gqa (GQA,
// tied embeddings), qwen2 and qwen3 (q/k norms, head_dim as attention.key_length) golden models written as
// llama.cpp's converter writes them
// (test/reference/make_gguf_golden.py: F32, llama.cpp's names and metadata, Llama's q/k rows permuted for its RoPE)
// compute what the same models loaded from their HF folders compute; unsupported architectures, unknown tensors and
// missing metadata are errors naming the file.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "core/check.h"
#include "core/json.h"
#include "model/llama.h"
#include "model_test_util.h"
#include "test_util.h"

namespace lp {
namespace {

using testing::error_of;
using testing::Golden;
using testing::read_file;
using testing::rel_err;
using testing::write_file;

std::string gguf_path(const std::string& c) { return testing::golden_dir("gguf/" + c + ".gguf"); }

// The golden GGUF with one byte string replaced by another of the same length, written to a temporary file.
std::string edited(const std::string& c, const std::string& from, const std::string& to) {
  std::string bytes = read_file(gguf_path(c));
  const size_t at = bytes.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(from.size(), to.size());
  bytes.replace(at, from.size(), to);
  const std::string path = ::testing::TempDir() + "lp_model_" + c + "_" + std::to_string(at) + ".gguf";
  write_file(path, bytes);
  return path;
}

class ModelGguf : public ::testing::TestWithParam<const char*> {};

// The golden's HF folder; llama_gqa's without its llama3 rope scaling, which its GGUF does not carry.
std::unique_ptr<LlamaModel> load_hf(const Golden& g, const testing::TempDir& tmp) {
  if (g.name != "llama_gqa") return g.load();
  Json cfg = read_json_file(g.dir + "/model/config.json");
  Json rope = Json::object();
  rope.set("rope_theta", cfg.at("rope_parameters").at("rope_theta"));
  rope.set("rope_type", "default");
  cfg.set("rope_parameters", std::move(rope));
  write_file(tmp / "config.json", cfg.dump());
  std::filesystem::copy_file(g.dir + "/model/model.safetensors", tmp / "model.safetensors");
  auto m = LlamaModel::load(tmp.path(), g.opts);
  g.set_lora_init(*m);
  return m;
}

TEST_P(ModelGguf, ComputesWhatTheHfFolderComputes) {
  const Golden g(GetParam());
  const testing::TempDir tmp("gguf_hf");
  const auto hf = load_hf(g, tmp);
  auto gg = LlamaModel::load(gguf_path(g.name), g.opts);
  g.set_lora_init(*gg);

  const ModelConfig &a = hf->config(), &b = gg->config();
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_FLOAT_EQ(static_cast<float>(a.rms_norm_eps), static_cast<float>(b.rms_norm_eps));  // GGUF holds an f32
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.attention_bias, b.attention_bias);

  std::vector<float> want, got;
  hf->logits(g.batch, want);
  gg->logits(g.batch, got);
  const double err = rel_err(got, want);
  std::printf("[gguf %s] logits relative error, GGUF vs HF folder: %.3g\n", g.name.c_str(), err);
  EXPECT_LT(err, 1e-6);  // the same NF4 bytes; only rms_norm_eps differs (its f32 rounding)
}

INSTANTIATE_TEST_SUITE_P(Model, ModelGguf, ::testing::Values("llama", "llama_gqa", "qwen2", "qwen3"),
                         testing::case_name);

TEST(ModelGgufErrors, UnsupportedArchitecture) {
  // general.architecture's value: u32 type 8 (string), u64 length 5, "llama".
  const std::string path = edited("llama", std::string("\x08\0\0\0\x05\0\0\0\0\0\0\0llama", 17),
                                  std::string("\x08\0\0\0\x05\0\0\0\0\0\0\0mamba", 17));
  const std::string e = error_of([&] { LlamaModel::load(path, LoadOptions{}); });
  EXPECT_NE(e.find(path + ": architecture \"mamba\" is not supported"), std::string::npos) << e;
}

TEST(ModelGgufErrors, TensorTheArchitectureDoesNotHave) {
  const std::string path = edited("llama", "blk.1.ffn_up.weight", "blk.1.ffn_xx.weight");
  const std::string e = error_of([&] { LlamaModel::load(path, LoadOptions{}); });
  EXPECT_NE(e.find(path + ": tensor \"blk.1.ffn_xx.weight\" is not part of the llama architecture"), std::string::npos)
      << e;
}

TEST(ModelGgufErrors, MissingHyperparameter) {
  const std::string path = edited("qwen2", "qwen2.block_count", "qwen2.block_COUNT");
  const std::string e = error_of([&] { LlamaModel::load(path, LoadOptions{}); });
  EXPECT_NE(e.find(path + " has no metadata \"qwen2.block_count\""), std::string::npos) << e;
}

TEST(ModelGgufErrors, TruncatedFile) {
  std::string bytes = read_file(gguf_path("llama"));
  bytes.resize(bytes.size() / 2);
  const std::string path = ::testing::TempDir() + "lp_model_truncated.gguf";
  write_file(path, bytes);
  const std::string e = error_of([&] { LlamaModel::load(path, LoadOptions{}); });
  EXPECT_NE(e.find(path + " is truncated: tensor"), std::string::npos) << e;
}

}  // namespace
}  // namespace lp
