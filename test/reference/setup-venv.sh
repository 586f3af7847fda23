#!/usr/bin/env bash
# Creates (once) the reference Python environment: torch + transformers + PEFT + bitsandbytes from
# PyPI, pinned in requirements.txt, in a cache outside the repository keyed by that file's hash.
# Prints the path of its python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
hash=$(sha256sum "$here/requirements.txt" | cut -c1-12)
venv="${LORAPLANE_CACHE:-$HOME/.cache/loraplane}/venv-reference-$hash"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "[reference] creating $venv (torch, transformers, peft, bitsandbytes; several GB on first run)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
