// The finite-difference gradient check of a whole model, in double: every parameter's analytic
// gradient (Model::run_chunk with a gradient buffer) against central differences, on a seeded
// chunk with two padding lanes, labels or regression targets, and dropout with a fixed seed.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ssm_core/model.hpp"
#include "tests/support/testing.hpp"

namespace ssmsim::testing {

inline double model_loss(const core::Model& m, const std::vector<double>& p, const core::Chunk& chunk,
                         uint64_t seed, core::Workspace<double>& ws, std::vector<double>* grad) {
  core::Model::Prepared<double> prep;
  m.prepare(p.data(), prep);
  return m.run_chunk(p.data(), prep, chunk, seed, grad ? grad->data() : nullptr, ws).loss;
}

inline void expect_gradients_match(const core::ModelConfig& config, const std::string& name) {
  using namespace core;

  const Model model(config);
  auto rng = seeded_rng(name);
  std::vector<double> p = model.init(rng());
  // move parameters off their symmetric initial values so no gradient is zero by symmetry
  std::normal_distribution<double> nd(0.0, 0.05);
  for (auto& v : p) v += nd(rng);

  const size_t L = 12;
  std::vector<std::vector<float>> x(kLanes, std::vector<float>(L * config.d_input));
  std::vector<std::vector<float>> y(kLanes, std::vector<float>(config.target_length * config.d_output));
  Chunk chunk;
  chunk.L = L;
  for (size_t l = 0; l < kLanes; ++l) {
    for (auto& v : x[l]) v = static_cast<float>(std::normal_distribution<double>(0, 1)(rng));
    if (l < 6) {  // two padding lanes
      chunk.x[l] = x[l].data();
      chunk.label[l] = static_cast<int32_t>(l % config.d_output);
      for (auto& v : y[l]) v = static_cast<float>(std::normal_distribution<double>(0, 1)(rng));
      if (config.task == Task::Regress) chunk.y[l] = y[l].data();
    }
  }
  const uint64_t seed = 1234;
  auto ws = make_workspace<double>();
  size_t nonzero = 0;
  std::vector<double> grad(p.size(), 0.0);
  model_loss(model, p, chunk, seed, *ws, &grad);

  const double eps = 1e-6;
  for (const auto& info : model.layout().params()) {
    for (size_t j = 0; j < info.size; ++j) {
      const size_t i = info.offset + j;
      const double keep = p[i];
      p[i] = keep + eps;
      const double up = model_loss(model, p, chunk, seed, *ws, nullptr);
      p[i] = keep - eps;
      const double down = model_loss(model, p, chunk, seed, *ws, nullptr);
      p[i] = keep;
      const double fd = (up - down) / (2 * eps);
      nonzero += std::abs(fd) > 1e-4;
      const double tol = 1e-6 + 1e-5 * std::max(std::abs(fd), std::abs(grad[i]));
      EXPECT_NEAR(grad[i], fd, tol) << info.name << "[" << j << "]";
    }
  }
  // the check is not vacuous: most parameters move the loss
  EXPECT_GT(nonzero, p.size() / 2);
}

}  // namespace ssmsim::testing
