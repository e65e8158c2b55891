// The data types training and evaluation consume: fixed-length sequences of float feature vectors
// with a class label (classification) or a target sequence (regression). They live here, below
// workloads/, which fills them (workloads/dataset.hpp re-exports them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ssmsim::core {

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

}  // namespace ssmsim::core
