// Tests for core/model_config.h: the golden configs (transformers 5 form), the transformers 4 form,
// Mistral, Qwen3's defaults, and the errors for unsupported architectures, rope types and missing keys.
#include <gtest/gtest.h>

#include <string>

#include "core/check.h"
#include "core/json.h"
#include "core/model_config.h"

namespace {

std::string golden(const std::string& rel) {
  return std::string(LORAPLANE_REPO_ROOT) + "/test/reference/goldens/" + rel;
}

std::string error_of(const std::string& json) {
  try {
    lp::parse_model_config(lp::Json::parse(json), "/models/x/config.json");
  } catch (const lp::Error& e) {
    return e.what();
  }
  return "";
}

const char* kMinimal = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 32000, "hidden_size": 4096,
  "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32, "max_position_embeddings": 4096,
  "rms_norm_eps": 1e-06, "rope_theta": 10000.0})";

}  // namespace

TEST(CoreModelConfig, ParsesGoldenLlama) {
  const lp::ModelConfig c = lp::load_model_config(golden("llama/model/config.json"));
  EXPECT_EQ(c.arch, lp::Arch::Llama);
  EXPECT_STREQ(lp::arch_name(c.arch), "LlamaForCausalLM");
  EXPECT_EQ(c.vocab_size, 128);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 80);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, lp::RopeScaling::Type::None);
  EXPECT_EQ(c.max_position_embeddings, 128);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{2}));
  EXPECT_EQ(c.pad_token_id, -1);
  EXPECT_EQ(c.torch_dtype, "float32");
  EXPECT_EQ(c.q_dim(), 64);
  EXPECT_EQ(c.kv_dim(), 64);
  EXPECT_EQ(lp::load_model_config(golden("llama_rslora/model/config.json")).num_key_value_heads, 4);
}

TEST(CoreModelConfig, ParsesGoldenLlamaGqaWithLlama3Rope) {
  const lp::ModelConfig c = lp::load_model_config(golden("llama_gqa/model/config.json"));
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.kv_dim(), 32);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, lp::RopeScaling::Type::Llama3);
  EXPECT_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 64);
}

TEST(CoreModelConfig, ParsesGoldenQwen2) {
  const lp::ModelConfig c = lp::load_model_config(golden("qwen2/model/config.json"));
  EXPECT_EQ(c.arch, lp::Arch::Qwen2);
  EXPECT_EQ(c.head_dim, 16);  // no head_dim key: hidden / heads
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_EQ(c.rope_theta, 1000000.0);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_TRUE(c.eos_token_ids.empty());
}

TEST(CoreModelConfig, ParsesGoldenQwen3) {
  const lp::ModelConfig c = lp::load_model_config(golden("qwen3/model/config.json"));
  EXPECT_EQ(c.arch, lp::Arch::Qwen3);
  EXPECT_EQ(c.head_dim, 32);  // explicit, not hidden / heads (16)
  EXPECT_EQ(c.q_dim(), 128);
  EXPECT_EQ(c.kv_dim(), 64);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.sliding_window, 0);
}

// As Qwen3Config: head_dim 128 when absent, attention_bias on q/k/v and o_proj alike; per-layer sliding
// attention is refused as for Qwen2.
TEST(CoreModelConfig, Qwen3DefaultsAndAttentionBias) {
  lp::Json j = lp::Json::parse(kMinimal);
  j.set("architectures", lp::Json::parse(R"(["Qwen3ForCausalLM"])"));
  lp::ModelConfig c = lp::parse_model_config(j, "qwen3/config.json");
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.q_dim(), 32 * 128);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.attention_bias || c.o_proj_bias || c.mlp_bias);

  j.set("attention_bias", true);
  c = lp::parse_model_config(j, "qwen3/config.json");
  EXPECT_TRUE(c.attention_bias && c.o_proj_bias);
  EXPECT_FALSE(c.mlp_bias);

  lp::Json by_type = lp::Json::parse(kMinimal);
  by_type.set("architectures", lp::Json());
  by_type.set("model_type", "qwen3");
  EXPECT_EQ(lp::parse_model_config(by_type, "qwen3/config.json").arch, lp::Arch::Qwen3);
  EXPECT_STREQ(lp::arch_name(lp::Arch::Qwen3), "Qwen3ForCausalLM");

  j.set("layer_types", lp::Json::parse(R"(["full_attention", "sliding_attention"])"));
  EXPECT_NE(error_of(j.dump()).find("Qwen3 with use_sliding_window"), std::string::npos);
}

TEST(CoreModelConfig, ParsesTransformers4FormAndMistral) {
  lp::ModelConfig c = lp::parse_model_config(lp::Json::parse(R"({"architectures": ["LlamaForCausalLM"],
    "vocab_size": 128256, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 28,
    "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "torch_dtype": "bfloat16", "tie_word_embeddings": true,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]})"),
                                             "llama-3.2-3b/config.json");
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, lp::RopeScaling::Type::Llama3);
  EXPECT_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.head_dim, 128);

  lp::ModelConfig m = lp::parse_model_config(lp::Json::parse(R"({"model_type": "mistral", "vocab_size": 32000,
    "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "max_position_embeddings": 32768, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
    "sliding_window": 4096, "rope_scaling": null})"),
                                             "mistral/config.json");
  EXPECT_EQ(m.arch, lp::Arch::Mistral);
  EXPECT_EQ(m.sliding_window, 4096);
  EXPECT_EQ(m.head_dim, 128);
  EXPECT_EQ(m.rope_scaling.type, lp::RopeScaling::Type::None);

  lp::Json nul = lp::Json::parse(kMinimal);
  nul.set("architectures", lp::Json::parse(R"(["MistralForCausalLM"])"));
  nul.set("sliding_window", lp::Json());
  EXPECT_EQ(lp::parse_model_config(nul, "m.json").sliding_window, 0);
  EXPECT_EQ(lp::parse_model_config(lp::Json::parse(kMinimal), "x.json").num_key_value_heads, 32);
}

TEST(CoreModelConfig, RejectsUnsupportedArchitectures) {
  EXPECT_NE(error_of(R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})")
                .find("/models/x/config.json: unsupported architecture GPT2LMHeadModel: loraplane supports "
                      "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM"),
            std::string::npos);
  EXPECT_NE(
      error_of(R"({"model_type": "gpt2"})")
          .find("unsupported architecture gpt2 (model_type): loraplane supports LlamaForCausalLM, MistralForCausalLM, "
                "Qwen2ForCausalLM"),
      std::string::npos);
  EXPECT_NE(error_of("{}").find("missing required key \"architectures\" (or \"model_type\")"), std::string::npos);
}

TEST(CoreModelConfig, ErrorsNameTheKeyAndFile) {
  auto without = [&](const std::string& key) {
    lp::Json cfg = lp::Json::parse(kMinimal);
    lp::Json out = lp::Json::object();
    for (const auto& [k, v] : cfg.items())
      if (k != key) out.set(k, v);
    return out.dump();
  };
  EXPECT_NE(error_of(without("hidden_size")).find("/models/x/config.json: missing required key \"hidden_size\""),
            std::string::npos);
  EXPECT_NE(error_of(without("rms_norm_eps")).find("missing required key \"rms_norm_eps\""), std::string::npos);
  EXPECT_NE(
      error_of(without("rope_theta")).find("missing required key \"rope_theta\" (or \"rope_parameters.rope_theta\")"),
      std::string::npos);

  auto with = [&](const std::string& key, const std::string& value) {
    lp::Json cfg = lp::Json::parse(kMinimal);
    cfg.set(key, lp::Json::parse(value));
    return cfg.dump();
  };
  EXPECT_NE(error_of(with("hidden_size", "4096.0")).find("\"hidden_size\" must be an integer, got float"),
            std::string::npos);
  EXPECT_NE(error_of(with("rope_scaling", R"({"rope_type": "yarn", "factor": 4.0})"))
                .find("unsupported rope type \"yarn\" in \"rope_scaling\": loraplane supports default and llama3"),
            std::string::npos);
  EXPECT_NE(
      error_of(with("rope_scaling", R"({"type": "linear", "factor": 2.0})")).find("unsupported rope type \"linear\""),
      std::string::npos);
  EXPECT_NE(error_of(with("rope_scaling", R"({"rope_type": "llama3", "factor": 8.0})"))
                .find("llama3 rope scaling needs \"rope_scaling.low_freq_factor\""),
            std::string::npos);
  EXPECT_NE(error_of(with("num_key_value_heads", "5"))
                .find("num_attention_heads (32) must be a multiple of num_key_value_heads (5)"),
            std::string::npos);
  EXPECT_NE(error_of(with("hidden_act", "\"gelu\"")).find("unsupported hidden_act \"gelu\""), std::string::npos);
  EXPECT_NE(error_of(with("torch_dtype", "\"float8\"")).find("unsupported dtype \"float8\""), std::string::npos);
  lp::Json qwen = lp::Json::parse(kMinimal);
  qwen.set("architectures", lp::Json::parse(R"(["Qwen2ForCausalLM"])"));
  qwen.set("use_sliding_window", true);
  EXPECT_NE(error_of(qwen.dump()).find("Qwen2 with use_sliding_window"), std::string::npos);
  EXPECT_THROW(lp::load_model_config("/nonexistent/config.json"), lp::Error);
}
