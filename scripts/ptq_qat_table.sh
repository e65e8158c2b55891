#!/usr/bin/env bash
# PTQ against QAT for precision configs on one float checkpoint: for each config, the footprint
# against float32 (`ssmsim info`), the integer C-model accuracy after PTQ and after QAT (the best
# QAT epoch by validation), on the sMNIST test set. Prints a Markdown table (docs/results.md holds
# its outputs with the commands).
#
#   scripts/ptq_qat_table.sh --ckpt F --precisions "w8a8_state8 a8_rest4" [--epochs N] [--limit N]
#                            [--threads N] [--set key=value ...]      (--set goes to qat)
#                            [--keep PREFIX]   (keeps each QAT model as PREFIX<precision>_qat.safetensors)
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt="" precisions="" epochs=1 limit=0 threads=0 sets=() keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ckpt) ckpt=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) echo "usage: $0 --ckpt F --precisions \"P1 P2\" [--epochs N] [--limit N] [--threads N] [--set k=v] [--keep PREFIX]" >&2; exit 2 ;;
  esac
done
[ -n "$ckpt" ] && [ -n "$precisions" ] || { echo "error: give --ckpt and --precisions (names in configs/precision/)" >&2; exit 2; }
bin=build/bin/ssmsim
[ -x "$bin" ] || { echo "error: $bin is missing; run \`make build\` first" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
acc() { grep -o 'accuracy [0-9.]*%' "$1" | head -1 | cut -d' ' -f2; }

float=$("$bin" eval --ckpt "$ckpt" --workload smnist --limit "$limit" --threads "$threads" 2>/dev/null | grep -o 'accuracy [0-9.]*%' | cut -d' ' -f2)
echo "float: $float (limit $limit; 0 = all 10,000 test sequences)" >&2
echo "| precision config | footprint vs float32 | PTQ | QAT ($epochs epoch(s)) |"
echo "|---|---|---|---|"
for p in $precisions; do
  cfg=configs/precision/$p.yaml
  "$bin" quantize --ckpt "$ckpt" --precision "$cfg" --out "$tmp/ptq.safetensors" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  foot=$("$bin" info --ckpt "$tmp/ptq.safetensors" | grep '^total' | sed -E 's/.*: ([0-9.]+x smaller) \(([0-9.]+% reduction)\)/\1 (\2)/')
  "$bin" eval --ckpt "$tmp/ptq.safetensors" --workload smnist --limit "$limit" --threads "$threads" >"$tmp/ptq.txt" 2>/dev/null
  echo "  $p: PTQ $(acc "$tmp/ptq.txt"); QAT running..." >&2
  "$bin" qat --ckpt "$ckpt" --precision "$cfg" --epochs "$epochs" --threads "$threads" "${sets[@]}" \
    --out "$tmp/qat.safetensors" >/dev/null 2>"$tmp/qat.log" || { cat "$tmp/qat.log" >&2; exit 1; }
  "$bin" eval --ckpt "$tmp/qat.safetensors" --workload smnist --limit "$limit" --threads "$threads" >"$tmp/qat.txt" 2>/dev/null
  echo "| \`$p\` | $foot | $(acc "$tmp/ptq.txt") | $(acc "$tmp/qat.txt") |"
  [ -z "$keep" ] || cp "$tmp/qat.safetensors" "${keep}${p}_qat.safetensors"
done
