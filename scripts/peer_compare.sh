#!/usr/bin/env bash
# ssmsim's integer evaluation of the 10,000 sMNIST test sequences against the PyTorch peer
# (scripts/torch_peer.py: fake-quantized recurrent evaluation of the same shapes), in the same run:
# s4d_edge at w8a8_state8 and hetero_6x (31-bit rescale multipliers, as the presets ship) with
# THREADS threads, and the peer on DEVICE (cpu: THREADS threads; cuda: the GPU). Prints each time
# and the ratio peer / ssmsim (above 1: ssmsim is faster). With QS5=1, also Q-S5's size and preset
# (s5_qs5_smnist at qs5_w8a8, a 64-sequence 1-epoch model: the speed does not depend on the
# weights). `make bench` runs it on this machine; on the 16-core GPU machine:
# DEVICE=cuda THREADS=16 QS5=1 scripts/peer_compare.sh.
#
# Environment: THREADS (all cores), DEVICE (cpu), N (10000), QS5 (0), SSMSIM (build/bin/ssmsim),
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
ssm_eval() {  # ssm_eval NAME MODEL: times the evaluation of MODEL into secs[NAME]
  local line
  line=$("$ssmsim" eval --ckpt "$2" --workload smnist --limit "$n" --threads "$threads" 2>&1 | grep accuracy)
  secs[$1]=$(grep -oE '[0-9.]+ s$' <<<"$line" | cut -d' ' -f1)
  echo "   ssmsim ($threads threads, kernels ${SSMSIM_SIMD:-auto}): $1, $n sequences in ${secs[$1]} s"
}
names=()
for p in w8a8_state8 hetero_6x; do
  "$ssmsim" quantize --ckpt "$ckpt" --precision configs/precision/$p.yaml --out "$tmp/$p.safetensors" >/dev/null 2>&1
  ssm_eval "s4d_edge $p" "$tmp/$p.safetensors"
  names+=("s4d_edge $p")
done
if [[ ${QS5:-0} == 1 ]]; then
  "$ssmsim" train --model configs/models/s5_qs5_smnist.yaml --workload smnist --epochs 1 --set data.train_size=64 \
    --set data.val_size=64 --set eval.limit=64 --out "$tmp/qs5.safetensors" >/dev/null 2>&1
  "$ssmsim" quantize --ckpt "$tmp/qs5.safetensors" --precision configs/precision/qs5_w8a8.yaml \
    --out "$tmp/qs5_w8a8.safetensors" >/dev/null 2>&1
  ssm_eval "s5_qs5 qs5_w8a8" "$tmp/qs5_w8a8.safetensors"
  names+=("s5_qs5 qs5_w8a8")
fi
if [[ -z $py ]]; then
  echo "   (PyTorch peer skipped: python3-torch is not installed; run \`apt-get install python3-torch\`)"
  exit 0
fi
declare -A peer
repeat=$([[ $device == cpu ]] && echo 1 || echo 3)  # on a GPU the first run includes CUDA's start
for model in $(printf '%s\n' "${names[@]%% *}" | sort -u); do  # the models timed above
  line=$("$py" scripts/torch_peer.py --model $model --n "$n" --device "$device" --threads "$threads" --repeat "$repeat" 2>/dev/null)
  peer[$model]=$(grep -oE 'in [0-9.]+ s' <<<"$line" | cut -d' ' -f2)
  echo "   $line"
done
for name in "${names[@]}"; do
  awk -v a="${peer[${name%% *}]}" -v b="${secs[$name]}" -v p="$name" 'BEGIN { printf "   peer / ssmsim (%s): %.2fx\n", p, a / b }'
done
