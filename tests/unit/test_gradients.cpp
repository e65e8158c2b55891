// Finite-difference gradient checks in double precision: every parameter of small S4D models,
// across every architecture option (mixing variant, pre/post norm, ZOH/bilinear, pooling,
// dropout with a fixed seed), including the complex parameters and the discretization chain.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ssm_core/model.hpp"
#include "tests/support/gradient_check.hpp"

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
  c = base;
  c.norm = Norm::Batch;
  out.push_back({"batchnorm_postnorm", c});
  c = base;
  c.norm = Norm::Batch;
  c.prenorm = true;
  c.mixing = Mixing::HalfGlu1;
  c.dropout = 0.2;
  out.push_back({"batchnorm_prenorm_dropout", c});
  return out;
}

// gtest prints a failing case by its name
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class GradientCheck : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(GradientCheck, EveryParameterMatchesCentralDifferences) {
  ssmsim::testing::expect_gradients_match(GetParam().config, GetParam().name);
}

INSTANTIATE_TEST_SUITE_P(S4DModels, GradientCheck, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.name; });
