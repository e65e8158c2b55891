// Finite-difference gradient checks in double precision for S5 models: every parameter (the
// complex B and C, Lambda, log_step through both discretizations, D, the mixing, norms, encoder
// and decoder), across block counts, conjugate symmetry on and off, step_rescale, every mixing
// variant, pre/post norm, pooling and dropout with a fixed seed.
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
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
  base.layer = LayerType::S5;
  base.d_input = 2;
  base.d_output = 3;
  base.H = 4;
  base.P = 8;
  base.J = 1;
  base.n_layers = 2;
  base.prenorm = true;
  base.mixing = Mixing::HalfGlu1;
  out.push_back({"zoh_J1_prenorm_half_glu1", base});
  ModelConfig c = base;
  c.J = 2;
  c.discretization = Discretization::Bilinear;
  c.mixing = Mixing::HalfGlu2;
  out.push_back({"bilinear_J2_prenorm_half_glu2", c});
  c = base;
  c.J = 2;
  c.prenorm = false;
  c.mixing = Mixing::Glu;
  c.pooling = Pooling::Last;
  out.push_back({"zoh_J2_postnorm_glu_last", c});
  c = base;
  c.discretization = Discretization::Bilinear;
  c.mixing = Mixing::Glu;
  c.J = 2;
  out.push_back({"bilinear_J2_prenorm_glu", c});
  c = base;
  c.conj_sym = false;
  c.P = 6;
  c.J = 2;
  c.step_rescale = 2.0;
  c.mixing = Mixing::Gelu;
  c.dropout = 0.3;
  out.push_back({"no_conj_sym_rescaled_gelu_dropout", c});
  c = base;
  c.C_init = S5CInit::ComplexNormal;
  c.mixing = Mixing::HalfGlu2;
  c.prenorm = false;
  c.dropout = 0.2;
  out.push_back({"complex_normal_C_postnorm_half_glu2_dropout", c});
  c = base;
  c.norm = Norm::Batch;  // the Q-S5 sMNIST run's normalisation
  out.push_back({"batchnorm_prenorm_half_glu1", c});
  return out;
}

// gtest prints a failing case by its name
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class S5GradientCheck : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(S5GradientCheck, EveryParameterMatchesCentralDifferences) {
  ssmsim::testing::expect_gradients_match(GetParam().config, GetParam().name);
}

INSTANTIATE_TEST_SUITE_P(S5Models, S5GradientCheck, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.name; });
