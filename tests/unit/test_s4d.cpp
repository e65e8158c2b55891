// The S4D layer against its defining formulas: initialisation, both discretizations, and the
// reference's convolution mode.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>

#include "quant/errors.hpp"
#include "ssm_core/model.hpp"
#include "ssm_core/s4d.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;
using cd = std::complex<double>;

namespace {

struct Layer {
  ParamLayout layout;
  S4DOffsets o;
  std::vector<double> p;
};

Layer make_layer(size_t H, size_t N2, S4DInit init, uint64_t seed) {
  Layer l;
  l.o = s4d_register(l.layout, "", H, N2);
  l.p.assign(l.layout.total(), 0.0);
  std::mt19937_64 rng(seed);
  s4d_init(l.o, init, 0.001, 0.1, rng, l.p.data());
  return l;
}

}  // namespace

TEST(S4D, InitialisationFollowsTheLinAndInvFormulas) {
  const size_t H = 3, N2 = 8;
  const Layer lin = make_layer(H, N2, S4DInit::Lin, 1);
  const Layer inv = make_layer(H, N2, S4DInit::Inv, 1);
  const double N = 2.0 * N2;
  for (size_t h = 0; h < H; ++h) {
    const double dt = std::exp(lin.p[lin.o.log_dt + h]);
    EXPECT_GE(dt, 0.001);
    EXPECT_LE(dt, 0.1);
    for (size_t n = 0; n < N2; ++n) {
      const size_t i = h * N2 + n;
      EXPECT_DOUBLE_EQ(-std::exp(lin.p[lin.o.log_A_real + i]), -0.5);
      EXPECT_DOUBLE_EQ(lin.p[lin.o.A_imag + i], M_PI * static_cast<double>(n));
      EXPECT_DOUBLE_EQ(inv.p[inv.o.A_imag + i], (N / M_PI) * (N / (2.0 * static_cast<double>(n) + 1.0) - 1.0));
    }
  }
}

TEST(S4D, DiscretizationsEqualTheirClosedForms) {
  const Layer l = make_layer(2, 4, S4DInit::Lin, 2);
  for (const Discretization d : {Discretization::Zoh, Discretization::Bilinear}) {
    S4DCoeffs<double> k;
    s4d_discretize(l.o, l.p.data(), d, k);
    for (size_t h = 0; h < 2; ++h)
      for (size_t n = 0; n < 4; ++n) {
        const size_t i = h * 4 + n;
        const double dt = std::exp(l.p[l.o.log_dt + h]);
        const cd A(-std::exp(l.p[l.o.log_A_real + i]), l.p[l.o.A_imag + i]);
        cd Lb, Bb;
        if (d == Discretization::Zoh) {
          Lb = std::exp(A * dt);
          Bb = (Lb - 1.0) / A;
          // ZOH is exact for a constant input over the step: B_bar = integral_0^dt exp(A s) ds
          const int M = 20000;
          cd integral = 0;
          for (int j = 0; j < M; ++j) integral += std::exp(A * (dt * (j + 0.5) / M)) * (dt / M);
          EXPECT_NEAR(std::abs(Bb - integral), 0.0, 1e-9);
        } else {
          Lb = (1.0 + dt / 2.0 * A) / (1.0 - dt / 2.0 * A);
          Bb = dt / (1.0 - dt / 2.0 * A);
        }
        EXPECT_NEAR(k.Lr[i], Lb.real(), 1e-15);
        EXPECT_NEAR(k.Li[i], Lb.imag(), 1e-15);
        EXPECT_NEAR(k.Br[i], Bb.real(), 1e-15);
        EXPECT_NEAR(k.Bi[i], Bb.imag(), 1e-15);
        EXPECT_LT(std::abs(Lb), 1.0);  // stable: Re A < 0
      }
  }
}

TEST(S4D, ConvolutionModeEqualsRecurrentMode) {
  const size_t H = 3, N2 = 6, L = 50;
  const Layer l = make_layer(H, N2, S4DInit::Inv, 3);
  auto rng = ssmsim::testing::seeded_rng();
  for (const Discretization d : {Discretization::Zoh, Discretization::Bilinear}) {
    S4DCoeffs<double> k;
    s4d_discretize(l.o, l.p.data(), d, k);
    Seq<double> u, y;
    u.resize(L, H);
    std::normal_distribution<double> nd(0, 1);
    for (auto& v : u.v) v = nd(rng);
    std::vector<double> states;
    s4d_forward(k, u, y, states);
    const std::vector<double> K = s4d_kernel(k, L);
    for (size_t h = 0; h < H; ++h)
      for (size_t lane = 0; lane < kLanes; ++lane)
        for (size_t t = 0; t < L; ++t) {
          double conv = k.D[h] * u.at(t, h)[lane];
          for (size_t s = 0; s <= t; ++s) conv += K[h * L + s] * u.at(t - s, h)[lane];
          EXPECT_NEAR(y.at(t, h)[lane], conv, 1e-10) << "h " << h << " t " << t;
        }
  }
}

// The FFT convolution mode of a whole model (two S4D layers, both discretizations, a partial
// chunk) gives the recurrent mode's outputs to float rounding, and the same predictions.
TEST(S4D, TheModelsConvolutionModeEqualsItsRecurrentMode) {
  auto rng = ssmsim::testing::seeded_rng("conv_mode");
  for (const Discretization d : {Discretization::Zoh, Discretization::Bilinear}) {
    ModelConfig c;
    c.d_input = 2;
    c.d_output = 4;
    c.H = 6;
    c.N = 16;
    c.n_layers = 2;
    c.discretization = d;
    c.task = Task::Regress;  // compare every output of the last steps, not just the argmax
    c.target_length = 30;
    const Model model(c);
    const auto p64 = model.init(rng());
    const std::vector<float> p(p64.begin(), p64.end());
    const size_t L = 300;
    std::vector<std::vector<float>> x(6, std::vector<float>(L * 2)), y(6, std::vector<float>(30 * 4, 0.f));
    std::normal_distribution<float> nd(0.f, 1.f);
    Chunk ch;
    ch.L = L;
    for (size_t l = 0; l < 6; ++l) {
      for (auto& v : x[l]) v = nd(rng);
      ch.x[l] = x[l].data();
      ch.y[l] = y[l].data();
    }
    Model::Prepared<float> rec, conv;
    model.prepare(p.data(), rec);
    model.prepare_conv(p.data(), L, conv);
    auto ws = make_workspace<float>();
    const ChunkResult a = model.run_chunk(p.data(), rec, ch, 0, static_cast<float*>(nullptr), *ws);
    const ChunkResult b = model.run_chunk(p.data(), conv, ch, 0, static_cast<float*>(nullptr), *ws);
    ASSERT_EQ(a.outputs.size(), 6u * 30 * 4);
    ASSERT_EQ(a.outputs.size(), b.outputs.size());
    double worst = 0, scale = 0;  // the largest difference against the outputs' scale
    for (size_t i = 0; i < a.outputs.size(); ++i) {
      worst = std::max(worst, std::abs(static_cast<double>(a.outputs[i]) - b.outputs[i]));
      scale = std::max(scale, std::abs(static_cast<double>(a.outputs[i])));
    }
    EXPECT_GT(scale, 0.1);
    EXPECT_LT(worst, 1e-5 * scale);
    std::vector<float> grad(p.size());
    EXPECT_THROW(model.run_chunk(p.data(), conv, ch, 1, grad.data(), *ws), std::logic_error);
  }
  ModelConfig s5;
  s5.layer = LayerType::S5;
  s5.d_input = 1;
  s5.d_output = 2;
  s5.H = 4;
  s5.P = 4;
  const Model m5(s5);
  const auto p5 = m5.init(1);
  Model::Prepared<double> prep;
  EXPECT_THROW(m5.prepare_conv(p5.data(), 10, prep), ssmsim::InputError);
}
