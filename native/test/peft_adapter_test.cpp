// PEFT adapter files (config bytes as PEFT writes them, save/load round trip, loading PEFT's own output,
// errors that name the mismatching key) and the merged fp32 export.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

#include "adapter/peft.h"
#include "model_test_util.h"

namespace lp {
namespace {

using testing::error_of;
using testing::Golden;
using testing::read_file;

class PeftGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(PeftGolden, AdapterConfigIsByteEqualToPeft) {
  // PEFT writes target_modules in Python set order; with that order taken over, the bytes must agree.
  const Golden g(GetParam());
  const std::string ref = read_file(g.dir + "/final_adapter/adapter_config.json");
  Json ours = peft_adapter_config(g.opts.lora, "model");
  ours.set("target_modules", *Json::parse(ref).find("target_modules"));
  EXPECT_EQ(ours.dump_python_pretty(), ref);
}

TEST_P(PeftGolden, LoadsPeftsOwnAdapter) {
  const Golden g(GetParam());
  const auto m = LlamaModel::load(g.dir + "/model", g.opts);
  load_peft_adapter(*m, g.dir + "/final_adapter");
  const SafetensorsFile ref(g.dir + "/final_adapter/adapter_model.safetensors");
  for (const LoraParam& p : m->lora_params()) EXPECT_EQ(p.value, to_float32(ref.get(p.name))) << p.name;
}

TEST_P(PeftGolden, SaveLoadRoundTrip) {
  const Golden g(GetParam());
  const auto a = g.load();
  testing::TempDir tmp(std::string("roundtrip_") + GetParam());
  save_peft_adapter(*a, tmp.path(), "my/base");
  const Json cfg = read_json_file(tmp / "adapter_config.json");
  EXPECT_EQ(cfg.at("base_model_name_or_path").as_string(), "my/base");
  const auto b = LlamaModel::load(g.dir + "/model", g.opts);
  load_peft_adapter(*b, tmp.path());
  for (size_t i = 0; i < a->lora_params().size(); ++i)
    EXPECT_EQ(a->lora_params()[i].value, b->lora_params()[i].value) << a->lora_params()[i].name;
}

TEST_P(PeftGolden, MergedExportEqualsAdaptedModel) {
  // W + scaling * B A over the dequantized base, loaded back as a dense fp32 model, gives the
  // adapted 4-bit model's logits.
  const Golden g(GetParam());
  const auto m = g.load();
  testing::TempDir tmp(std::string("merged_") + GetParam());
  export_merged(*m, tmp.path());
  const Json cfg = read_json_file(tmp / "config.json");
  EXPECT_FALSE(cfg.contains("quantization_config"));
  EXPECT_EQ(cfg.at("dtype").as_string(), "float32");
  EXPECT_TRUE(std::filesystem::exists(tmp / "generation_config.json"));
  LoadOptions dense = g.opts;
  dense.quantize = false;
  const auto merged = LlamaModel::load(tmp.path(), dense);
  merged->set_adapters_enabled(false);
  EXPECT_EQ(merged->quant_state(0, "q_proj"), nullptr);
  std::vector<float> want, got;
  m->logits(g.batch, want);
  merged->logits(g.batch, got);
  const double e = testing::rel_err(got, want);
  EXPECT_LT(e, 1e-5);
  std::printf("[%s] merged export logits rel %.3g\n", g.name.c_str(), e);
}

INSTANTIATE_TEST_SUITE_P(Peft, PeftGolden, ::testing::ValuesIn(testing::kGoldenCases), testing::case_name);

TEST(PeftErrors, WrongRankIsNamed) {
  const Golden g("llama");  // r 16
  const auto m = LlamaModel::load(g.dir + "/model", g.opts);
  const std::string msg =
      error_of([&] { load_peft_adapter(*m, testing::golden_dir("llama_rslora") + "/final_adapter"); });
  EXPECT_NE(msg.find("\"r\" is 8"), std::string::npos) << msg;
}

TEST(PeftErrors, TargetModulesMismatchIsNamed) {
  const Golden g("llama");
  LoadOptions o = g.opts;
  o.lora.target_modules = {"q_proj", "v_proj"};
  const auto m = LlamaModel::load(g.dir + "/model", o);
  const std::string msg = error_of([&] { load_peft_adapter(*m, g.dir + "/final_adapter"); });
  EXPECT_NE(msg.find("target_modules"), std::string::npos) << msg;
}

TEST(PeftErrors, TensorShapeMismatchNamesTheKey) {
  // A config that claims r 16 over tensors of rank 8.
  const Golden g("llama_rslora");
  testing::TempDir tmp("badrank");
  std::filesystem::copy_file(g.dir + "/final_adapter/adapter_model.safetensors", tmp / "adapter_model.safetensors");
  Json cfg = read_json_file(g.dir + "/final_adapter/adapter_config.json");
  cfg.set("r", 16);
  testing::write_file(tmp / "adapter_config.json", cfg.dump_python_pretty());
  LoadOptions o = g.opts;
  o.lora.r = 16;
  const auto m = LlamaModel::load(g.dir + "/model", o);
  const std::string msg = error_of([&] { load_peft_adapter(*m, tmp.path()); });
  EXPECT_NE(msg.find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[8, 64]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[16, 64]"), std::string::npos) << msg;
}

TEST(PeftErrors, MissingAdapterDirIsNamed) {
  const Golden g("llama");
  const auto m = LlamaModel::load(g.dir + "/model", g.opts);
  const std::string msg = error_of([&] { load_peft_adapter(*m, "/nonexistent/adapter"); });
  EXPECT_NE(msg.find("/nonexistent/adapter"), std::string::npos) << msg;
}

}  // namespace
}  // namespace lp
