# ssmsim front door. Each target first installs what it needs (idempotently), so on a fresh
# machine `make demo` and `make test` are all the set-up there is.
SHELL := /bin/bash
JOBS ?= $(shell nproc)

.PHONY: all deps data build test bench demo dev asan clean help

all: build

help:
	@echo "make demo   run the main job on the embedded default"
	@echo "make test   build and run every test (unit, oracle, component, end-to-end)"
	@echo "make build  release build; the CLI is build/bin/ssmsim"
	@echo "make bench  benchmarks (speed targets are measured here, not in tests)"
	@echo "make deps   install the Debian packages the project needs"
	@echo "make data   fetch and verify MNIST into data/ (or \$$SSMSIM_DATA)"
	@echo "make dev    debug build with warnings as errors (build-dev/), and its tests"
	@echo "make asan   address + undefined-behaviour sanitizer build (build-asan/), and its tests"

deps:
	@scripts/deps.sh

data:
	@scripts/fetch_data.sh

# Configure once; afterwards ninja re-runs CMake by itself when a CMakeLists.txt changes.
build/build.ninja:
	cmake --preset release

build: deps build/build.ninja
	cmake --build --preset release -j $(JOBS)

# The MNIST tests fail (rather than skip) when the data is missing under `make test`.
test: build data
	SSMSIM_REQUIRE_DATA=1 ctest --test-dir build --output-on-failure -j $(JOBS)

bench: build data
	@scripts/bench.sh

demo: build data
	@scripts/demo.sh

dev: deps
	cmake --preset dev && cmake --build --preset dev -j $(JOBS) && ctest --preset dev -j $(JOBS)

asan: deps
	cmake --preset asan && cmake --build --preset asan -j $(JOBS) && ctest --preset asan -j $(JOBS)

clean:
	rm -rf build build-dev build-asan build-ci build-native
