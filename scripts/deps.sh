#!/usr/bin/env bash
# Installs the Debian packages ssmsim needs, idempotently: it does nothing when all are present,
# runs `apt-get update` only when something is missing, and says what it installs.
# Usage: scripts/deps.sh [fuzz]
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config make
  libsystemc-dev          # SystemC 2.3 + TLM-2.0: hw_models, sim, and the sc_fixed oracle tests
  libeigen3-dev           # dense algebra in ssm_core
  libboost-dev            # Boost.Multiprecision: exact big-integer fallback and test oracles
  libboost-program-options-dev
  libfmt-dev
  libgtest-dev libgmock-dev
  libbenchmark-dev
  libyaml-cpp-dev
  nlohmann-json3-dev
  verilator               # hw_models/rtl: the Verilog lane and its testbench
  time                    # /usr/bin/time: peak memory in `make bench`
  python3                 # scripts/sweep_tables.py: the Markdown tables of docs/results.md
  chromium                # the report in a real browser (tests/e2e/test_report_browser.cpp)
  slurm-wlm munge         # sweep --slurm against a real single-node Slurm (tests/e2e/test_slurm_sweep.cpp)
  openmpi-bin libopenmpi-dev  # mpirun -n K ssmsim train|qat (tests/e2e/test_mpi_train.cpp)
)

# `scripts/deps.sh fuzz` (make fuzz) adds the libFuzzer toolchain: Debian's clang and its
# compiler-rt (libFuzzer, ASan, UBSan runtimes). Not needed by make test.
if [[ ${1:-} == fuzz ]]; then
  packages+=(clang libclang-rt-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "deps: these Debian packages are missing and this user cannot install them: ${missing[*]}" >&2
  echo "deps: as root, run: apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
