#!/usr/bin/env bash
# `make bench`: every benchmark, with the machine it ran on. Speed targets are checked here.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "build:   build/ (release preset, portable flags)"
echo
echo "== quant/ against SystemC sc_fixed =="
build/bin/quant_bench --benchmark_min_time=0.3 --benchmark_color=false
echo
echo "== float training throughput (s4d_edge shapes, 784 steps; epoch_s_55k = implied sMNIST epoch)"
build/bin/train_bench --benchmark_color=false
echo
echo "== float and bit-accurate (integer C-model) evaluation of s4d_edge on the 10,000 sMNIST test sequences"
if [ -f "${SSMSIM_DATA:-data}/mnist/t10k-images-idx3-ubyte" ] || [ -f "${SSMSIM_DATA:-data}/t10k-images-idx3-ubyte" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  ckpt=workloads/models/s4d_edge_smnist.safetensors
  build/bin/ssmsim eval --ckpt "$ckpt" --workload smnist 2>/dev/null
  for p in w8a8 hetero_6x; do
    build/bin/ssmsim quantize --ckpt "$ckpt" --precision configs/precision/$p.yaml --out "$tmp/$p.safetensors" >/dev/null 2>&1
    build/bin/ssmsim eval --ckpt "$tmp/$p.safetensors" --workload smnist 2>/dev/null | head -1
  done
  echo
  echo "== the SystemC accelerator: s4d_edge (hetero_6x) on edge_minimal, 200 sMNIST test sequences (156,800 tokens)"
  echo "   (wall time includes checking every sequence against the C-model, which runs a chunk ahead on a second thread)"
  for m in lt cycle; do
    /usr/bin/time -f "   peak memory %M KiB" build/bin/ssmsim simulate --ckpt "$tmp/hetero_6x.safetensors" \
      --hw configs/hw/edge_minimal.yaml --workload smnist --limit 200 --mode $m 2>&1 >"$tmp/sim.txt" | grep "peak memory"
    grep -E "bit_exact|simulation:" "$tmp/sim.txt"
  done
else
  echo "(skipped: MNIST is missing; run \`make data\`)"
fi
