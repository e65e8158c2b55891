#!/usr/bin/env bash
# `make demo`: the main job on the embedded default model. Until quantization and the SystemC
# accelerator land (the next issues), it evaluates the float model on the full sMNIST test set and
# shows the precision presets the design-space exploration will sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
ssmsim=build/bin/ssmsim
model=workloads/models/s4d_edge_smnist.safetensors

$ssmsim --version
echo
echo "== $ssmsim info --ckpt $model"
$ssmsim info --ckpt "$model"
echo
echo "== $ssmsim eval --ckpt $model --workload smnist     (full 10,000-sequence test set, float)"
$ssmsim eval --ckpt "$model" --workload smnist --json build/demo_eval.json
echo "   result record: build/demo_eval.json"
echo
for p in w8a8 hetero_example; do
  echo "== $ssmsim info --precision configs/precision/$p.yaml"
  $ssmsim info --precision "configs/precision/$p.yaml"
  echo
done
echo "Quantization (PTQ/QAT), the integer C-model, the SystemC accelerator and sweeps arrive with the"
echo "next issues; see README.md, 'Status'."
