#!/usr/bin/env bash
# The CTest RtlLane.PassesOnExportedVectorsAndFailsOnAFlippedBit (hw_models/rtl/CMakeLists.txt):
#   1. quantizes the shipped S4D and S5 sMNIST checkpoints with w8a8_state8, all16 and hetero_6x;
#   2. exports 64 steps from the middle of test sequence 0 (the digit, not the blank top rows, so the
#      state saturates) for each (`ssmsim vectors`, docs/vectors.md);
#   3. runs the tb_lane variant that matches each layer's x precision on every layer;
#   4. flips one bit of one line of a copy of L0_cmac_x_out.hex and requires the testbench to
#      exit 1 (the check can fail);
#   5. marks A in a copy's manifest as delta form, then as separate parts, and requires exit 2
#      with the key named (the lane has neither).
#
#   run_lane_tests.sh SSMSIM_BIN TB_DIR WORK_DIR         (run from the repository root)
#
# Exit 0 pass, 1 fail, 77 skip (MNIST missing and SSMSIM_REQUIRE_DATA is not 1).
set -uo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 SSMSIM_BIN TB_DIR WORK_DIR" >&2
  exit 1
fi
ssmsim=$1
tb_dir=$2
work=$3
repo=$(cd "$(dirname "$0")/../.." && pwd)

fail() {
  echo "RtlLane: FAIL: $*" >&2
  exit 1
}

# The MNIST files, where ssmsim looks for them (workloads/mnist.cpp: $SSMSIM_DATA, else
# <repo>/data/mnist; either may hold them in a mnist/ subfolder).
data=${SSMSIM_DATA:-$repo/data/mnist}
have_mnist() {
  local f
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [[ -f "$1/$f" ]] || return 1
  done
}
if ! have_mnist "$data" && ! have_mnist "$data/mnist"; then
  if [[ "${SSMSIM_REQUIRE_DATA:-}" == "1" ]]; then
    fail "MNIST is not in $data (SSMSIM_REQUIRE_DATA=1); run \`make data\`"
  fi
  echo "RtlLane: SKIP: MNIST is not in $data; run \`make data\` to fetch it"
  exit 77
fi

[[ -x "$ssmsim" ]] || fail "no ssmsim binary at $ssmsim"
rm -rf "$work"
mkdir -p "$work"

# The variant a layer's vectors need: tb_lane_x<width>_<rounding tag>_<overflow tag>
# (hw_models/rtl/CMakeLists.txt names them so).
variant_of() {  # manifest layer
  python3 - "$1" "$2" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
name = "L%s_cmac_x_out.hex" % sys.argv[2]
e = next(f for f in m["files"] if f["file"] == name)
r = {"floor": "floor", "toward_zero": "tz", "half_up": "hu", "half_down": "hd", "half_even": "he",
     "half_away": "ha", "half_toward_zero": "htz"}[e["rounding"]]
o = {"wrap": "wrap", "saturate": "sat", "saturate_symmetric": "satsym"}[e["overflow"]]
print("x%d_%s_%s" % (e["width"], r, o))
EOF
}

first=""
total=0
for model in s4d s5; do
  if [[ $model == s4d ]]; then
    ckpt=workloads/models/s4d_edge_smnist.safetensors
    hw=configs/hw/edge_minimal.yaml
  else
    ckpt=workloads/models/s5_small_smnist.safetensors
    hw=configs/hw/wide.yaml
  fi
  for precision in w8a8_state8 all16 hetero_6x; do
    q=$work/${model}_${precision}.safetensors
    vec=$work/${model}_${precision}_vectors
    "$ssmsim" quantize --ckpt "$ckpt" --precision "configs/precision/$precision.yaml" --calib 16 --out "$q" \
      > "$work/${model}_${precision}_quantize.log" 2>&1 ||
      { cat "$work/${model}_${precision}_quantize.log" >&2; fail "ssmsim quantize of $ckpt with $precision"; }
    "$ssmsim" vectors --ckpt "$q" --hw "$hw" --workload smnist --index 0 --out-dir "$vec" --steps 392:456 \
      > "$work/${model}_${precision}_vectors.log" 2>&1 ||
      { cat "$work/${model}_${precision}_vectors.log" >&2; fail "ssmsim vectors of $q on $hw"; }
    [[ -f "$vec/manifest.json" ]] || fail "ssmsim vectors wrote no $vec/manifest.json"
    layers=0
    while grep -q "\"L${layers}_cmac_x_out.hex\"" "$vec/manifest.json"; do
      variant=$(variant_of "$vec/manifest.json" "$layers") || fail "cannot read layer $layers of $vec/manifest.json"
      tb=$tb_dir/tb_lane_$variant
      [[ -x "$tb" ]] || fail "$model $precision layer $layers needs tb_lane_$variant, which is not built (hw_models/rtl/CMakeLists.txt)"
      "$tb" "$vec" "$layers" || fail "$model $precision layer $layers: tb_lane_$variant on $vec"
      layers=$((layers + 1))
      total=$((total + 1))
    done
    [[ $layers -gt 0 ]] || fail "$vec/manifest.json lists no L0_cmac_x_out.hex"
    [[ -n "$first" ]] || first=$vec
  done
done

# A flipped bit must be caught: bit 0 of the middle line of layer 0's x_out, in a copy.
bad=$work/flipped
cp -r "$first" "$bad"
line=$(python3 - "$bad/L0_cmac_x_out.hex" <<'EOF'
import sys
path = sys.argv[1]
lines = open(path).read().split("\n")
n = sum(1 for l in lines if l) // 2
lines[n] = lines[n][:-1] + "%x" % (int(lines[n][-1], 16) ^ 1)
open(path, "w").write("\n".join(lines))
print(n + 1)
EOF
) || fail "cannot flip a bit of $bad/L0_cmac_x_out.hex"
variant=$(variant_of "$bad/manifest.json" 0)
out=$("$tb_dir/tb_lane_$variant" "$bad" 0 2>&1)
rc=$?
echo "$out"
[[ $rc -eq 1 ]] || fail "tb_lane_$variant exited $rc on $bad (line $line of L0_cmac_x_out.hex flipped), expected 1"
grep -q "L0_cmac_x_out.hex, line $line:" <<< "$out" || fail "the mismatch report does not name line $line"

# A in delta form or with separate parts (docs/vectors.md) is refused with exit 2, naming the key:
# the same vectors with the manifest's A entry marked so.
for key in "form delta" "parts separate"; do
  set -- $key
  marked=$work/marked_$1
  cp -r "$first" "$marked"
  python3 - "$marked/manifest.json" "$1" "$2" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
next(f for f in m["files"] if f["file"] == "L0_cmac_a.hex")[sys.argv[2]] = sys.argv[3]
json.dump(m, open(sys.argv[1], "w"))
EOF
  variant=$(variant_of "$marked/manifest.json" 0)
  out=$("$tb_dir/tb_lane_$variant" "$marked" 0 2>&1)
  rc=$?
  [[ $rc -eq 2 ]] || fail "tb_lane_$variant exited $rc on vectors with A $1: $2, expected 2 (refused)"
  grep -q "A $1: $2" <<< "$out" || fail "the refusal of A $1: $2 does not name the key: $out"
done

echo "RtlLane: PASS: $total layers of 6 models match the lane; a flipped bit (line $line) fails as it should;" \
  "A in delta form and with separate parts are refused"
