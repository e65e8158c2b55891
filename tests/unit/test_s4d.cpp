// The S4D layer against its defining formulas: initialisation, both discretizations, and the
// reference's convolution mode.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>

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
