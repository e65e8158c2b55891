// The fuzz targets' entry functions (docs/fuzzing.md): each feeds bytes to one of the loaders that
// read user files, exactly as the command line calls it, and returns normally when the loader
// accepts the bytes or refuses them with a typed input error (InputError and its subclasses,
// quant/errors.hpp). Anything else -- another exception, a crash, a sanitizer report, a hang -- is
// a finding. The libFuzzer programs (fuzz/fuzz_main.cpp) and the regression tests
// (fuzz/test_regressions.cpp) call the same functions, so a crashing input replays identically.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "quant/errors.hpp"

namespace ssmsim::fuzz {

using Entry = void (*)(const std::uint8_t* data, std::size_t size);

struct Target {
  std::string name;  // also the folder of its seed corpus (fuzz/corpus/NAME) and regressions
  Entry run;
};

// Every target, by name: safetensors, checkpoint, qmodel, precision, hw, model, sweep, mnist_idx,
// results, vectors_manifest, vectors_hex.
const std::vector<Target>& targets();
// The target called `name`; throws std::invalid_argument for an unknown one.
const Target& target(const std::string& name);

// Runs `load`; a typed input error is the loader doing its job and is swallowed, everything else
// (std::out_of_range, yaml-cpp's and nlohmann's exceptions, RunError...) propagates as a finding.
template <class F>
void refused_or_read(F&& load) {
  try {
    load();
  } catch (const InputError&) {
  }
}

// The repository the targets read their fixtures from (fuzz/fixtures, configs/); the working
// directory is set to it on first use so relative paths in inputs resolve as in the repo.
std::filesystem::path source_dir();

}  // namespace ssmsim::fuzz
