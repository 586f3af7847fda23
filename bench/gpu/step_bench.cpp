// loraplane_gpu_bench: the native side of bench/gpu/run.sh.
//   make-model DIR SHAPE        writes a random-weight Llama checkpoint (bf16, config.json +
//                               model.safetensors) of SHAPE: 1b (Llama-3.2-1B), 3b (Llama-3.2-3B),
//                               8b (Llama-3.1-8B). No hub here: the shapes are what matter for speed.
//   step DIR BATCH SEQ STEPS    loads DIR on the CUDA backend (NF4 + double quant, bf16, r 16 alpha 32
//                               on all seven projections, no dropout, activation checkpointing), runs
//                               one warm-up step and STEPS timed ones, prints one JSON line.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/check.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "model/llama.h"
#include "model/memory_estimate.h"
#include "train/trainer.h"

namespace {

struct Shape {
  int64_t hidden, inter, layers, heads, head_dim;
  bool tied;
  double rope_factor;
};

Shape shape_of(const std::string& s) {
  if (s == "1b") return {2048, 8192, 16, 32, 64, true, 32.0};
  if (s == "3b") return {3072, 8192, 28, 24, 128, true, 32.0};
  if (s == "8b") return {4096, 14336, 32, 32, 128, false, 8.0};
  throw lp::Error("Expected 1b, 3b or 8b for SHAPE but received \"" + s + "\"");
}

// N(0, 0.02) in bf16 (round to nearest even), in parallel; norms are ones as in a fresh checkpoint.
std::vector<uint16_t> random_bf16(size_t n, uint64_t stream, bool ones) {
  std::vector<uint16_t> out(n);
  if (ones) {
    std::fill(out.begin(), out.end(), uint16_t{0x3F80});
    return out;
  }
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (size_t i = n * t / threads; i < n * (t + 1) / threads; ++i) {
        // The sum of the 4 uniforms of one Philox block: cheap, bell-shaped, std 0.02 after scaling
        // (a uniform on [0, 1) has variance 1/12).
        const auto w = lp::philox4x32({static_cast<uint32_t>(i), static_cast<uint32_t>(i >> 32),
                                       static_cast<uint32_t>(stream), 0u}, {1234u, 0u});
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

void make_model(const std::string& dir, const std::string& shape_name) {
  const Shape s = shape_of(shape_name);
  const int64_t V = 128256, C = s.hidden, F = s.inter, QD = s.heads * s.head_dim, KVD = 8 * s.head_dim;
  std::filesystem::create_directories(dir);
  lp::Json rope = lp::Json::object();
  rope.set("rope_type", "llama3");
  rope.set("factor", s.rope_factor);
  rope.set("low_freq_factor", 1.0);
  rope.set("high_freq_factor", 4.0);
  rope.set("original_max_position_embeddings", 8192);
  lp::Json cfg = lp::Json::object();
  lp::Json arch = lp::Json::array();
  arch.push_back("LlamaForCausalLM");
  cfg.set("architectures", arch);
  cfg.set("model_type", "llama");
  cfg.set("vocab_size", V);
  cfg.set("hidden_size", C);
  cfg.set("intermediate_size", F);
  cfg.set("num_hidden_layers", s.layers);
  cfg.set("num_attention_heads", s.heads);
  cfg.set("num_key_value_heads", 8);
  cfg.set("head_dim", s.head_dim);
  cfg.set("hidden_act", "silu");
  cfg.set("max_position_embeddings", 131072);
  cfg.set("rms_norm_eps", 1e-5);
  cfg.set("rope_theta", 500000.0);
  cfg.set("rope_scaling", rope);
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
  std::vector<lp::TensorView> views;
  for (size_t i = 0; i < names.size(); ++i) {
    size_t n = 1;
    for (int64_t d : names[i].second) n *= static_cast<size_t>(d);
    data.push_back(random_bf16(n, i, names[i].second.size() == 1));
    lp::TensorView t;
    t.name = names[i].first;
    t.dtype = lp::DType::BF16;
    t.shape = names[i].second;
    t.data = reinterpret_cast<const uint8_t*>(data.back().data());
    t.nbytes = n * 2;
    views.push_back(std::move(t));
  }
  lp::write_safetensors(dir + "/model.safetensors", views, {{"format", "pt"}});
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void step(const std::string& dir, int B, int T, int steps) {
  auto t0 = std::chrono::steady_clock::now();
  lp::LoadOptions o;
  o.backend = lp::BackendKind::Cuda;
  o.lora.dropout = 0;
  auto model = lp::LlamaModel::load(dir, o);
  const double load_s = seconds_since(t0);
  lp::OptimConfig c;
  c.lr = 1e-4;
  c.schedule = lp::LrSchedule::Constant;
  c.total_steps = steps + 1;
  lp::Trainer trainer(*model, c);
  lp::Batch b;
  b.B = B;
  b.T = T;
  const lp::Rng rng(7, 0);
  for (int i = 0; i < B * T; ++i)
    b.input_ids.push_back(static_cast<int32_t>(rng.u32(static_cast<uint64_t>(i)) % model->config().vocab_size));
  b.labels = b.input_ids;
  trainer.step({b});  // warm-up: allocations, cuBLAS heuristics
  size_t peak = 0;
  double loss = 0;
  t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    const lp::StepStats st = trainer.step({b});
    peak = std::max(peak, st.peak_memory_bytes);
    loss = st.loss;
  }
  const double elapsed = seconds_since(t0);
  size_t free_b = 0, total_b = 0;
  LP_CHECK(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess, "cudaMemGetInfo failed");
  const lp::TrainingMemory est = lp::estimate_training_memory(model->config(), o, B, T, lp::BackendKind::Cuda);
  std::printf(
      "{\"tokens_per_second\": %.1f, \"seconds_per_step\": %.4f, \"peak_memory_mib\": %.1f, \"estimate_mib\": %.1f, "
      "\"device_used_mib\": %.1f, \"load_seconds\": %.1f, \"loss\": %.4f, \"device\": \"%s\"}\n",
      B * T * steps / elapsed, elapsed / steps, peak / 1048576.0, est.total() / 1048576.0,
      (total_b - free_b) / 1048576.0, load_s, loss, model->backend().device_name().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "make-model" && argc == 4) {
      make_model(argv[2], argv[3]);
      return 0;
    }
    if (cmd == "step" && argc == 6) {
      step(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]));
      return 0;
    }
    std::fprintf(stderr, "usage: loraplane_gpu_bench make-model DIR 1b|3b|8b\n       loraplane_gpu_bench step DIR BATCH SEQ STEPS\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loraplane_gpu_bench: %s\n", e.what());
    return 1;
  }
}
