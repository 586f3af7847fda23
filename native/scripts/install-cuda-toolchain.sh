#!/usr/bin/env bash
# Installs (once) a CUDA toolchain from PyPI wheels into a cache outside the repository, so CMake can
# build the CUDA backend on a machine without a system CUDA install, and NCCL beside it. Prints the toolkit
# root (the folder with bin/nvcc, include/ and lib/), which native/CMakeLists.txt takes as CUDAToolkit_ROOT
# (and finds NCCL from, in ../nccl).
#
# Only CUDA 13's wheels ship nvcc itself (the -cu12 ones hold ptxas alone). The versions match what
# the reference torch wheel (test/reference/requirements.txt) runs on, so one set of runtime
# libraries serves both on a GPU machine. CUDA 13 needs an NVIDIA driver >= 580 at run time.
set -euo pipefail
ver=13.2
root="${LORAPLANE_CACHE:-$HOME/.cache/loraplane}/cuda-$ver"
venv="$root/venv"
toolkit="$venv/lib/python3.$(python3 -c 'import sys; print(sys.version_info.minor)')/site-packages/nvidia/cu13"
if [ ! -f "$root/.complete" ]; then
  echo "[cuda] installing nvcc, cudart, cuBLAS and CCCL $ver wheels into $venv" >&2
  rm -rf "$root"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    nvidia-cuda-nvcc==13.2.86 nvidia-nvvm==13.2.86 nvidia-cuda-crt==13.2.86 nvidia-cuda-runtime==13.2.86 \
    nvidia-cublas==13.4.1.3 nvidia-cuda-cccl==13.3.5.0.6 >&2
  # The wheels ship only the versioned sonames; the linker wants the plain names.
  for so in "$toolkit"/lib/lib*.so.*; do
    base="${so%%.so.*}.so"
    [ -e "$base" ] || ln -s "$(basename "$so")" "$base"
  done
  touch "$root/.complete"
fi
# NCCL (the CUDA backend's collectives) beside the toolkit, in nvidia/nccl/{include,lib}, where
# native/CMakeLists.txt looks for it; the version torch's wheel (test/reference/requirements.txt) pulls
# in. Its own marker, so a toolchain cached before NCCL joined gets it added.
nccl=2.30.7
if [ ! -f "$root/.nccl-$nccl" ]; then
  echo "[cuda] installing the NCCL $nccl wheel into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "nvidia-nccl-cu13==$nccl" >&2
  nccl_lib="$toolkit/../nccl/lib"
  [ -e "$nccl_lib/libnccl.so" ] || ln -s libnccl.so.2 "$nccl_lib/libnccl.so"
  touch "$root/.nccl-$nccl"
fi
echo "$toolkit"
