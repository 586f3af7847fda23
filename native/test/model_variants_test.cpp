// Model variants without a PyTorch golden of their own: FP4 quantization (bytes against the llama
// golden's fp4.safetensors), a dense (unquantized) base, Mistral's sliding window (receptive field
// and KV-cache decoding beyond the window), on the llama golden's weights; Qwen3 with attention_bias.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "model_test_util.h"
#include "quant/quant4.h"

namespace lp {
namespace {

using testing::Golden;

TEST(ModelVariants, FP4BytesEqualBitsandbytes) {
  const Golden g("llama");
  LoadOptions o = g.opts;
  o.quant_type = QuantType::FP4;
  const auto m = LlamaModel::load(g.dir + "/model", o);
  const SafetensorsFile ref(g.dir + "/fp4.safetensors");
  for (int l = 0; l < 2; ++l)
    for (int p = 0; p < 7; ++p) {
      const std::string prefix =
          "model.layers." + std::to_string(l) + (p < 4 ? ".self_attn." : ".mlp.") + kLoraModuleNames[p];
      const QuantState want = load_quant_state(ref, prefix);
      const QuantState* got = m->quant_state(l, kLoraModuleNames[p]);
      ASSERT_NE(got, nullptr);
      EXPECT_EQ(got->quant_type, QuantType::FP4);
      EXPECT_EQ(got->packed, want.packed) << prefix;
      EXPECT_EQ(got->absmax_codes, want.absmax_codes) << prefix;
    }
}

TEST(ModelVariants, DenseBaseUsesTheCheckpointWeights) {
  const Golden g("llama");
  LoadOptions o = g.opts;
  o.quantize = false;
  const auto m = LlamaModel::load(g.dir + "/model", o);
  const SafetensorsFile src(g.dir + "/model/model.safetensors");
  EXPECT_EQ(m->quant_state(1, "down_proj"), nullptr);
  EXPECT_EQ(m->dense_weight(1, "down_proj"), to_float32(src.get("model.layers.1.mlp.down_proj.weight")));
  const auto q = LlamaModel::load(g.dir + "/model", g.opts);
  EXPECT_LT(q->base_bytes(), m->base_bytes());
}

// The llama golden's weights under a Mistral config with a sliding window of `window` tokens.
std::unique_ptr<LlamaModel> mistral(const testing::TempDir& tmp, int window) {
  const Golden g("llama");
  Json cfg = read_json_file(g.dir + "/model/config.json");
  cfg.set("architectures", Json(Json::Array{Json("MistralForCausalLM")}));
  cfg.set("model_type", "mistral");
  cfg.set("sliding_window", window);
  testing::write_file(tmp / "config.json", cfg.dump());
  std::filesystem::copy_file(g.dir + "/model/model.safetensors", tmp / "model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  LoadOptions o = g.opts;
  auto m = LlamaModel::load(tmp.path(), o);
  g.set_lora_init(*m);
  return m;
}

TEST(ModelVariants, SlidingWindowBoundsTheReceptiveField) {
  // Two layers of window W: position t sees inputs t - 2(W - 1) .. t, no further.
  testing::TempDir tmp("mistral_rf");
  const int W = 4;
  const auto m = mistral(tmp, W);
  EXPECT_EQ(m->config().sliding_window, W);
  const Golden g("llama");
  Batch a = g.micro[0];
  Batch b = a;
  b.input_ids[0] = (b.input_ids[0] + 1) % 128;
  std::vector<float> la, lb;
  m->logits(a, la);
  m->logits(b, lb);
  const int V = 128;
  for (int t = 0; t < a.T; ++t) {
    const bool same = std::equal(la.begin() + t * V, la.begin() + (t + 1) * V, lb.begin() + t * V);
    EXPECT_EQ(same, t > 2 * (W - 1)) << "position " << t;
  }
}

TEST(ModelVariants, SlidingWindowDecodingFollowsTheFullForward) {
  testing::TempDir tmp("mistral_gen");
  const auto m = mistral(tmp, 3);
  const Golden g("llama");
  const std::vector<int32_t> prompt(g.batch.input_ids.begin(), g.batch.input_ids.begin() + 6);
  const std::vector<int32_t> gen = m->generate(prompt, 10, 0.f, 1.f, 0, {});
  testing::expect_greedy_follows_forward(*m, prompt, gen);
}

// Qwen3's attention_bias puts a bias on q/k/v and o_proj: the qwen3 golden with zero biases added computes
// exactly the golden's logits, and without o_proj.bias the load names the missing tensor.
TEST(ModelVariants, Qwen3AttentionBiasReadsQkvAndOProjBiases) {
  const Golden g("qwen3");
  Json cfg = read_json_file(g.dir + "/model/config.json");
  cfg.set("attention_bias", true);
  const SafetensorsFile src(g.dir + "/model/model.safetensors");
  const int64_t C = cfg.at("hidden_size").as_int(), HD = cfg.at("head_dim").as_int(),
                QD = cfg.at("num_attention_heads").as_int() * HD, KVD = cfg.at("num_key_value_heads").as_int() * HD;
  const std::vector<float> zeros(static_cast<size_t>(QD), 0.f);
  using Bias = std::pair<const char*, int64_t>;
  auto folder = [&](const testing::TempDir& tmp, bool with_o_bias) {
    testing::write_file(tmp / "config.json", cfg.dump());
    std::vector<TensorView> views = src.tensors();
    for (int l = 0; l < 2; ++l)
      for (const auto& [module, n] :
           {Bias{"q_proj", QD}, Bias{"k_proj", KVD}, Bias{"v_proj", KVD}, Bias{"o_proj", C}}) {
        if (std::string(module) == "o_proj" && !with_o_bias) continue;
        TensorView t;
        t.name = "model.layers." + std::to_string(l) + ".self_attn." + module + ".bias";
        t.shape = {n};
        t.data = reinterpret_cast<const uint8_t*>(zeros.data());
        t.nbytes = static_cast<size_t>(n) * sizeof(float);
        views.push_back(t);
      }
    write_safetensors(tmp / "model.safetensors", views, {{"format", "pt"}});
  };
  testing::TempDir with("qwen3_bias");
  folder(with, true);
  auto m = LlamaModel::load(with.path(), g.opts);
  g.set_lora_init(*m);
  EXPECT_TRUE(m->config().attention_bias && m->config().o_proj_bias);
  std::vector<float> got, want;
  m->logits(g.batch, got);
  g.load()->logits(g.batch, want);
  EXPECT_EQ(got, want);

  testing::TempDir without("qwen3_no_o_bias");
  folder(without, false);
  const std::string e = testing::error_of([&] { LlamaModel::load(without.path(), g.opts); });
  EXPECT_NE(e.find("model.layers.0.self_attn.o_proj.bias"), std::string::npos) << e;
}

}  // namespace
}  // namespace lp
