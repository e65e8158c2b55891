// A small task that needs memory, for learning and determinism tests: which of 4 time windows
// holds a pulse, in Gaussian noise. Answering it means carrying where the pulse was to the end.
#pragma once

#include <random>

#include "ssm_core/sequences.hpp"

namespace ssmsim::testing {

inline core::SequenceSet pulse_set(size_t n, size_t L, std::mt19937_64& rng) {
  core::SequenceSet s;
  s.n = n;
  s.length = L;
  s.d_input = 1;
  s.inputs.resize(n * L);
  s.labels.resize(n);
  std::normal_distribution<float> noise(0.f, 0.2f);
  for (size_t i = 0; i < n; ++i) {
    const auto cls = static_cast<int32_t>(rng() % 4);
    s.labels[i] = cls;
    for (size_t t = 0; t < L; ++t) s.inputs[i * L + t] = noise(rng);
    const size_t at = static_cast<size_t>(cls) * (L / 4) + rng() % (L / 8);
    s.inputs[i * L + at] += 3.f;
  }
  return s;
}

}  // namespace ssmsim::testing
