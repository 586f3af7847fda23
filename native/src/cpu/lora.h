// cpu/lora.h: the LoRA branch of a linear layer (peft LoraLayer, Linear4bit variant):
//   y += scale * B(A(dropout(x)))      A = lora_A.weight (r, in), B = lora_B.weight (out, r)
// with forward, backward (dA, dB accumulated; contribution added onto dx) and the dropout mask.
// scale is lora_alpha / r (or lora_alpha / sqrt(r) with use_rslora); the caller computes it.
#pragma once
#include <cstdint>

namespace lp::cpu {

// Dropout keep-mask (n) for the LoRA input: mask[i] = lp::Rng(seed, stream).uniform(i) >= p ? 1 : 0
// (core/rng.h, Philox), i.e. keep with probability 1 - p. It depends only on (seed, stream, i),
// not on threads; use one stream per (micro-batch, layer, module). p == 0 gives all ones.
// PyTorch's generator cannot be replayed, so parity tests pass a mask taken from the reference run.
void lora_dropout_mask(uint8_t* mask, int64_t n, float p, uint64_t seed, uint64_t stream);

// Forward. Adds the LoRA branch onto the base layer's output y.
//   y  (N, out)  in/out: y += scale * h @ B^T  (computed as y + scale * (h @ B^T), one rounding each)
//   h  (N, r)    out:    h = drop(x) @ A^T. SAVE for backward.
//   xd (N, in)   scratch: written with drop(x) = x * mask * (1 / (1 - p)) when mask != nullptr;
//                may be nullptr when mask == nullptr (no dropout: drop(x) = x, nothing copied).
//   x  (N, in)   layer input; mask (N, in) from lora_dropout_mask or nullptr; dropout_p its p.
//   A  (r, in), B (out, r)
void lora_forward(float* y, float* h, float* xd, const float* x, const uint8_t* mask, float dropout_p, const float* A,
                  const float* B, int N, int in, int r, int out, float scale);

// Backward. Inputs as saved by lora_forward (x, mask, h) and dy (N, out), the gradient of y.
//   dB (out, r)  ACCUMULATES: dB += scale * dy^T @ h
//   dA (r, in)   ACCUMULATES: dA += dh^T @ drop(x)
//   dx (N, in)   ACCUMULATES: dx += (dh @ A) * mask * (1 / (1 - p)); nullptr skips it (first layer
//                input that needs no gradient). Call after the base layer's linear_backward.
//   dh (N, r)    scratch, written with scale * dy @ B
//   xd (N, in)   scratch, required when mask != nullptr (drop(x) is recomputed into it, then dh @ A);
//                may be nullptr without dropout. Its contents on entry are ignored.
void lora_backward(float* dA, float* dB, float* dx, float* dh, float* xd, const float* dy, const float* x,
                   const uint8_t* mask, float dropout_p, const float* h, const float* A, const float* B, int N, int in,
                   int r, int out, float scale);

}  // namespace lp::cpu
