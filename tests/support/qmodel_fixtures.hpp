// What the quantized-model unit tests start from (header-only: for tiers that link ssm_core): the
// embedded float checkpoint, and seeded stimulus of n sequences of L steps of one feature, uniform
// in [0, 1), every label 0.
#pragma once

#include <random>

#include "ssm_core/checkpoint.hpp"
#include "ssm_core/sequences.hpp"
#include "tests/support/testing.hpp"

namespace ssmsim::testing {

inline core::FloatCheckpoint embedded_checkpoint() {
  return core::load_checkpoint(source_dir() / "workloads/models/s4d_edge_smnist.safetensors");
}

inline core::SequenceSet random_set(size_t n, size_t L, std::mt19937_64& rng) {
  core::SequenceSet s;
  s.n = n;
  s.length = L;
  s.d_input = 1;
  s.inputs.resize(n * L);
  s.labels.assign(n, 0);
  std::uniform_real_distribution<float> ud(0.f, 1.f);
  for (auto& v : s.inputs) v = ud(rng);
  return s;
}

}  // namespace ssmsim::testing
