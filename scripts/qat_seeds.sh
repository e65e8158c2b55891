#!/bin/bash
# QAT of one precision point under several seeds, and the model chosen by validation accuracy.
#
#   scripts/qat_seeds.sh OUT_DIR CKPT PRECISION EPOCHS "SEEDS" [qat options, e.g. --set k=v ...]
#
# Runs `ssmsim qat` once per seed into OUT_DIR/seed<N>/ (q.safetensors, its log), each keeping
# its best epoch by validation accuracy. A run stopped part-way (Ctrl-C, --time-limit in the
# options) continues from its saved state when the script is run again; a finished run is not
# run again. Then prints one row per seed (best validation, test of that model) and the choice:
# the highest validation accuracy, a tie going to the lower seed; its test accuracy is reported
# whatever it is, beside every seed's, their mean and spread. THREADS (default 2) threads a run;
# results do not depend on it. docs/results.md's 8x point was chosen this way.
set -euo pipefail
if [ $# -lt 5 ]; then
  sed -n 2,12p "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
out=$1 ckpt=$2 precision=$3 epochs=$4 seeds=$5
shift 5
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SSMSIM:-$root/build/bin/ssmsim}
[ -x "$bin" ] || { echo "qat_seeds: $bin is missing; build it with 'make test' (or set SSMSIM)" >&2; exit 2; }
finished() { grep -qs "^test accuracy" "$1"/log.*; }
for s in $seeds; do
  d=$out/seed$s
  mkdir -p "$d"
  if finished "$d"; then echo "seed $s: finished before"; continue; fi
  resume=()
  [ -f "$d/q.safetensors.state" ] && resume=(--resume)
  echo "seed $s: $epochs epochs -> $d/q.safetensors${resume:+ (resuming)}"
  # the progress line goes to the terminal, everything to the log
  "$bin" qat --ckpt "$ckpt" --precision "$precision" --epochs "$epochs" --threads "${THREADS:-2}" \
    --set run.seed="$s" "$@" --out "$d/q.safetensors" "${resume[@]}" 2>&1 | tee "$d/log.$(date +%s)" | tr '\r' '\n' |
    grep --line-buffered -E "^qat epoch [0-9]+/[0-9]+:|^test accuracy|stopped|rror" || true
  if ! finished "$d"; then
    tail -n 3 "$(ls -t "$d"/log.* | head -1)" | tr '\r' '\n' | tail -n 3 >&2
    echo "seed $s did not finish (its log: $d); fix what the lines above say, or if it was stopped, run the same command again to continue" >&2
    exit 1
  fi
done
echo
echo "| seed | best validation | test |"
echo "|---|---|---|"
rows=""
for s in $seeds; do
  line=$(grep -h "^test accuracy" "$out/seed$s"/log.* | tail -1)
  test=$(sed -E 's/^test accuracy ([0-9.]+)%.*/\1/' <<<"$line")
  val=$(sed -E 's/.*of the best QAT model \(val ([0-9.]+)%.*/\1/' <<<"$line")
  echo "| $s | $val% | $test% |"
  rows+="$s $val $test"$'\n'
done
# the choice: the highest validation, a tie to the lower seed
printf '%s' "$rows" | awk -v out="$out" '
  { n++; t += $3; if (n == 1 || $3 < lo) lo = $3; if (n == 1 || $3 > hi) hi = $3; if (n == 1 || $2 > cv || ($2 == cv && $1 < c)) { c = $1; cv = $2; ct = $3 } }
  END { printf "\nchosen by validation: seed %s (validation %.2f%%): test %.2f%%; test over the %d seeds: mean %.2f%%, %.2f-%.2f%%\n", c, cv, ct, n, t / n, lo, hi
        printf "model: %s/seed%s/q.safetensors\n", out, c }'
