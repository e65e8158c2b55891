#!/usr/bin/env bash
# `make demo`: the main job. Until the embedded default model lands (the model, quantization and
# accelerator work), it runs the real end-to-end commands that exist: the precision presets as
# the CLI resolves them, and a config override through --set.
set -euo pipefail
cd "$(dirname "$0")/.."
ssmsim=build/bin/ssmsim

$ssmsim --version
echo
for p in configs/precision/*.yaml; do
  echo "== $ssmsim info --precision $p"
  $ssmsim info --precision "$p"
  echo
done
echo "== $ssmsim info --precision configs/precision/hetero_example.yaml --set precision.components.A.bits=10"
$ssmsim info --precision configs/precision/hetero_example.yaml --set precision.components.A.bits=10
echo
echo "The model commands (train, quantize, eval, simulate, ...) arrive with the next issues;"
echo "see README.md, 'Status'."
