#!/usr/bin/env bash
# The speed-up of `mpirun -n K ssmsim train` over one rank, and the proof that the bits do not
# change: for each K, one epoch of MODEL on smnist (a training subset of TRAIN sequences; VAL
# sequences of validation and of test), THREADS threads per rank. Prints the epoch's training
# seconds (its "epoch 1/1" line), the rest of the run's wall seconds (start, data loading, the
# validation and test passes), the speed-up of each against the first row, and the checkpoint's
# SHA-256, which must be the same on every row.
#
# Usage: scripts/mpi_scaling.sh [RANKS...]     (default: 1 2 4 8)
# Environment: MODEL (configs/models/s5_qs5_smnist.yaml), TRAIN (2000), VAL (500), THREADS (1),
#              SSMSIM (ssmsim on PATH, else build/bin/ssmsim), MPIRUN_ARGS (extra mpirun flags).
set -euo pipefail

ranks=("$@")
[[ ${#ranks[@]} -gt 0 ]] || ranks=(1 2 4 8)
model=${MODEL:-configs/models/s5_qs5_smnist.yaml}
train=${TRAIN:-2000} val=${VAL:-500} threads=${THREADS:-1}
ssmsim=${SSMSIM:-$(command -v ssmsim || echo build/bin/ssmsim)}
# mpirun binds a rank to one core when there are at most two ranks: threads need room
bind=()
[[ $threads -gt 1 ]] && bind=(--bind-to none)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "model $model, $train training / $val validation sequences, $threads thread(s) per rank, $(nproc) cores"
printf '%5s %10s %8s %10s %8s  %s\n' ranks train_s speedup rest_s speedup sha256
base_train="" base_rest=""
for k in "${ranks[@]}"; do
  out=$work/k$k.safetensors
  start=$(date +%s%N)
  # shellcheck disable=SC2086
  mpirun --allow-run-as-root --oversubscribe "${bind[@]}" ${MPIRUN_ARGS:-} -n "$k" "$ssmsim" train --model "$model" \
    --workload smnist --epochs 1 --threads "$threads" --set data.train_size="$train" \
    --set data.val_size="$val" --set eval.limit="$val" --out "$out" >"$work/k$k.out" 2>"$work/k$k.err" ||
    { echo "mpi_scaling: $k ranks failed:" >&2; tail -5 "$work/k$k.err" >&2; exit 1; }
  wall=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN {print (b - a) / 1e9}')
  # "epoch 1/1: ..., 12.3 s (...": the training part of the epoch
  t=$(grep -o 'epoch 1/1: .*, [0-9.]* s (' "$work/k$k.err" | grep -o '[0-9.]* s ($' | cut -d' ' -f1)
  rest=$(awk -v w="$wall" -v t="$t" 'BEGIN {print w - t}')
  [[ -n $base_train ]] || { base_train=$t; base_rest=$rest; }
  awk -v k="$k" -v t="$t" -v r="$rest" -v bt="$base_train" -v br="$base_rest" -v h="$(sha256sum "$out" | cut -c1-16)" \
    'BEGIN {printf "%5s %10.1f %8.2f %10.1f %8.2f  %s\n", k, t, bt / t, r, br / r, h}'
done
