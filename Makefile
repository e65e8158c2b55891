# ssmsim front door. Each target first installs what it needs (idempotently), so on a fresh
# machine `make demo` and `make test` are all the set-up there is.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
# A compiler cache, when installed, is used by every build folder (CMake reads this at configure):
# the sanitizer tier of `make test` rebuilds only what changed since the last run.
ifneq ($(shell command -v ccache),)
export CMAKE_CXX_COMPILER_LAUNCHER ?= ccache
endif
# The tiers `make asan-tiers` runs under ASan + UBSan (build-asan/): unit, component, and the fuzz
# regressions (docs/fuzzing.md). `make test` runs them after the release tiers.
ASAN_TARGETS := unit_tests component_tests fuzz_regression_tests
ASAN_LABELS := ^(unit|component|fuzz)$$

.PHONY: all deps data build test asan-tiers bench demo dev asan fuzz clean help

all: build

help:
	@echo "make demo   run the main job on the embedded default"
	@echo "make test   build and run every test (unit, oracle, component, end-to-end, fuzz regressions),"
	@echo "            then the unit, component and fuzz-regression tiers again under ASan + UBSan"
	@echo "make asan-tiers  the unit, component and fuzz-regression tiers under ASan + UBSan"
	@echo "make build  release build; the CLI is build/bin/ssmsim"
	@echo "make bench  benchmarks (speed targets are measured here, not in tests)"
	@echo "make deps   install the Debian packages the project needs"
	@echo "make data   fetch and verify MNIST into data/ (or \$$SSMSIM_DATA)"
	@echo "make dev    debug build with warnings as errors (build-dev/), and its tests"
	@echo "make asan   address + undefined-behaviour sanitizer build (build-asan/), and all its tests"
	@echo "make fuzz   libFuzzer programs (clang, build-fuzz/), each run FUZZ_SECONDS (default 60)"

deps:
	@scripts/deps.sh

data:
	@scripts/fetch_data.sh

# Configure once; afterwards ninja re-runs CMake by itself when a CMakeLists.txt changes.
build/build.ninja:
	cmake --preset release

build: deps build/build.ninja
	cmake --build --preset release -j $(JOBS)

# The MNIST tests fail (rather than skip) when the data is missing under `make test`. The release
# tiers first, then the sanitizer tier (its build starts only when the release tests pass).
test: build data
	SSMSIM_REQUIRE_DATA=1 ctest --test-dir build --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory asan-tiers

# The sanitizer tier: only the targets of those tiers are built.
asan-tiers: deps data
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS) --target $(ASAN_TARGETS)
	SSMSIM_REQUIRE_DATA=1 ctest --preset asan -L '$(ASAN_LABELS)' -j $(JOBS)

bench: build data
	@scripts/bench.sh

demo: build data
	@scripts/demo.sh

dev: deps data
	cmake --preset dev && cmake --build --preset dev -j $(JOBS) && SSMSIM_REQUIRE_DATA=1 ctest --preset dev -j $(JOBS)

asan: deps data
	cmake --preset asan && cmake --build --preset asan -j $(JOBS) && SSMSIM_REQUIRE_DATA=1 ctest --preset asan -j $(JOBS)

# FUZZ_SECONDS=600 make fuzz: ten minutes per target. Findings: build-fuzz/findings/ (docs/fuzzing.md).
fuzz:
	@scripts/deps.sh fuzz
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

clean:
	rm -rf build build-dev build-asan build-ci build-native build-fuzz
