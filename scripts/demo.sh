#!/usr/bin/env bash
# npm run demo: fine-tunes the bundled tiny Llama-architecture model (examples/tiny-llama) on the bundled
# customer-support dataset (examples/data) on the CPU with the native QLoRA runtime, prints the loss going
# down and an answer before and after, and writes the PEFT adapter to ./output/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f native/build/addon/Release/loraplane.node ] || npm run --silent build:native
npm run --silent build
rm -rf .loraplane/demo
exec node trainer/bin/loraplane.mjs run examples/demo/finetune.yaml \
  --pvc examples=examples --work .loraplane/demo --output output \
  --system "You are the support assistant for Acme Cloud Storage." \
  --prompt "How much is the Pro plan per month?"
