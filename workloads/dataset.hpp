// Data sets and tasks by name. The sequence types are ssm_core's (ssm_core/sequences.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ssm_core/sequences.hpp"

namespace ssmsim::workloads {

using core::SequenceSet;
using core::TaskKind;
using core::Workload;

struct WorkloadOptions {
  uint64_t seed = 1;          // synthetic and dynamical data (not the fixed psMNIST permutation)
  std::string data_dir;       // MNIST cache: the folder with the four IDX files (or with a
                              // mnist/ subfolder holding them); empty: $SSMSIM_DATA, else
                              // <repo>/data/mnist (filled by `make data`)
  size_t train_size = 0;      // training sequences; 0 = the task's default (synthetic and
                              // dynamical tasks: 2000; smnist/psmnist: all 55000, the most allowed)
  size_t val_size = 0;        // smnist/psmnist: the first N of the 5000 validation sequences (0: all);
                              // quick QAT runs validate on fewer. 5001..10000: the last N images of
                              // the training file (train_size must leave them out)
};

// The workloads by name: smnist, psmnist, adding, recall, sines, lorenz, mackey_glass
// (docs/workloads.md: sources, shapes, splits, seeds, metrics).
// Throws ssmsim::InputError for an unknown name (listing the names) or missing/corrupt data
// (naming the file and the one command that fixes it).
Workload load_workload(const std::string& name, const WorkloadOptions& options = {});
std::vector<std::string> workload_names();

}  // namespace ssmsim::workloads
