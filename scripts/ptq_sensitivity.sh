#!/usr/bin/env bash
# The S4D paper's PTQ sensitivity study on the embedded s4d_edge model and sMNIST: one component
# at a time at 16/8/6/4/2 bits, everything else at 16 bits (the integer model has no floating
# point; all16 is the near-lossless reference, shown in the first row), PTQ (maxabs, symmetric,
# per-tensor, dyadic scales), integer C-model accuracy on the sMNIST test set.
# Prints a Markdown table; docs/results.md holds its output with the command.
#
#   scripts/ptq_sensitivity.sh [--limit N] [--ckpt F] [--bits "16 8 6 4 2"]
set -euo pipefail
cd "$(dirname "$0")/.."
limit=0
ckpt=workloads/models/s4d_edge_smnist.safetensors
bits_list="16 8 6 4 2"
while [ $# -gt 0 ]; do
  case "$1" in
    --limit) limit=$2; shift 2 ;;
    --ckpt) ckpt=$2; shift 2 ;;
    --bits) bits_list=$2; shift 2 ;;
    *) echo "usage: $0 [--limit N] [--ckpt F] [--bits \"16 8 6 4 2\"]" >&2; exit 2 ;;
  esac
done
bin=build/bin/ssmsim
[ -x "$bin" ] || { echo "error: $bin is missing; run \`make build\` first" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# accuracy (percent) of an integer model made with the given component overrides
accuracy() {
  local name=$1 overrides=$2
  {
    echo "name: $name"
    echo "default: quantized"
    echo "defaults: {bits: 16, scheme: symmetric, granularity: per_tensor, scale: dyadic, scale_bits: 16, calibration: maxabs, rounding: half_even, overflow: saturate}"
    echo "components:"
    echo "  bias: {bits: 32}"
    [ -n "$overrides" ] && printf '%s\n' "$overrides"
  } > "$tmp/$name.yaml"
  "$bin" quantize --ckpt "$ckpt" --precision "$tmp/$name.yaml" --out "$tmp/$name.safetensors" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; exit 1; }
  "$bin" eval --ckpt "$tmp/$name.safetensors" --workload smnist --limit "$limit" --json "$tmp/$name.json" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; exit 1; }
  grep -o '"accuracy": *[0-9.e-]*' "$tmp/$name.json" | awk -F: '{printf "%.2f", 100 * $2}'
}

float_acc=$("$bin" eval --ckpt "$ckpt" --workload smnist --limit "$limit" 2>/dev/null | grep -o 'accuracy [0-9.]*' | cut -d' ' -f2)
echo "float: ${float_acc}%; everything at 16 bits: $(accuracy all16 "")%" >&2
header="| component |"; rule="|---|"
for b in $bits_list; do header="$header $b bits |"; rule="$rule---|"; done
echo "$header"
echo "$rule"
for comp in A B C D x activations; do
  row="| $comp |"
  for b in $bits_list; do
    if [ "$comp" = activations ]; then
      o="  ssm_in: {bits: $b}
  ssm_out: {bits: $b}
  act: {bits: $b}"
    else
      o="  $comp: {bits: $b}"
    fi
    row="$row $(accuracy "${comp}_$b" "$o") |"
    echo "  $comp at $b bits done" >&2
  done
  echo "$row"
done
echo >&2
echo "float ${float_acc}%, all16 (the reference row) as printed above; limit ${limit} (0 = the full 10,000)" >&2
