#!/usr/bin/env bash
# Runs every libFuzzer program of build-fuzz/ (or those named as arguments) for FUZZ_SECONDS each
# (default 60), one after the other, from the committed seed corpus (fuzz/corpus/TARGET) plus a
# working corpus kept in build-fuzz/corpus/TARGET between runs. Crashing, leaking, timing-out
# (FUZZ_TIMEOUT seconds per input, default 10) or out-of-memory (FUZZ_RSS_MB, default 2048) inputs
# land in build-fuzz/findings/TARGET/; copy them to fuzz/regressions/TARGET/ so that `make test`
# replays them (docs/fuzzing.md). Prints one line per target: seconds, executions, findings;
# exits 1 when any target found something. FUZZ_FLAGS adds libFuzzer flags, e.g.
# FUZZ_FLAGS="-fork=1 -ignore_crashes=1" to keep going past a crash.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD:-build-fuzz}
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for b in "$build"/bin/fuzz_*; do targets+=("${b##*/fuzz_}"); done
fi
status=0
summary=()
for t in "${targets[@]}"; do
  bin=$build/bin/fuzz_$t
  [[ -x $bin ]] || { echo "fuzz: no $bin (make fuzz builds it)" >&2; exit 2; }
  work=$build/corpus/$t findings=$build/findings/$t log=$build/logs/$t.log
  mkdir -p "$work" "$findings" "$build/logs"
  echo "fuzz: $t for ${seconds} s (log: $log)"
  start=$(date +%s)
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$bin" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" \
    -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -print_final_stats=1 -artifact_prefix="$findings/" ${FUZZ_FLAGS:-} \
    "$work" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  # -fork=N prints no final stats: its last "#N: cov" line counts the executions
  [[ -z $execs ]] && execs=$(grep -o '^#[0-9]*: cov' "$log" | grep -o '[0-9]*' | tail -1)
  found=$(find "$findings" -type f | wc -l)
  summary+=("$(printf '%-18s %5d s %10s execs  %3d findings  (exit %d)' "$t" "$took" "${execs:-?}" "$found" "$rc")")
  [[ $rc -ne 0 || $found -ne 0 ]] && status=1
done
printf '%s\n' "fuzz: target              time      executions" "${summary[@]}"
exit $status
