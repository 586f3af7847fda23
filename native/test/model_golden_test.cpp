// LlamaModel against the PyTorch goldens (transformers + PEFT + bitsandbytes, fp32 on CPU), for every
// case: NF4 bytes, RoPE inv_freq, logits, loss, every LoRA gradient, the 4-bit base's logits, and the
// same from a pre-quantized checkpoint, without activation checkpointing, and as a packed row.
// Errors are relative to the reference's scale: max|ours - ref| / max|ref| per tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "model/llama.h"
#include "model_test_util.h"
#include "quant/quant4.h"

namespace lp {
namespace {

using testing::Golden;
using testing::rel_err;

class ModelGolden : public ::testing::TestWithParam<const char*> {};

// Forward + backward of the golden batch; checks logits, loss and every LoRA grad, and prints the errors.
void expect_matches_golden(const Golden& g, LlamaModel& m, const std::string& what) {
  std::vector<float> logits;
  m.logits(g.batch, logits);
  const double e_logits = rel_err(logits, g.out("logits"));
  EXPECT_LT(e_logits, 1e-5) << what;

  const int64_t tokens = count_loss_tokens(g.batch);
  EXPECT_EQ(tokens, g.meta.at("inputs").at("num_valid_tokens_after_shift").as_int());
  m.zero_grad();
  const LossStats s = m.forward_backward(g.batch, 1.0f / static_cast<float>(tokens));
  EXPECT_EQ(s.tokens, tokens);
  const double loss = s.loss_sum / static_cast<double>(s.tokens);
  const double e_loss = std::fabs(loss - g.out("loss")[0]);
  EXPECT_LT(e_loss, 1e-5) << what;

  const LossStats ev = m.evaluate(g.batch);
  EXPECT_NEAR(ev.loss_sum, s.loss_sum, 1e-9 * std::fabs(s.loss_sum))
      << what << ": evaluate and forward_backward disagree";

  double e_grad = 0;
  for (const LoraParam& p : m.lora_params()) {
    const double e = rel_err(p.grad, g.out("grad." + p.name));
    EXPECT_LT(e, 1e-4) << what << " " << p.name;
    e_grad = std::max(e_grad, e);
  }
  std::printf("[%s %s] logits rel %.3g, loss abs %.3g, worst grad rel %.3g\n", g.name.c_str(), what.c_str(), e_logits,
              e_loss, e_grad);
}

TEST_P(ModelGolden, NF4BytesEqualBitsandbytes) {
  const Golden g(GetParam());
  const auto m = LlamaModel::load(g.dir + "/model", g.opts);
  for (int l = 0; l < static_cast<int>(m->config().num_hidden_layers); ++l) {
    for (int p = 0; p < 7; ++p) {
      const char* mod = kLoraModuleNames[p];
      const std::string prefix = "model.layers." + std::to_string(l) + (p < 4 ? ".self_attn." : ".mlp.") + mod;
      const QuantState ref = load_quant_state(*g.nf4, prefix);
      const QuantState* q = m->quant_state(l, mod);
      ASSERT_NE(q, nullptr) << prefix;
      EXPECT_EQ(q->shape, ref.shape) << prefix;
      EXPECT_EQ(q->packed, ref.packed) << prefix;
      EXPECT_EQ(q->absmax_codes, ref.absmax_codes) << prefix;
      EXPECT_EQ(q->nested_absmax, ref.nested_absmax) << prefix;
      EXPECT_EQ(q->nested_offset, ref.nested_offset) << prefix;
    }
  }
}

TEST_P(ModelGolden, RopeInvFreqMatchesTransformers) {
  const Golden g(GetParam());
  const auto m = LlamaModel::load(g.dir + "/model", g.opts);
  const std::vector<float> ref = g.out("rope_inv_freq");
  ASSERT_EQ(m->rope_inv_freq().size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_FLOAT_EQ(m->rope_inv_freq()[i], ref[i]) << i;
}

TEST_P(ModelGolden, ForwardBackwardMatchesPyTorch) {
  const Golden g(GetParam());
  const auto m = g.load();
  expect_matches_golden(g, *m, "quantized here");

  m->set_adapters_enabled(false);
  std::vector<float> base;
  m->logits(g.batch, base);
  const double e = rel_err(base, g.out("logits_base"));
  EXPECT_LT(e, 1e-5);
  std::printf("[%s] logits_base rel %.3g\n", g.name.c_str(), e);
}

TEST_P(ModelGolden, WithoutActivationCheckpointingGradsAreIdentical) {
  const Golden g(GetParam());
  const auto a = g.load();
  LoadOptions o = g.opts;
  o.activation_checkpointing = false;
  const auto b = g.load(o);
  const float scale = 1.0f / static_cast<float>(count_loss_tokens(g.batch));
  const LossStats sa = a->forward_backward(g.batch, scale), sb = b->forward_backward(g.batch, scale);
  EXPECT_EQ(sa.loss_sum, sb.loss_sum);
  for (size_t i = 0; i < a->lora_params().size(); ++i)
    EXPECT_EQ(a->lora_params()[i].grad, b->lora_params()[i].grad) << a->lora_params()[i].name;
}

TEST_P(ModelGolden, PreQuantizedCheckpointMatchesPyTorch) {
  // A folder as transformers saves a 4-bit model: the golden's nf4 tensors plus the fp32 rest.
  const Golden g(GetParam());
  testing::TempDir tmp(std::string("prequant_") + GetParam());
  std::filesystem::copy_file(g.dir + "/model/config.json", tmp / "config.json");
  const SafetensorsFile src(g.dir + "/model/model.safetensors");
  std::vector<TensorView> views;
  for (const TensorView& t : src.tensors())
    if (!g.nf4->contains(t.name) && t.name.find("_proj.weight") == std::string::npos) views.push_back(t);
  for (const TensorView& t : g.nf4->tensors()) views.push_back(t);
  write_safetensors(tmp / "model.safetensors", views, {{"format", "pt"}});

  LoadOptions o = g.opts;
  o.quant_type = QuantType::FP4;  // ignored: the checkpoint's own quantization wins
  auto pre = LlamaModel::load(tmp.path(), o);
  g.set_lora_init(*pre);
  EXPECT_EQ(pre->quant_state(0, "q_proj")->quant_type, QuantType::NF4);
  expect_matches_golden(g, *pre, "pre-quantized");
}

TEST_P(ModelGolden, PackedRowEqualsSeparateDocuments) {
  // Both golden rows packed into one row of 2T tokens, positions restarting at 0: same logits and,
  // with the boundary label masked (as TRL's padding-free collator does), the same loss sum.
  const Golden g(GetParam());
  const auto m = g.load();
  Batch packed;
  packed.B = 1;
  packed.T = 2 * g.batch.T;
  packed.input_ids = g.batch.input_ids;
  packed.labels = g.batch.labels;
  packed.labels[static_cast<size_t>(g.batch.T)] = -100;
  for (int r = 0; r < 2; ++r)
    for (int t = 0; t < g.batch.T; ++t) packed.position_ids.push_back(t);
  std::vector<float> logits;
  m->logits(packed, logits);
  EXPECT_LT(rel_err(logits, g.out("logits")), 1e-5);
  const LossStats s = m->evaluate(packed);
  EXPECT_EQ(s.tokens, count_loss_tokens(g.batch));
  EXPECT_NEAR(s.loss_sum / static_cast<double>(s.tokens), g.out("loss")[0], 1e-5);
}

TEST_P(ModelGolden, GreedyGenerationFollowsTheFullForward) {
  // The KV-cache decoder must pick the argmax of the full-sequence forward at every step.
  const Golden g(GetParam());
  const auto m = g.load();
  const std::vector<int32_t> prompt(g.batch.input_ids.begin(), g.batch.input_ids.begin() + 5);
  const std::vector<int32_t> gen = m->generate(prompt, 12, 0.f, 1.f, 7, {});
  ASSERT_EQ(gen.size(), 12u);
  testing::expect_greedy_follows_forward(*m, prompt, gen);
  // Stop ids end generation after the stop token; sampling is reproducible for a seed.
  const auto first = std::find(gen.begin(), gen.end(), gen[3]);
  const std::vector<int32_t> stopped = m->generate(prompt, 12, 0.f, 1.f, 7, {gen[3]});
  EXPECT_EQ(stopped, std::vector<int32_t>(gen.begin(), first + 1));
  const auto s1 = m->generate(prompt, 8, 0.8f, 0.9f, 123, {});
  const auto s2 = m->generate(prompt, 8, 0.8f, 0.9f, 123, {});
  EXPECT_EQ(s1, s2);
}

INSTANTIATE_TEST_SUITE_P(Model, ModelGolden, ::testing::ValuesIn(testing::kGoldenCases), testing::case_name);

TEST(ModelLoad, MissingDirNamesThePath) {
  try {
    LlamaModel::load("/nonexistent/model_dir", LoadOptions{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model_dir"), std::string::npos) << e.what();
  }
}

TEST(ModelLoad, DirWithoutConfigIsRejected) {
  testing::TempDir tmp("noconfig");
  try {
    LlamaModel::load(tmp.path(), LoadOptions{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
}

TEST(ModelLoad, UnsupportedArchitectureIsNamed) {
  testing::TempDir tmp("gpt2");
  testing::write_file(tmp / "config.json",
                      R"({"model_type": "gpt2", "vocab_size": 128, "n_embd": 64, "n_layer": 2, "n_head": 4})");
  try {
    LlamaModel::load(tmp.path(), LoadOptions{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gpt2"), std::string::npos) << e.what();
  }
}

TEST(ModelLoad, WeightShapeThatDisagreesWithConfigIsNamed) {
  const testing::Golden g("llama");
  testing::TempDir tmp("badshape");
  Json cfg = read_json_file(g.dir + "/model/config.json");
  cfg.set("intermediate_size", 96);
  testing::write_file(tmp / "config.json", cfg.dump());
  std::filesystem::copy_file(g.dir + "/model/model.safetensors", tmp / "model.safetensors");
  try {
    LlamaModel::load(tmp.path(), g.opts);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[96, 64]"), std::string::npos) << msg;
  }
}

TEST(ModelLoad, BadLoraOptionsAreNamed) {
  const testing::Golden g("llama");
  LoadOptions o = g.opts;
  o.lora.target_modules = {"q_proj", "qkv_proj"};
  try {
    LlamaModel::load(g.dir + "/model", o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("qkv_proj"), std::string::npos) << e.what();
  }
}

TEST(ModelLoad, DefaultLoraInitFollowsPeft) {
  // A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0, keys in PEFT order, base_bytes below the fp32 size.
  const testing::Golden g("llama_rslora");
  const auto m = LlamaModel::load(g.dir + "/model", g.opts);
  const auto& ps = m->lora_params();
  ASSERT_EQ(ps.size(), 2u * 2 * 3);  // 2 layers x {q, v, down} x {A, B}
  EXPECT_EQ(ps[0].name, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(ps[3].name, "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight");
  EXPECT_EQ(ps[5].name, "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight");
  for (size_t i = 0; i < ps.size(); i += 2) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(ps[i].shape[1]));
    float mx = 0;
    for (float v : ps[i].value) mx = std::max(mx, std::fabs(v));
    EXPECT_LE(mx, bound);
    EXPECT_GT(mx, 0.8f * bound);
    for (float v : ps[i + 1].value) EXPECT_EQ(v, 0.f);
  }
  EXPECT_FLOAT_EQ(m->options().lora.scaling(), 5.65685424949238f);
  EXPECT_LT(m->base_bytes(), std::filesystem::file_size(g.dir + "/model/model.safetensors"));
}

}  // namespace
}  // namespace lp
