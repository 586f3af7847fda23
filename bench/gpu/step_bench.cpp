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
#include <string>

#include "core/check.h"
#include "core/rng.h"
#include "model/llama.h"
#include "model/memory_estimate.h"
#include "random_checkpoint.h"
#include "train/trainer.h"

namespace {

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
      lp::bench::write_random_llama(argv[2], lp::bench::benchmark_shape(argv[3]), 1234);
      return 0;
    }
    if (cmd == "step" && argc == 6) {
      step(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]));
      return 0;
    }
    std::fprintf(
        stderr,
        "usage: loraplane_gpu_bench make-model DIR 1b|3b|8b\n       loraplane_gpu_bench step DIR BATCH SEQ STEPS\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loraplane_gpu_bench: %s\n", e.what());
    return 1;
  }
}
