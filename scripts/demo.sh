#!/usr/bin/env bash
# `make demo`: a design-space exploration on the embedded default model (configs/sweeps/demo.yaml):
# the float model on the full sMNIST test set, then four quantized versions of it (by PTQ the
# hardware-real W8A8, the S4D paper's code configuration as integer hardware, and the
# heterogeneous 6x configuration; the 6x configuration after QAT, shipped in workloads/models/)
# on the two hardware presets: accuracy on the full test set from the integer
# C-model, cost from the SystemC accelerator, bit_exact on every point; a compact table and the
# HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
ssmsim=build/bin/ssmsim
model=workloads/models/s4d_edge_smnist.safetensors
out=out/demo

$ssmsim --version
echo
echo "== float: $ssmsim eval --ckpt $model --workload smnist   (the 10,000 sMNIST test sequences)"
$ssmsim eval --ckpt "$model" --workload smnist 2>/dev/null
echo
echo "== $ssmsim sweep --spec configs/sweeps/demo.yaml --out-dir $out --jobs 2"
rm -rf "$out"
$ssmsim sweep --spec configs/sweeps/demo.yaml --out-dir "$out" --jobs 2
echo
echo "== $ssmsim report --in $out"
$ssmsim report --in "$out"
echo
scripts/sweep_tables.py points "$out"
echo
echo "Open $out/report.html in a browser (self-contained: plots of accuracy against energy, memory"
echo "and latency with the Pareto front). Every point above ran bit-exact on the accelerator model;"
echo "the README's workflow shows each step on its own."
