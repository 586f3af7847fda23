#!/usr/bin/env bash
# npm run demo:cluster: helm install on a local control plane, examples/finetune.yaml to a Ready LoraAdapter
# (scripts/demo-cluster.ts says how).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
exec npx tsx scripts/demo-cluster.ts
