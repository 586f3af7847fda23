#!/usr/bin/env bash
# GPU benchmark: a QLoRA training step of Llama-3.2-1B, Llama-3.2-3B and Llama-3.1-8B shapes (random
# weights) at sequence length 2048 on the CUDA backend, next to PyTorch + PEFT + bitsandbytes on the same
# GPU in the same run; tokens/s and peak memory as a markdown table in $OUT/bench-gpu.md (and stdout).
# Needs loraplane_gpu_bench (native/scripts/build-cuda.sh builds it) and, for the peer, a python with
# torch (CUDA), transformers, peft and bitsandbytes; a missing peer is reported in the table, not faked.
# Settings (environment): SHAPES="1b 3b 8b" BATCH=1 SEQ=2048 STEPS=5 BENCH_BIN=... PYTHON=... WORK=/tmp/lp-bench-gpu
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-$repo/bench/gpu}"
work="${WORK:-/tmp/lp-bench-gpu}"
bin="${BENCH_BIN:-$repo/native/build/cuda/loraplane_gpu_bench}"
shapes="${SHAPES:-1b 3b 8b}"
batch="${BATCH:-1}" seq="${SEQ:-2048}" steps="${STEPS:-5}"
mkdir -p "$out" "$work"
[ -x "$bin" ] || { echo "bench/gpu/run.sh: $bin is missing; build it with native/scripts/build-cuda.sh" >&2; exit 1; }

# The peer's python: PYTHON, else the reference venv, else python3; it must import the whole stack.
peer_python=""
for py in "${PYTHON:-}" "$(ls -d "${LORAPLANE_CACHE:-$HOME/.cache/loraplane}"/venv-reference-*/bin/python 2>/dev/null | head -n 1)" python3; do
  [ -n "$py" ] && "$py" -c 'import torch, transformers, peft, bitsandbytes; assert torch.cuda.is_available()' 2>/dev/null && { peer_python="$py"; break; }
done
[ -n "$peer_python" ] || echo "bench/gpu/run.sh: no python with torch (CUDA), transformers, peft and bitsandbytes: the peer column stays empty" >&2

field() { python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['$2'], 1))" "$1" 2>/dev/null || echo "-"; }
gpu="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)"
declare -A names=([1b]=Llama-3.2-1B [3b]=Llama-3.2-3B [8b]=Llama-3.1-8B)
rows=()
failed=0
for s in $shapes; do
  dir="$work/model-$s"
  [ -f "$dir/model.safetensors" ] || "$bin" make-model "$dir" "$s" || {
    rows+=("| ${names[$s]} | make-model failed | | | | | | |")
    failed=1
    continue
  }
  native="$("$bin" step "$dir" "$batch" "$seq" "$steps" 2>"$out/native-$s.err" | tail -n 1)"
  echo "[bench] $s native: ${native:-failed (see $out/native-$s.err)}" >&2
  [ -n "$native" ] || failed=1
  peer=""
  if [ -n "$peer_python" ]; then
    peer="$("$peer_python" "$repo/bench/gpu/torch_qlora_step.py" "$dir" --batch "$batch" --seq "$seq" --steps "$steps" 2>"$out/torch-$s.err" | tail -n 1)"
    echo "[bench] $s torch: ${peer:-failed (see $out/torch-$s.err)}" >&2
  fi
  nt="$(field "$native" tokens_per_second)" pt="$(field "$peer" tokens_per_second)"
  ratio="$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$nt" "$pt" 2>/dev/null || echo "-")"
  rows+=("| ${names[$s]} | $nt | $pt | $ratio | $(field "$native" peak_memory_mib) ($(field "$native" estimate_mib)) | $(field "$peer" peak_memory_mib) | $(field "$native" device_used_mib) | $(field "$peer" device_used_mib) |")
done

{
  echo "QLoRA training step on ${gpu:-an unknown GPU}: batch $batch x $seq tokens, NF4 + double quant, bf16 compute, r 16 alpha 32 on all seven projections, activation checkpointing, AdamW ($steps timed steps after a warm-up; random weights)."
  echo
  echo "| model | native tokens/s | PyTorch+PEFT+bnb tokens/s | speed ratio native/torch | native peak MiB (estimate) | torch peak MiB | native device used MiB | torch device used MiB |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out/bench-gpu.md"
exit $failed
