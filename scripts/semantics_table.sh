#!/usr/bin/env bash
# What each quantization semantic buys and costs (issue 14; docs/results.md holds the output with
# this command): for every precision config given, PTQ of each checkpoint, the integer C-model's
# accuracy on the first N sMNIST test sequences, and the accelerator's cost from `simulate --json`
# on one hardware config (nJ/token, us/token, area, weight and state memory; the simulation also
# checks every sequence bit for bit against the C-model). Prints a Markdown table.
#
#   scripts/semantics_table.sh --configs "configs/precision/semantics/*.yaml" \
#       --ckpts "workloads/models/s4d_edge_smnist.safetensors" [--hw configs/hw/edge_minimal.yaml] \
#       [--limit 2000] [--sim-limit 1] [--threads N] [--sim-set hw.key=value ...]
# A model the hardware cannot hold (a state memory too small) gets the reason in its cost columns.
set -euo pipefail
cd "$(dirname "$0")/.."
configs="" ckpts="" hw=configs/hw/edge_minimal.yaml limit=2000 sim_limit=1 threads=0 sim_sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --configs) configs=$2; shift 2 ;;
    --ckpts) ckpts=$2; shift 2 ;;
    --hw) hw=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --sim-limit) sim_limit=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --sim-set) sim_sets+=(--set "$2"); shift 2 ;;
    *) echo "usage: $0 --configs \"A.yaml B.yaml\" --ckpts \"F1 F2\" [--hw H.yaml] [--limit N] [--sim-limit N] [--threads N]" >&2; exit 2 ;;
  esac
done
[ -n "$configs" ] && [ -n "$ckpts" ] || { echo "error: give --configs (precision YAMLs) and --ckpts (float checkpoints)" >&2; exit 2; }
bin=build/bin/ssmsim
[ -x "$bin" ] || { echo "error: $bin is missing; run \`make build\` first" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); v=d.get(sys.argv[2]); print('%s' % (sys.argv[3] % v if v is not None else '-'))" "$@"; }

header="| config | description |"
rule="|---|---|"
for c in $ckpts; do header+=" $(basename "$c" .safetensors) |"; rule+="---|"; done
echo "$header nJ/token | us/token | area mm2 | weight bits | state bits |"
echo "$rule---|---|---|---|---|"
for cfg in $configs; do
  name=$(basename "$cfg" .yaml)
  desc=$(grep -m1 '^description:' "$cfg" | sed 's/^description: *//; s/^"//; s/"$//')
  row="| \`$name\` | $desc |"
  cost="- | - | - | - | - |"
  first=1
  for ck in $ckpts; do
    if ! "$bin" quantize --ckpt "$ck" --precision "$cfg" --out "$tmp/q.safetensors" >"$tmp/q.log" 2>&1; then
      row+=" refused: $(tail -1 "$tmp/q.log" | sed 's/|/\\|/g') |"; continue
    fi
    "$bin" eval --ckpt "$tmp/q.safetensors" --workload smnist --limit "$limit" --threads "$threads" --json "$tmp/e.json" >/dev/null 2>&1
    row+=" $(json "$tmp/e.json" accuracy '%.4f' | python3 -c 'import sys; print("%.2f%%" % (100*float(sys.stdin.read())))') |"
    echo "  $name on $(basename "$ck"): done" >&2
    if [ $first = 1 ]; then  # the cost: on the first checkpoint's model
      first=0
      if ! "$bin" simulate --ckpt "$tmp/q.safetensors" --hw "$hw" --workload smnist --limit "$sim_limit" "${sim_sets[@]}" \
          --json "$tmp/s.json" >/dev/null 2>"$tmp/s.log"; then  # e.g. a state that does not fit the state memory
        cost="does not fit \`$(basename "$hw" .yaml)\`: $(tail -1 "$tmp/s.log" | sed 's/^ssmsim: //; s/|/\\|/g') | | | | |"
        continue
      fi
      cost="$(json "$tmp/s.json" energy_nj_per_token '%.3f') | $(json "$tmp/s.json" latency_us_per_token '%.3f') | $(json "$tmp/s.json" area_mm2 '%.4f') | $(json "$tmp/s.json" memory_bits '%d') | $(json "$tmp/s.json" state_bits '%d') |"
    fi
  done
  echo "$row $cost"
done
