#!/usr/bin/env bash
# Builds the runtime with its CUDA backend (needs no GPU): the nvcc toolchain from install-cuda-toolchain.sh
# unless CUDACXX names another (with NCCL beside it for the collectives), every kernel for sm_80/sm_90
# (+ compute_90 PTX), the GoogleTest binary with the CUDA backend linked in, and the GPU suite
# (loraplane_gpu_tests, only compiled here). Then runs the GoogleTest binary: the CPU backend's parity
# tests and, on a machine without a GPU, the fallback of "auto" to the CPU with its log line.
# Usage: build-cuda.sh [BUILD_DIR] (default native/build/cuda).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$repo/native/build/cuda}"
if [ -z "${CUDACXX:-}" ]; then
  toolkit="$(bash "$repo/native/scripts/install-cuda-toolchain.sh")"
  export CUDACXX="$toolkit/bin/nvcc"
fi
toolkit_root="$(cd "$(dirname "$CUDACXX")/.." && pwd)"
cmake -S "$repo/native" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLORAPLANE_CUDA=ON -DCUDAToolkit_ROOT="$toolkit_root" >/dev/null
if ! cmake --build "$build" --parallel "${LORAPLANE_BUILD_JOBS:-2}" >"$build/build.log" 2>&1; then
  tail -n 60 "$build/build.log" >&2
  echo "build-cuda.sh: the CUDA build failed (full log: $build/build.log)" >&2
  exit 1
fi
echo "[cuda] built $build/loraplane_tests and $build/loraplane_gpu_tests with $("$CUDACXX" --version | tail -n 1)"
nccl_lib="$(sed -n 's/^NCCL_LIBRARY:FILEPATH=//p' "$build/CMakeCache.txt")"
echo "[cuda] collectives: NCCL ${nccl_lib:-not found (a world size of 1 only)}"
"$build/loraplane_tests" --gtest_brief=1
