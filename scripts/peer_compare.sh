#!/usr/bin/env bash
# ssmsim's integer evaluation of the 10,000 sMNIST test sequences against the PyTorch peer
# (scripts/torch_peer.py: fake-quantized recurrent evaluation of the same shapes), in the same run:
# s4d_edge at w8a8_state8 and hetero_6x (31-bit rescale multipliers, as the presets ship) with
# THREADS threads, and the peer on DEVICE (cpu: THREADS threads; cuda: the GPU). Prints each time
# and the ratio peer / ssmsim (above 1: ssmsim is faster). `make bench` runs it on this machine;
# on the 16-core GPU machine: DEVICE=cuda THREADS=16 scripts/peer_compare.sh.
#
# Environment: THREADS (all cores), DEVICE (cpu), N (10000), SSMSIM (build/bin/ssmsim),
#              PYTHON (the first of /usr/bin/python3, python3 that imports torch)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-$(nproc)} device=${DEVICE:-cpu} n=${N:-10000}
ssmsim=${SSMSIM:-build/bin/ssmsim}
py=${PYTHON:-}
if [[ -z $py ]]; then
  for p in /usr/bin/python3 python3; do
    if "$p" -c 'import torch' 2>/dev/null; then py=$p; break; fi
  done
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ckpt=workloads/models/s4d_edge_smnist.safetensors
declare -A secs
for p in w8a8_state8 hetero_6x; do
  "$ssmsim" quantize --ckpt "$ckpt" --precision configs/precision/$p.yaml --out "$tmp/$p.safetensors" >/dev/null 2>&1
  line=$("$ssmsim" eval --ckpt "$tmp/$p.safetensors" --workload smnist --limit "$n" --threads "$threads" 2>&1 | grep accuracy)
  secs[$p]=$(grep -oE '[0-9.]+ s$' <<<"$line" | cut -d' ' -f1)
  echo "   ssmsim ($threads threads, kernels ${SSMSIM_SIMD:-auto}): s4d_edge $p, $n sequences in ${secs[$p]} s"
done
if [[ -z $py ]]; then
  echo "   (PyTorch peer skipped: python3-torch is not installed; run \`apt-get install python3-torch\`)"
  exit 0
fi
peer=$("$py" scripts/torch_peer.py --model s4d_edge --n "$n" --device "$device" --threads "$threads" 2>/dev/null)
t=$(grep -oE 'in [0-9.]+ s' <<<"$peer" | cut -d' ' -f2)
echo "   $peer"
for p in w8a8_state8 hetero_6x; do
  awk -v a="$t" -v b="${secs[$p]}" -v p="$p" 'BEGIN { printf "   peer / ssmsim (%s): %.1fx\n", p, a / b }'
done
