// bench/gpu/random_checkpoint.h: random-weight Llama checkpoints (config.json + bf16 model.safetensors)
// for the GPU benchmark's shapes and the GPU suite's long-sequence test. No hub here: the shapes are
// what matter. Provides RandomLlama, benchmark_shape and write_random_llama.
#pragma once
#include <cstdint>
#include <string>

namespace lp::bench {

struct RandomLlama {
  int64_t vocab = 128256, hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 8, head_dim = 0;
  bool tied = false;
  double rope_factor = 0;  // > 0: llama3 rope scaling with this factor (original context 8192)
};

// "1b" (Llama-3.2-1B), "3b" (Llama-3.2-3B), "8b" (Llama-3.1-8B); anything else throws lp::Error.
RandomLlama benchmark_shape(const std::string& name);

// Weights N(0, 0.02)-like (the sum of four Philox uniforms, scaled), norms 1, in bf16; deterministic in seed.
void write_random_llama(const std::string& dir, const RandomLlama& shape, uint64_t seed);

}  // namespace lp::bench
