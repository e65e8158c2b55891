// The dynamical-system forecasting tasks (Lorenz, Mackey-Glass) and the regression metrics: the
// integrators against independent references and invariants, the forecast layout, determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/errors.hpp"
#include "tests/support/testing.hpp"
#include "workloads/dynamical.hpp"
#include "workloads/metrics.hpp"

namespace {

using namespace ssmsim::workloads;

Vec3 lorenz_at(Vec3 s, double h, size_t steps) {
  for (size_t i = 0; i < steps; ++i) s = lorenz_rk4_step(s, h);
  return s;
}

double distance(const Vec3& a, const Vec3& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) +
                   (a[2] - b[2]) * (a[2] - b[2]));
}

TEST(LorenzIntegrator, MatchesAnIndependentFineStepReferenceAtTimeOne) {
  // From (1, 1, 1) to t = 1: classical RK4 with h = 1e-4 written separately in Python (double);
  // halving its step changes it by under 1e-12.
  const Vec3 reference = {-9.378570010925, -8.357033788427, 29.362325337363};
  EXPECT_LT(distance(lorenz_at({1, 1, 1}, 0.01, 100), reference), 1e-4);
  EXPECT_LT(distance(lorenz_at({1, 1, 1}, 0.001, 1000), reference), 1e-8);
}

TEST(LorenzIntegrator, ConvergesAtFourthOrder) {
  // Successive differences between step h and h/2 shrink by 2^4 = 16 per halving (over half a
  // time unit, where the step sizes below are in the asymptotic regime).
  const Vec3 s0 = {-3.0, 4.0, 20.0};
  const Vec3 a = lorenz_at(s0, 0.01, 50), b = lorenz_at(s0, 0.005, 100),
             c = lorenz_at(s0, 0.0025, 200);
  const double ratio = distance(a, b) / distance(b, c);
  EXPECT_GT(ratio, 14.0);
  EXPECT_LT(ratio, 18.0);
}

TEST(LorenzIntegrator, KeepsTheSymmetryOfTheSystemExactly) {
  // (x, y, z) -> (-x, -y, z) maps solutions to solutions; negation is exact in floating point,
  // so the integrated trajectories mirror each other bit for bit.
  Vec3 p = {1.5, -2.25, 17.0}, q = {-1.5, 2.25, 17.0};
  for (int i = 0; i < 2000; ++i) {
    p = lorenz_rk4_step(p, 0.01);
    q = lorenz_rk4_step(q, 0.01);
    ASSERT_EQ(q[0], -p[0]);
    ASSERT_EQ(q[1], -p[1]);
    ASSERT_EQ(q[2], p[2]);
  }
}

TEST(LorenzIntegrator, StaysOnTheNonTrivialFixedPoint) {
  const double c = std::sqrt(8.0 / 3.0 * 27.0);
  const Vec3 fixed = {c, c, 27.0};
  EXPECT_LT(distance(lorenz_at(fixed, 0.01, 100), fixed), 1e-10);
}

TEST(LorenzWorkload, IsNormalisedAndSplitIntoHistoryAndForecast) {
  auto rng = ssmsim::testing::seeded_rng();
  const SequenceSet s = make_lorenz(100, rng());
  ASSERT_EQ(s.length, 200u);
  ASSERT_EQ(s.d_input, 3u);
  ASSERT_EQ(s.d_output, 3u);
  ASSERT_EQ(s.target_length, 100u);
  ASSERT_EQ(s.targets.size(), 100u * 100u * 3u);
  double sum[3] = {0, 0, 0}, sq[3] = {0, 0, 0};
  for (size_t i = 0; i < s.n; ++i)
    for (size_t t = 0; t < 100; ++t)
      for (size_t j = 0; j < 3; ++j) {
        EXPECT_EQ(s.input(i)[(100 + t) * 3 + j], 0.0f) << "the forecast steps are blank";
        const double v = s.target(i)[t * 3 + j];
        sum[j] += v;
        sq[j] += v * v;
      }
  for (size_t j = 0; j < 3; ++j) {
    const double mean = sum[j] / 10000, sd = std::sqrt(sq[j] / 10000 - mean * mean);
    EXPECT_NEAR(mean, 0.0, 0.35) << "coordinate " << j;
    EXPECT_NEAR(sd, 1.0, 0.3) << "coordinate " << j;
  }
}

TEST(LorenzWorkload, TargetsContinueTheInputTrajectory) {
  // A sequence twice as long from the same seed shows as input what the short one forecasts.
  auto rng = ssmsim::testing::seeded_rng();
  const uint64_t seed = rng();
  LorenzParams longer;
  longer.length = 400;
  const SequenceSet a = make_lorenz(5, seed), b = make_lorenz(5, seed, longer);
  for (size_t i = 0; i < 5; ++i)
    for (size_t k = 0; k < 200 * 3; ++k) {
      const float want = k < 100 * 3 ? a.input(i)[k] : a.target(i)[k - 100 * 3];
      ASSERT_EQ(b.input(i)[k], want) << "sequence " << i << " value " << k;
    }
}

std::vector<double> constant_history(double c, const MackeyGlassParams& p) {
  return std::vector<double>(static_cast<size_t>(std::lround(p.tau / p.h)) + 1, c);
}

TEST(MackeyGlassIntegrator, StaysExactlyOnTheFixedPointXEqualsOne) {
  // With beta / gamma = 2 and n = 10 the equilibrium is (beta/gamma - 1)^(1/n) = 1, and
  // beta * 1 / (1 + 1) - gamma * 1 is exactly 0 in floating point.
  const MackeyGlassParams p;
  for (double v : integrate_mackey_glass(constant_history(1.0, p), 2000, p)) ASSERT_EQ(v, 1.0);
}

TEST(MackeyGlassIntegrator, StaysBoundedAndPositiveOnALongRun) {
  const MackeyGlassParams p;
  const auto x = integrate_mackey_glass(constant_history(0.5, p), 50000, p);
  double lo = 10, hi = -10;
  for (size_t i = 5000; i < x.size(); ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  EXPECT_GT(lo, 0.2);
  EXPECT_LT(hi, 1.5);
  EXPECT_GT(hi - lo, 0.5) << "the tau = 17 system oscillates chaotically, not to a constant";
}

TEST(MackeyGlassIntegrator, ConvergesAtSecondOrderAndIsAccurateAtTheDefaultStep) {
  // RK4 with the delayed term interpolated linearly at the half step: second order overall, so
  // the largest difference over 50 time units shrinks by 2^2 = 4 per halving of h.
  MackeyGlassParams coarse, fine, finer;
  fine.h = 0.05;
  finer.h = 0.025;
  const auto a = integrate_mackey_glass(constant_history(0.8, coarse), 500, coarse);
  const auto b = integrate_mackey_glass(constant_history(0.8, fine), 1000, fine);
  const auto c = integrate_mackey_glass(constant_history(0.8, finer), 2000, finer);
  double ab = 0, bc = 0;
  for (size_t k = 0; k < 500; ++k) {
    ab = std::max(ab, std::fabs(a[k] - b[2 * k + 1]));
    bc = std::max(bc, std::fabs(b[2 * k + 1] - c[4 * k + 3]));
  }
  EXPECT_LT(ab, 1e-5) << "the default step h = 0.1 is accurate to about 4e-6";
  EXPECT_GT(ab / bc, 3.5);
  EXPECT_LT(ab / bc, 4.5);
}

TEST(MackeyGlassIntegrator, RejectsADelayOffTheGridAndAShortHistory) {
  MackeyGlassParams p;
  p.h = 0.3;
  EXPECT_THROW(integrate_mackey_glass(std::vector<double>(58, 1.0), 10, p), ssmsim::InputError);
  const MackeyGlassParams q;
  EXPECT_THROW(integrate_mackey_glass(std::vector<double>(10, 1.0), 10, q), ssmsim::InputError);
}

TEST(MackeyGlassWorkload, IsDeterministicBoundedAndSplitIntoHistoryAndForecast) {
  auto rng = ssmsim::testing::seeded_rng();
  const uint64_t seed = rng();
  const SequenceSet a = make_mackey_glass(20, seed), b = make_mackey_glass(20, seed);
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.targets, b.targets);
  ASSERT_EQ(a.d_input, 1u);
  ASSERT_EQ(a.target_length, 100u);
  for (size_t i = 0; i < a.n; ++i) {
    for (size_t t = 0; t < 100; ++t) {
      EXPECT_GT(a.input(i)[t], 0.2f);
      EXPECT_LT(a.input(i)[t], 1.5f);
      EXPECT_EQ(a.input(i)[100 + t], 0.0f);
      EXPECT_GT(a.target(i)[t], 0.2f);
      EXPECT_LT(a.target(i)[t], 1.5f);
    }
  }
  EXPECT_NE(a.inputs, make_mackey_glass(20, seed + 1).inputs);
}

TEST(RegressionMetrics, ComputeMseAndSmapeInPercentWithTheZeroGuard) {
  const float pred[] = {1.0f, 2.0f, 0.0f, -1.0f};
  const float target[] = {1.0f, 1.0f, 0.0f, 1.0f};
  EXPECT_DOUBLE_EQ(mse(pred, target, 4), (0.0 + 1.0 + 0.0 + 4.0) / 4);
  // terms: 0, |2-1|/1.5, 0 (both zero: guarded), |-1-1|/1 = 2
  EXPECT_DOUBLE_EQ(smape(pred, target, 4), 100.0 * (0.0 + 1.0 / 1.5 + 0.0 + 2.0) / 4);
  EXPECT_DOUBLE_EQ(smape(pred, pred, 4), 0.0);
  EXPECT_DOUBLE_EQ(mse(pred, target, 0), 0.0);
  EXPECT_DOUBLE_EQ(smape(pred, target, 0), 0.0);
}

}  // namespace
