#!/usr/bin/env bash
# `make bench`: every benchmark, with the machine it ran on. Speed targets are checked here.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "build:   build/ (release preset, portable flags)"
echo
echo "== quant/ against SystemC sc_fixed =="
/usr/bin/time -f "   peak memory %M KiB" build/bin/quant_bench --benchmark_min_time=0.3 --benchmark_color=false
echo
echo "== float training throughput (s4d_edge shapes, 784 steps; epoch_s_55k = implied sMNIST epoch; peak memory of"
echo "   the whole benchmark program)"
/usr/bin/time -f "   peak memory %M KiB" build/bin/train_bench --benchmark_color=false
echo
echo "== float and bit-accurate (integer C-model) evaluation of s4d_edge on the 10,000 sMNIST test sequences"
if [ -f "${SSMSIM_DATA:-data}/mnist/t10k-images-idx3-ubyte" ] || [ -f "${SSMSIM_DATA:-data}/t10k-images-idx3-ubyte" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  ckpt=workloads/models/s4d_edge_smnist.safetensors
  /usr/bin/time -f "   peak memory %M KiB" build/bin/ssmsim eval --ckpt "$ckpt" --workload smnist 2>&1 | grep -E "accuracy|peak"
  avx512=$(grep -q avx512dq /proc/cpuinfo && echo yes || echo no)
  for p in w8a8_state8 hetero_6x; do
    build/bin/ssmsim quantize --ckpt "$ckpt" --precision configs/precision/$p.yaml --out "$tmp/$p.safetensors" >/dev/null 2>&1
    /usr/bin/time -f "   peak memory %M KiB" build/bin/ssmsim eval --ckpt "$tmp/$p.safetensors" --workload smnist 2>&1 |
      grep -E "accuracy|peak"
    # the same evaluation on the compiler-vectorised kernels, and on the AVX-512 ones without the
    # double-precision S4D state update: same accuracy (same bits), each form's gain
    for simd in avx512_nof64 generic; do
      [ "$avx512" = no ] || SSMSIM_SIMD=$simd build/bin/ssmsim eval --ckpt "$tmp/$p.safetensors" --workload smnist 2>&1 |
        grep -E "accuracy" | sed "s/\$/ [SSMSIM_SIMD=$simd]/"
    done
  done
  echo
  echo "== Q-S5's size and preset (s5_qs5_smnist, qs5_w8a8: 32-bit state, 8-bit block operand), 10,000 sequences"
  echo "   (a 1-epoch model on 64 sequences: the speed does not depend on the weights)"
  build/bin/ssmsim train --model configs/models/s5_qs5_smnist.yaml --workload smnist --epochs 1 --set data.train_size=64 \
    --set data.val_size=64 --set eval.limit=64 --out "$tmp/qs5.safetensors" >/dev/null 2>&1
  build/bin/ssmsim quantize --ckpt "$tmp/qs5.safetensors" --precision configs/precision/qs5_w8a8.yaml \
    --out "$tmp/qs5_w8a8.safetensors" >/dev/null 2>&1
  build/bin/ssmsim eval --ckpt "$tmp/qs5_w8a8.safetensors" --workload smnist 2>&1 | grep -E "accuracy"
  echo
  echo "== the same evaluations against a PyTorch fake-quantized recurrent evaluation of the same shapes (scripts/peer_compare.sh)"
  scripts/peer_compare.sh
  echo
  echo "== the SystemC accelerator: s4d_edge (hetero_6x) on edge_minimal, 200 sMNIST test sequences (156,800 tokens)"
  echo "   (wall time includes checking every sequence against the C-model, which runs a chunk ahead on a second thread)"
  for m in lt cycle; do
    /usr/bin/time -f "   peak memory %M KiB" build/bin/ssmsim simulate --ckpt "$tmp/hetero_6x.safetensors" \
      --hw configs/hw/edge_minimal.yaml --workload smnist --limit 200 --mode $m 2>&1 >"$tmp/sim.txt" | grep "peak memory"
    grep -E "bit_exact|simulation:" "$tmp/sim.txt"
  done
  echo
  echo "== QAT throughput: s4d_edge, hetero_6x, 2,000 training sequences (an epoch is 55,000)"
  /usr/bin/time -f "   peak memory %M KiB" build/bin/ssmsim qat --ckpt "$ckpt" --precision configs/precision/hetero_6x.yaml \
    --epochs 1 --set data.train_size=2000 --set data.val_size=200 --set eval.limit=200 --out "$tmp/qat.safetensors" \
    2>"$tmp/qat.err" >/dev/null || true
  tr '\r' '\n' <"$tmp/qat.err" | grep -E "qat epoch 1/1:|peak memory" | sed -E 's/^/   /'
  echo "   (a 55,000-sequence epoch takes 55,000 / the seq/s above)"
  echo
  echo "== sweep throughput: 4 PTQ points of s4d_edge (A at 8/6/4/2 bits), 1,000-sequence evaluation, --jobs 2"
  cat >"$tmp/bench_sweep.yaml" <<SPEC
name: bench
checkpoint: $ckpt
workload: smnist
eval: {limit: 1000}
simulate: {limit: 2}
precision:
  sensitivity: {base: w8a8_state8, components: [A], bits: [8, 6, 4, 2]}
hw:
  files: [edge_minimal]
SPEC
  start=$(date +%s.%N)
  /usr/bin/time -f "   peak memory %M KiB (the sweep process; each point is a child process)" \
    build/bin/ssmsim sweep --spec "$tmp/bench_sweep.yaml" --out-dir "$tmp/sweep" --jobs 2 2>&1 >/dev/null | grep "peak memory"
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "   4 points in %.1f s: %.1f points per minute\n", e - s, 4 * 60 / (e - s) }'
else
  echo "(skipped: MNIST is missing; run \`make data\`)"
fi
