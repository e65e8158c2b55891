// A small task that needs memory, for learning and determinism tests: which of 4 time windows
// holds a pulse, in Gaussian noise. Answering it means carrying where the pulse was to the end.
#pragma once

#include <random>

#include "ssm_core/model.hpp"
#include "ssm_core/sequences.hpp"
#include "ssm_core/trainer.hpp"

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

// The pulse task as a workload: n_train / n_val / n_test sequences of 64 steps, 4 classes.
inline core::Workload pulse_workload(uint64_t seed, size_t n_train = 1024, size_t n_val = 128, size_t n_test = 256) {
  std::mt19937_64 rng(seed);
  core::Workload w;
  w.name = "pulse";
  w.num_classes = 4;
  w.train = pulse_set(n_train, 64, rng);
  w.val = pulse_set(n_val, 64, rng);
  w.test = pulse_set(n_test, 64, rng);
  return w;
}

// A small S4D classifier for it (H = 8, N = 16, last-step pooling).
inline core::ModelConfig pulse_model() {
  core::ModelConfig c;
  c.d_input = 1;
  c.d_output = 4;
  c.H = 8;
  c.N = 16;
  c.pooling = core::Pooling::Last;
  c.dt_min = 0.01;
  c.dt_max = 0.1;
  return c;
}

// The recipe that learns the pulse task in seconds: batch 32, lr 0.01, SSM lr 0.005, seed 3.
inline core::TrainConfig pulse_recipe(size_t epochs) {
  core::TrainConfig cfg;
  cfg.epochs = epochs;
  cfg.batch_size = 32;
  cfg.lr = 0.01;
  cfg.ssm_lr = 0.005;
  cfg.seed = 3;
  return cfg;
}

// Trains a freshly initialised model (seeded by cfg.seed).
inline core::TrainState train_fresh(const core::Model& model, const core::TrainConfig& cfg, const core::Workload& w) {
  core::TrainState st;
  const auto p = model.init(cfg.seed);
  st.params.assign(p.begin(), p.end());
  return core::train(model, cfg, w, st, {});
}

}  // namespace ssmsim::testing
