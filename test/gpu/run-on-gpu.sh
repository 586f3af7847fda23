#!/usr/bin/env bash
# Everything issue 6 needs a GPU for, in one go, on a fresh machine with this repository copied and no
# network: builds the CUDA runtime (or takes the binaries built elsewhere and carried along), runs the
# CPU-vs-CUDA and PyTorch-golden suite (loraplane_gpu_tests) and the benchmark (bench/gpu/run.sh), and
# writes to $OUT: summary.md (GPU, driver, toolchain, results, what was missing), gpu-tests.log/.json,
# bench-gpu.md. It uses only what is on the machine and in the tree; whatever is missing is named in
# summary.md and the step that needs it is skipped (the script then exits non-zero).
#
# What it looks for:
#   nvcc           CUDACXX, PATH, /usr/local/cuda/bin, the wheel toolkit cache (native/scripts/install-cuda-toolchain.sh)
#   or binaries    native/build/cuda/loraplane_gpu_tests and loraplane_gpu_bench built elsewhere (carry them),
#                  with libcudart.so.13 and libcublas(Lt).so.13 found on this machine (system CUDA 13 or
#                  the nvidia-* wheels of an installed torch)
#   GoogleTest     for building only (/usr/include/gtest or a CMake package)
#   the peer       a python with torch (CUDA), transformers, peft, bitsandbytes (bench/gpu/run.sh)
# Settings: OUT (default /tmp/lp-gpu-results), SHAPES / STEPS / SEQ for the benchmark, SKIP_BENCH=1.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/lp-gpu-results}"
mkdir -p "$out"
summary="$out/summary.md"
missing=()
status=0
note() { echo "$*" | tee -a "$summary"; }
: >"$summary"

note "# loraplane GPU run ($(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))"
note ""
if command -v nvidia-smi >/dev/null; then
  note "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
else
  note "GPU: nvidia-smi not found"
  missing+=("nvidia-smi / an NVIDIA driver")
fi

# 1. A toolchain to build with, or binaries built elsewhere.
build="$repo/native/build/cuda"
nvcc="${CUDACXX:-}"
for c in "$(command -v nvcc 2>/dev/null)" /usr/local/cuda/bin/nvcc \
  "$(ls -d "${LORAPLANE_CACHE:-$HOME/.cache/loraplane}"/cuda-*/venv/lib/python3*/site-packages/nvidia/cu13/bin/nvcc 2>/dev/null | head -n 1)"; do
  [ -z "$nvcc" ] && [ -n "$c" ] && [ -x "$c" ] && nvcc="$c"
done
has_gtest() { [ -f /usr/include/gtest/gtest.h ] || [ -f /usr/local/include/gtest/gtest.h ]; }
if [ -n "$nvcc" ] && has_gtest; then
  note "toolchain: $("$nvcc" --version | tail -n 1) at $nvcc"
  if CUDACXX="$nvcc" LORAPLANE_BUILD_JOBS="$(nproc)" bash "$repo/native/scripts/build-cuda.sh" "$build" >"$out/build.log" 2>&1; then
    note "build: ok (native/build/cuda); CPU tests in the CUDA build: $(grep -E 'PASSED|FAILED' "$out/build.log" | tail -n 1)"
  else
    note "build: FAILED (see build.log)"
    status=1
  fi
else
  [ -n "$nvcc" ] || missing+=("nvcc (a CUDA 13 toolkit; the PyPI wheels need the network once: native/scripts/install-cuda-toolchain.sh)")
  has_gtest || missing+=("GoogleTest headers (libgtest-dev) to build the test binary")
  note "build: skipped; using carried binaries from $build if present"
fi

# 2. The runtime libraries for binaries built elsewhere: system CUDA, or an installed torch's nvidia wheels.
if [ -x "$build/loraplane_gpu_tests" ] && ! ldd "$build/loraplane_gpu_tests" | grep -q "not found"; then
  :
elif [ -x "$build/loraplane_gpu_tests" ]; then
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cu13", "lib") for p in nvidia.__path__))' 2>/dev/null); do
    [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
  done
  if ldd "$build/loraplane_gpu_tests" | grep -q "not found"; then
    missing+=("$(ldd "$build/loraplane_gpu_tests" | grep 'not found' | awk '{print $1}' | tr '\n' ' ')(CUDA 13 runtime libraries)")
  fi
fi

# 3. The suite: every kernel against the CPU backend, the model against the PyTorch goldens, the trainer.
if [ -x "$build/loraplane_gpu_tests" ]; then
  LORAPLANE_REPO_ROOT="$repo" "$build/loraplane_gpu_tests" --gtest_output="json:$out/gpu-tests.json" >"$out/gpu-tests.log" 2>&1
  rc=$?
  note "loraplane_gpu_tests: exit $rc; $(grep -E '^\[  PASSED  \]|^\[  FAILED  \] [0-9]+ test' "$out/gpu-tests.log" | tr '\n' ' ')"
  note "$(grep -E '^\[gpu' "$out/gpu-tests.log" | sed 's/^/    /')"
  [ $rc -eq 0 ] || status=1
else
  missing+=("loraplane_gpu_tests (no build and no carried binary)")
  status=1
fi

# 4. The benchmark, PyTorch + PEFT + bitsandbytes alongside.
if [ "${SKIP_BENCH:-0}" != 1 ] && [ -x "$build/loraplane_gpu_bench" ]; then
  OUT="$out" BENCH_BIN="$build/loraplane_gpu_bench" bash "$repo/bench/gpu/run.sh" >"$out/bench.log" 2>&1 || status=1
  note ""
  cat "$out/bench-gpu.md" >>"$summary" 2>/dev/null || note "bench: no table (see bench.log)"
  grep -q "no python with torch" "$out/bench.log" && missing+=("a python with torch (CUDA), transformers, peft, bitsandbytes for the peer")
fi

note ""
if [ ${#missing[@]} -gt 0 ]; then
  note "Missing on this machine:"
  for m in "${missing[@]}"; do note "- $m"; done
  status=1
fi
exit $status
