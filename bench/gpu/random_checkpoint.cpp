// bench/gpu/random_checkpoint.cpp: see random_checkpoint.h.
#include "random_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/safetensors.h"

namespace lp::bench {

RandomLlama benchmark_shape(const std::string& name) {
  RandomLlama s;
  if (name == "1b") {
    s.hidden = 2048, s.intermediate = 8192, s.layers = 16, s.heads = 32, s.head_dim = 64, s.tied = true,
    s.rope_factor = 32;
  } else if (name == "3b") {
    s.hidden = 3072, s.intermediate = 8192, s.layers = 28, s.heads = 24, s.head_dim = 128, s.tied = true,
    s.rope_factor = 32;
  } else if (name == "8b") {
    s.hidden = 4096, s.intermediate = 14336, s.layers = 32, s.heads = 32, s.head_dim = 128, s.tied = false,
    s.rope_factor = 8;
  } else {
    throw Error("Expected 1b, 3b or 8b for the benchmark shape but received \"" + name + "\"");
  }
  return s;
}

namespace {

// n values in bf16 (round to nearest even): norms are ones, everything else the sum of the four
// uniforms of one Philox block per value, centred and scaled to std 0.02 (a uniform has variance 1/12).
std::vector<uint16_t> random_bf16(size_t n, uint64_t seed, uint64_t stream, bool ones) {
  std::vector<uint16_t> out(n, uint16_t{0x3F80});
  if (ones) return out;
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (size_t i = n * t / threads; i < n * (t + 1) / threads; ++i) {
        const auto w = philox4x32({static_cast<uint32_t>(i), static_cast<uint32_t>(i >> 32),
                                   static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)},
                                  {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
        float u = 0;
        for (uint32_t word : w) u += static_cast<float>(word >> 8) * 0x1.0p-24f;
        const float x = (u - 2.f) * 0.02f * 1.7320508f;
        uint32_t bits;
        std::memcpy(&bits, &x, 4);
        out[i] = static_cast<uint16_t>((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
      }
    });
  for (auto& th : pool) th.join();
  return out;
}

}  // namespace

void write_random_llama(const std::string& dir, const RandomLlama& s, uint64_t seed) {
  LP_CHECK(s.hidden > 0 && s.intermediate > 0 && s.layers > 0 && s.heads > 0 && s.kv_heads > 0 && s.head_dim > 0 &&
               s.heads % s.kv_heads == 0,
           "write_random_llama: bad shape");
  const int64_t V = s.vocab, C = s.hidden, F = s.intermediate, QD = s.heads * s.head_dim, KVD = s.kv_heads * s.head_dim;
  std::filesystem::create_directories(dir);
  Json cfg = Json::object();
  Json arch = Json::array();
  arch.push_back("LlamaForCausalLM");
  cfg.set("architectures", arch);
  cfg.set("model_type", "llama");
  cfg.set("vocab_size", V);
  cfg.set("hidden_size", C);
  cfg.set("intermediate_size", F);
  cfg.set("num_hidden_layers", s.layers);
  cfg.set("num_attention_heads", s.heads);
  cfg.set("num_key_value_heads", s.kv_heads);
  cfg.set("head_dim", s.head_dim);
  cfg.set("hidden_act", "silu");
  cfg.set("max_position_embeddings", 131072);
  cfg.set("rms_norm_eps", 1e-5);
  cfg.set("rope_theta", 500000.0);
  if (s.rope_factor > 0) {
    Json rope = Json::object();
    rope.set("rope_type", "llama3");
    rope.set("factor", s.rope_factor);
    rope.set("low_freq_factor", 1.0);
    rope.set("high_freq_factor", 4.0);
    rope.set("original_max_position_embeddings", 8192);
    cfg.set("rope_scaling", rope);
  }
  cfg.set("tie_word_embeddings", s.tied);
  cfg.set("attention_bias", false);
  cfg.set("mlp_bias", false);
  cfg.set("bos_token_id", 128000);
  cfg.set("eos_token_id", 128001);
  cfg.set("torch_dtype", "bfloat16");
  std::ofstream(dir + "/config.json") << cfg.dump();

  std::vector<std::pair<std::string, std::vector<int64_t>>> names{{"model.embed_tokens.weight", {V, C}}};
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l);
    names.push_back({p + ".input_layernorm.weight", {C}});
    names.push_back({p + ".self_attn.q_proj.weight", {QD, C}});
    names.push_back({p + ".self_attn.k_proj.weight", {KVD, C}});
    names.push_back({p + ".self_attn.v_proj.weight", {KVD, C}});
    names.push_back({p + ".self_attn.o_proj.weight", {C, QD}});
    names.push_back({p + ".post_attention_layernorm.weight", {C}});
    names.push_back({p + ".mlp.gate_proj.weight", {F, C}});
    names.push_back({p + ".mlp.up_proj.weight", {F, C}});
    names.push_back({p + ".mlp.down_proj.weight", {C, F}});
  }
  names.push_back({"model.norm.weight", {C}});
  if (!s.tied) names.push_back({"lm_head.weight", {V, C}});
  std::vector<std::vector<uint16_t>> data;
  std::vector<TensorView> views;
  for (size_t i = 0; i < names.size(); ++i) {
    size_t n = 1;
    for (int64_t d : names[i].second) n *= static_cast<size_t>(d);
    data.push_back(random_bf16(n, seed, i, names[i].second.size() == 1));
    TensorView t;
    t.name = names[i].first;
    t.dtype = DType::BF16;
    t.shape = names[i].second;
    t.data = reinterpret_cast<const uint8_t*>(data.back().data());
    t.nbytes = n * 2;
    views.push_back(std::move(t));
  }
  write_safetensors(dir + "/model.safetensors", views, {{"format", "pt"}});
}

}  // namespace lp::bench
