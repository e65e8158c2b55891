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
