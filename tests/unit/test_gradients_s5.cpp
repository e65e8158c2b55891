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
  return out;
}

// gtest prints a failing case by its name
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class S5GradientCheck : public ::testing::TestWithParam<Case> {};

double loss_of(const Model& m, const std::vector<double>& p, const Chunk& chunk, uint64_t seed,
               Workspace<double>& ws, std::vector<double>* grad) {
  Model::Prepared<double> prep;
  m.prepare(p.data(), prep);
  return m.run_chunk(p.data(), prep, chunk, seed, grad ? grad->data() : nullptr, ws).loss;
}

}  // namespace

TEST_P(S5GradientCheck, EveryParameterMatchesCentralDifferences) {
  const Case& k = GetParam();
  const Model model(k.config);
  auto rng = ssmsim::testing::seeded_rng(k.name);
  std::vector<double> p = model.init(rng());
  // move parameters off their initial values (zero biases, Lambda_re = -1/2 everywhere, unit norm
  // weights) so that no gradient vanishes by symmetry
  std::normal_distribution<double> nd(0.0, 0.05);
  for (auto& v : p) v += nd(rng);

  const size_t L = 12;
  std::vector<std::vector<float>> x(kLanes, std::vector<float>(L * k.config.d_input));
  Chunk chunk;
  chunk.L = L;
  for (size_t l = 0; l < kLanes; ++l) {
    for (auto& v : x[l]) v = static_cast<float>(std::normal_distribution<double>(0, 1)(rng));
    if (l < 6) {  // two padding lanes
      chunk.x[l] = x[l].data();
      chunk.label[l] = static_cast<int32_t>(l % k.config.d_output);
    }
  }
  const uint64_t seed = 1234;
  auto ws = make_workspace<double>();
  std::vector<double> grad(p.size(), 0.0);
  loss_of(model, p, chunk, seed, *ws, &grad);

  const double eps = 1e-6;
  size_t nonzero = 0;
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
      nonzero += std::abs(fd) > 1e-4;
    }
  }
  // the check is not vacuous: most parameters move the loss
  EXPECT_GT(nonzero, p.size() / 2);
}

INSTANTIATE_TEST_SUITE_P(S5Models, S5GradientCheck, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.name; });
