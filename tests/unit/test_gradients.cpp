// Finite-difference gradient checks in double precision: every parameter of small S4D models,
// across every architecture option (mixing variant, pre/post norm, ZOH/bilinear, pooling,
// dropout with a fixed seed), including the complex parameters and the discretization chain.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ssm_core/model.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;

namespace {

struct Case {
  std::string name;
  ModelConfig config;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  ModelConfig base;
  base.d_input = 2;
  base.d_output = 3;
  base.H = 4;
  base.N = 6;
  base.n_layers = 2;
  out.push_back({"postnorm_glu_zoh_mean", base});
  ModelConfig c = base;
  c.prenorm = true;
  c.discretization = Discretization::Bilinear;
  out.push_back({"prenorm_glu_bilinear", c});
  c = base;
  c.mixing = Mixing::HalfGlu1;
  c.pooling = Pooling::Last;
  c.init = S4DInit::Inv;
  out.push_back({"half_glu1_last_inv", c});
  c = base;
  c.mixing = Mixing::HalfGlu2;
  c.prenorm = true;
  out.push_back({"half_glu2_prenorm", c});
  c = base;
  c.mixing = Mixing::Gelu;
  c.dropout = 0.3;
  out.push_back({"gelu_dropout", c});
  c = base;
  c.task = Task::Regress;
  c.target_length = 5;
  c.d_output = 2;
  out.push_back({"regress_last_5_steps", c});
  return out;
}

class GradientCheck : public ::testing::TestWithParam<Case> {};

double loss_of(const Model& m, const std::vector<double>& p, const Chunk& chunk, uint64_t seed,
               Workspace<double>& ws, std::vector<double>* grad) {
  Model::Prepared<double> prep;
  m.prepare(p.data(), prep);
  return m.run_chunk(p.data(), prep, chunk, seed, grad ? grad->data() : nullptr, ws).loss;
}

}  // namespace

TEST_P(GradientCheck, EveryParameterMatchesCentralDifferences) {
  const Case& k = GetParam();
  const Model model(k.config);
  auto rng = ssmsim::testing::seeded_rng(k.name);
  std::vector<double> p = model.init(rng());
  // move parameters off their symmetric initial values so no gradient is zero by symmetry
  std::normal_distribution<double> nd(0.0, 0.05);
  for (auto& v : p) v += nd(rng);

  const size_t L = 12;
  std::vector<std::vector<float>> x(kLanes, std::vector<float>(L * k.config.d_input));
  std::vector<std::vector<float>> y(kLanes, std::vector<float>(k.config.target_length * k.config.d_output));
  Chunk chunk;
  chunk.L = L;
  for (size_t l = 0; l < kLanes; ++l) {
    for (auto& v : x[l]) v = static_cast<float>(std::normal_distribution<double>(0, 1)(rng));
    if (l < 6) {  // two padding lanes
      chunk.x[l] = x[l].data();
      chunk.label[l] = static_cast<int32_t>(l % k.config.d_output);
      for (auto& v : y[l]) v = static_cast<float>(std::normal_distribution<double>(0, 1)(rng));
      if (k.config.task == Task::Regress) chunk.y[l] = y[l].data();
    }
  }
  const uint64_t seed = 1234;
  auto ws = make_workspace<double>();
  std::vector<double> grad(p.size(), 0.0);
  loss_of(model, p, chunk, seed, *ws, &grad);

  const double eps = 1e-6;
  for (const auto& info : model.layout().params()) {
    for (size_t j = 0; j < info.size; ++j) {
      const size_t i = info.offset + j;
      const double keep = p[i];
      p[i] = keep + eps;
      const double up = loss_of(model, p, chunk, seed, *ws, nullptr);
      p[i] = keep - eps;
      const double down = loss_of(model, p, chunk, seed, *ws, nullptr);
      p[i] = keep;
      const double fd = (up - down) / (2 * eps);
      const double tol = 1e-6 + 1e-5 * std::max(std::abs(fd), std::abs(grad[i]));
      EXPECT_NEAR(grad[i], fd, tol) << info.name << "[" << j << "]";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(S4DModels, GradientCheck, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.name; });
