// `ssmsim vectors` (docs/vectors.md): one sequence through the SystemC accelerator with every
// unit's inputs and outputs written as $readmemh hex files plus a JSON manifest, and the
// cross-check of such a folder against the integer C-model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "hw_models/hw_config.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/sequences.hpp"

namespace ssmsim::sim {

struct VectorOptions {
  std::filesystem::path out_dir;
  size_t index = 0;                  // the test-set sequence
  size_t step_begin = 0, step_end = 0;  // [begin, end) of the time steps; end 0: all
  std::set<std::string> units;       // host, mve, sfu, cmac, mem; empty: all
  std::string checkpoint, hw_file, workload;  // recorded in the manifest
};

// Exports the vectors; returns the number of files written.
size_t export_vectors(const core::QModel& model, const hw::HwConfig& hw, const core::SequenceSet& test,
                      const VectorOptions& options);

struct CheckResult {
  bool ok = true;
  size_t files = 0, values = 0;
  std::string first_mismatch;  // file, unit, layer, step, element, expected, found
};

// The manifest's source (docs/vectors.md): the checkpoint and hardware config it names, resolved
// against the vectors folder when relative and required to be regular files, and the workload.
// InputError naming the manifest key when a field is missing, of another type or not a file.
struct VectorSource {
  std::string checkpoint, hw, workload;
};
VectorSource vector_source(const std::filesystem::path& dir);

// Compares every file of the manifest with the C-model's values for the same sequence.
// `model` and `test` are what the manifest's source names (the caller loads them).
CheckResult check_vectors(const std::filesystem::path& dir, const core::QModel& model, const hw::HwConfig& hw,
                          const core::SequenceSet& test);

}  // namespace ssmsim::sim
