// What the quantized-model unit tests start from (header-only: for tiers that link ssm_core): the
// embedded float checkpoint, a precision config of one width everywhere, and seeded stimulus of n
// sequences of L steps of one feature, uniform in [0, 1), every label 0.
#pragma once

#include <random>
#include <string>

#include "quant/precision.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/sequences.hpp"
#include "tests/support/testing.hpp"

namespace ssmsim::testing {

inline core::FloatCheckpoint embedded_checkpoint() {
  return core::load_checkpoint(source_dir() / "workloads/models/s4d_edge_smnist.safetensors");
}

// Every component at `bits` with the built-in quantizer defaults, biases at 32 bits.
inline quant::PrecisionConfig all_bits(int bits) {
  quant::PrecisionConfig p;
  quant::QuantizerSpec s;
  s.bits = bits;
  for (auto c : quant::all_components()) {
    auto sc = s;
    if (c == quant::Component::bias) sc.bits = 32;
    p.set_quantized(c, sc);
  }
  p.set_name("all" + std::to_string(bits));
  p.validate();
  return p;
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
