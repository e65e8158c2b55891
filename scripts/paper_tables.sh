#!/usr/bin/env bash
# Issue 16's tables as sweeps with reports: `s4d` is the S4D paper's table on qssm_small
# (configs/sweeps/paper_s4d.yaml), `qs5` is Q-S5's sMNIST PTQ table on s5_qs5_smnist
# (configs/sweeps/paper_qs5.yaml), `qs5_gaps` is what that table's gaps are made of
# (configs/sweeps/paper_qs5_gaps.yaml). Runs the sweep into out/paper_<table> (continuing it when it was
# interrupted), then writes the report next to docs/results.md: docs/reports/paper_<table>.html
# and .md, and prints the Markdown table of every point.
#
#   scripts/paper_tables.sh s4d|qs5|qs5_gaps [--jobs N] [--limit N] [--out-dir D] [--report PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: $0 s4d|qs5|qs5_gaps [--jobs N] [--limit N] [--out-dir D] [--report PREFIX]"
table=${1:-}
case "$table" in
  s4d|qs5|qs5_gaps) shift ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
jobs=2 limit="" out=out/paper_$table report=docs/reports/paper_$table
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --out-dir) out=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    *) echo "error: unknown option '$1'; $usage" >&2; exit 2 ;;
  esac
done
bin=build/bin/ssmsim
[ -x "$bin" ] || { echo "error: $bin is missing; run \`make build\` first" >&2; exit 2; }
args=(sweep --spec "configs/sweeps/paper_$table.yaml" --out-dir "$out" --jobs "$jobs")
[ -n "$limit" ] && args+=(--limit "$limit")
[ -f "$out/results.jsonl" ] && args+=(--resume)
"$bin" "${args[@]}"
"$bin" report --in "$out" --out "$report"
python3 scripts/sweep_tables.py points "$out"
if [ "$table" = s4d ]; then echo; python3 scripts/sweep_tables.py sensitivity "$out"; fi
