#!/usr/bin/env bash
# npm run demo: fine-tunes the bundled tiny Llama-architecture model (examples/tiny-llama) on the bundled
# customer-support dataset (examples/data) on the CPU with the native QLoRA runtime, prints the loss going
# down and an answer before and after, and writes the PEFT adapter to ./output/.
# npm run demo -- --model smollm2: the same with a real pretrained model, SmolLM2-135M-Instruct, read from
# llama.cpp's Q4_1 GGUF (fetched once, 93 MB, into ~/.cache/loraplane; tokenizer and chat template from its
# metadata); the adapter goes to ./output-smollm2/.
set -euo pipefail
cd "$(dirname "$0")/.."
model=tiny
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="${2:-}"; shift 2 ;;
    --model=*) model="${1#--model=}"; shift ;;
    *) echo "usage: npm run demo [-- --model tiny|smollm2]" >&2; exit 2 ;;
  esac
done
case "$model" in
  tiny | smollm2) ;;
  *) echo "unknown --model '$model': tiny (default) or smollm2" >&2; exit 2 ;;
esac
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f native/build/addon/Release/loraplane.node ] || npm run --silent build:native
npm run --silent build
system="You are the support assistant for Acme Cloud Storage."
prompt="How much is the Pro plan per month?"
if [ "$model" = smollm2 ]; then
  gguf=$(bash test/reference/fetch-smollm2.sh)
  rm -rf .loraplane/demo-smollm2
  exec node trainer/bin/loraplane.mjs run examples/demo/finetune-smollm2.yaml \
    --pvc examples=examples --pvc "models=$(dirname "$gguf")" --work .loraplane/demo-smollm2 --output output-smollm2 \
    --system "$system" --prompt "$prompt"
fi
rm -rf .loraplane/demo
exec node trainer/bin/loraplane.mjs run examples/demo/finetune.yaml \
  --pvc examples=examples --work .loraplane/demo --output output \
  --system "$system" --prompt "$prompt"
