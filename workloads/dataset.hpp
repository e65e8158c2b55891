// Data sets and tasks as the trainer and the evaluators see them: fixed-length sequences of
// float feature vectors with a class label (classification) or a target sequence (regression).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ssmsim::workloads {

enum class TaskKind { Classification, Regression };

// n sequences of `length` steps with `d_input` features each, row-major [n, length, d_input].
// Classification: labels[i] in [0, num_classes). Regression: targets [n, target_length,
// d_output], aligned with the LAST target_length steps of the input sequence (a forecasting
// model reads the history and is scored on the steps after it).
struct SequenceSet {
  size_t n = 0;
  size_t length = 0;
  size_t d_input = 0;
  std::vector<float> inputs;
  std::vector<int32_t> labels;
  size_t target_length = 0;
  size_t d_output = 0;
  std::vector<float> targets;

  const float* input(size_t i) const { return inputs.data() + i * length * d_input; }
  const float* target(size_t i) const { return targets.data() + i * target_length * d_output; }
};

struct Workload {
  std::string name;          // as given to load_workload
  std::string description;   // one line: source, split sizes, sequence shape
  TaskKind kind = TaskKind::Classification;
  size_t num_classes = 0;    // classification
  SequenceSet train, val, test;
};

struct WorkloadOptions {
  uint64_t seed = 1;          // synthetic and dynamical data (not the fixed psMNIST permutation)
  std::string data_dir;       // MNIST cache: the folder with the four IDX files (or with a
                              // mnist/ subfolder holding them); empty: $SSMSIM_DATA, else
                              // <repo>/data/mnist (filled by `make data`)
  size_t train_size = 0;      // training sequences; 0 = the task's default (synthetic and
                              // dynamical tasks: 2000; smnist/psmnist: all 55000, the most allowed)
};

// The workloads by name: smnist, psmnist, adding, recall, sines, lorenz, mackey_glass
// (docs/workloads.md: sources, shapes, splits, seeds, metrics).
// Throws ssmsim::InputError for an unknown name (listing the names) or missing/corrupt data
// (naming the file and the one command that fixes it).
Workload load_workload(const std::string& name, const WorkloadOptions& options = {});
std::vector<std::string> workload_names();

}  // namespace ssmsim::workloads
