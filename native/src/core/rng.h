// Counter-based random numbers (Philox-4x32-10, Salmon et al. 2011): every draw is a pure function of
// (seed, stream, index), so any thread can produce any part of a sequence and the result does not
// depend on how work is split. Used for LoRA init, dropout masks and data shuffling.
//
// This does NOT reproduce torch's generators (mt19937 on CPU, Philox with a different counter layout
// on CUDA). Parity tests therefore pass initial LoRA weights in explicitly (lora_init.safetensors)
// instead of re-drawing them.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

// Compiled for the device too when nvcc includes this (the CUDA backend's dropout masks draw the same bits).
#if defined(__CUDACC__)
#define LP_HOST_DEVICE __host__ __device__
#else
#define LP_HOST_DEVICE
#endif

namespace lp {

// One Philox-4x32-10 block: 128 random bits for a 128-bit counter and a 64-bit key.
LP_HOST_DEVICE inline std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t{kM0} * ctr[0];
    const uint64_t p1 = uint64_t{kM1} * ctr[2];
    ctr = {static_cast<uint32_t>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<uint32_t>(p1),
           static_cast<uint32_t>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<uint32_t>(p0)};
    key = {key[0] + kW0, key[1] + kW1};
  }
  return ctr;
}

// A (seed, stream) pair names an independent sequence; draws are addressed by a 64-bit index.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}

  // The index-th 32-bit word: block index/4 of the sequence, word index%4.
  uint32_t u32(uint64_t index) const { return block(index >> 2)[index & 3]; }

  // Uniform in [0, 1) with 24 random bits (every value is an exact float).
  float uniform(uint64_t index) const { return static_cast<float>(u32(index) >> 8) * 0x1.0p-24f; }

  // Standard normal by Box-Muller from the two first words of block `index` (one normal per block).
  float normal(uint64_t index) const {
    const auto b = block(index);
    const double u1 = (static_cast<double>(b[0] >> 8) + 1.0) * 0x1.0p-24;  // (0, 1]: log stays finite
    const double u2 = static_cast<double>(b[1] >> 8) * 0x1.0p-24;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

  // out[i] = lo + (hi - lo) * uniform(offset + i).
  void fill_uniform(float* out, int64_t n, float lo, float hi, uint64_t offset = 0) const {
    for (int64_t i = 0; i < n; ++i) out[i] = lo + (hi - lo) * uniform(offset + static_cast<uint64_t>(i));
  }

  // out[i] = mean + std * normal(offset + i).
  void fill_normal(float* out, int64_t n, float mean, float std, uint64_t offset = 0) const {
    for (int64_t i = 0; i < n; ++i) out[i] = mean + std * normal(offset + static_cast<uint64_t>(i));
  }

 private:
  // Counter = (block index, stream), key = seed.
  std::array<uint32_t, 4> block(uint64_t b) const {
    return philox4x32({static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32), static_cast<uint32_t>(stream_),
                       static_cast<uint32_t>(stream_ >> 32)},
                      {static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)});
  }

  uint64_t seed_;
  uint64_t stream_;
};

}  // namespace lp
