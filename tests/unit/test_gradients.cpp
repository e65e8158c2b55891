// Finite-difference gradient checks in double precision: every parameter of small S4D models,
// across every architecture option (mixing variant, pre/post norm, ZOH/bilinear, pooling,
// dropout with a fixed seed), including the complex parameters and the discretization chain.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ssm_core/layers.hpp"
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
  c = base;
  c.norm = Norm::None;  // the S4D paper's model: no normalisation on either side
  out.push_back({"no_norm_glu", c});
  c.prenorm = true;
  c.mixing = Mixing::HalfGlu1;
  out.push_back({"no_norm_prenorm_half_glu1", c});
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

// The gradients with respect to the discretized coefficients (QAT's "discrete" and "polar"
// parameterisations learn from them) against central differences on the coefficients themselves.
TEST(CoeffGradients, LambdaBarAndBBarMatchCentralDifferences) {
  for (const LayerType layer : {LayerType::S4D, LayerType::S5}) {
    ModelConfig c;
    c.layer = layer;
    c.d_input = 2;
    c.d_output = 3;
    c.H = 3;
    c.N = 4;
    c.P = 4;
    c.n_layers = 2;
    c.prenorm = layer == LayerType::S5;
    const Model model(c);
    auto rng = ssmsim::testing::seeded_rng("coeff_grad");
    const std::vector<double> p = model.init(rng());
    const size_t L = 10;
    std::vector<std::vector<float>> x(kLanes, std::vector<float>(L * 2));
    Chunk ch;
    ch.L = L;
    for (size_t l = 0; l < 5; ++l) {
      for (auto& v : x[l]) v = static_cast<float>(std::normal_distribution<double>(0, 1)(rng));
      ch.x[l] = x[l].data();
      ch.label[l] = static_cast<int32_t>(l % 3);
    }
    Model::Prepared<double> prep;
    model.prepare(p.data(), prep);
    auto ws = make_workspace<double>();
    std::vector<double> grad(p.size(), 0.0);
    std::vector<CoeffGrad> cg(2);
    for (size_t i = 0; i < 2; ++i) {
      const size_t n = layer == LayerType::S5 ? prep.s5[i].P2 : prep.s4d[i].H * prep.s4d[i].N2;
      cg[i].lambda_bar.assign(n, 0.0);
      cg[i].b_bar.assign(layer == LayerType::S5 ? n * c.H : n, 0.0);
    }
    model.run_chunk(p.data(), prep, ch, 0, static_cast<double*>(nullptr), *ws);
    model.backward(p.data(), prep, ch, 0, *ws, grad.data(), &cg);
    auto loss = [&](const Model::Prepared<double>& pr) {
      return model.run_chunk(p.data(), pr, ch, 0, static_cast<double*>(nullptr), *ws).loss;
    };
    const double eps = 1e-6;
    size_t checked = 0;
    for (size_t i = 0; i < 2; ++i)
      for (size_t m = 0; m < cg[i].lambda_bar.size(); ++m)
        for (int part = 0; part < 2; ++part) {
          auto fd = [&](double* v) {
            const double keep = *v;
            *v = keep + eps;
            const double up = loss(prep);
            *v = keep - eps;
            const double down = loss(prep);
            *v = keep;
            return (up - down) / (2 * eps);
          };
          double* lam = layer == LayerType::S5 ? (part ? &prep.s5[i].Li[m] : &prep.s5[i].Lr[m])
                                               : (part ? &prep.s4d[i].Li[m] : &prep.s4d[i].Lr[m]);
          const double g_lam = part ? cg[i].lambda_bar[m].imag() : cg[i].lambda_bar[m].real();
          EXPECT_NEAR(g_lam, fd(lam), 1e-6 + 1e-5 * std::abs(g_lam)) << "lambda_bar layer " << i << " state " << m;
          // B_bar: S4D per state; S5 the first input channel's entry of the state's row
          double* bb = layer == LayerType::S5 ? &prep.s5[i].Wb[(2 * m + part) * c.H]
                                              : (part ? &prep.s4d[i].Bi[m] : &prep.s4d[i].Br[m]);
          const auto Gb = layer == LayerType::S5 ? cg[i].b_bar[m * c.H] : cg[i].b_bar[m];
          const double g_b = part ? Gb.imag() : Gb.real();
          EXPECT_NEAR(g_b, fd(bb), 1e-6 + 1e-5 * std::abs(g_b)) << "b_bar layer " << i << " state " << m;
          checked += 2;
        }
    EXPECT_GT(checked, 10u);
  }
}

// The distillation loss: at weight 0 it is the cross-entropy bit for bit; its gradient with
// respect to the logits matches central differences (padding lanes included: no loss, no
// gradient); it is smallest where the model's tempered softmax is the teacher's.
TEST(DistillLoss, IsTheCrossEntropyAtWeightZeroAndItsGradientMatchesCentralDifferences) {
  const size_t C = 5;
  std::mt19937_64 rng(2026);
  std::normal_distribution<double> nd(0.0, 2.0);
  std::vector<double> z(C * kLanes);
  for (auto& v : z) v = nd(rng);
  std::vector<std::vector<float>> t(kLanes, std::vector<float>(C));
  for (auto& lane : t)
    for (auto& v : lane) v = static_cast<float>(nd(rng));
  int32_t labels[kLanes];
  DistillTargets d;
  for (size_t l = 0; l < kLanes; ++l) {
    labels[l] = l + 2 < kLanes ? static_cast<int32_t>(l % C) : -1;  // two padding lanes
    if (labels[l] >= 0) d.teacher[l] = t[l].data();
  }
  std::vector<double> g0, g;
  size_t hits0 = 0, hits = 0;
  const double ce = softmax_xent(z, C, labels, g0, &hits0);
  EXPECT_EQ(distill_xent(z, C, labels, d, g, &hits), ce);
  EXPECT_EQ(g, g0);
  EXPECT_EQ(hits, hits0);

  for (const double weight : {0.5, 1.0})
    for (const double temperature : {1.0, 3.0}) {
      d.weight = weight;
      d.temperature = temperature;
      std::vector<double> scratch;
      distill_xent(z, C, labels, d, g, nullptr);
      for (size_t i = 0; i < z.size(); ++i) {
        const double keep = z[i], eps = 1e-6;
        z[i] = keep + eps;
        const double up = distill_xent(z, C, labels, d, scratch, nullptr);
        z[i] = keep - eps;
        const double down = distill_xent(z, C, labels, d, scratch, nullptr);
        z[i] = keep;
        EXPECT_NEAR(g[i], (up - down) / (2 * eps), 1e-6)
            << "logit " << i << " weight " << weight << " T " << temperature;
        if (labels[i % kLanes] < 0) EXPECT_EQ(g[i], 0.0);
      }
    }
  // weight 1: the loss is T^2 KL, zero (and flat) where the logits are the teacher's
  d.weight = 1;
  d.temperature = 2;
  for (size_t l = 0; l < kLanes; ++l)
    for (size_t c = 0; c < C && labels[l] >= 0; ++c) z[c * kLanes + l] = t[l][c];
  EXPECT_NEAR(distill_xent(z, C, labels, d, g, nullptr), 0.0, 1e-12);
  for (const double v : g) EXPECT_NEAR(v, 0.0, 1e-12);
}
