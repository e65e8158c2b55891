#include "workloads/dynamical.hpp"

#include <cmath>
#include <string>

#include "quant/errors.hpp"
#include "workloads/rng.hpp"
#include "workloads/synthetic.hpp"

namespace ssmsim::workloads {

namespace {

// The forecasting layout: `series` holds length x d samples of one sequence; the input is its
// first half then zeros, the target its second half.
void store_forecast(SequenceSet& s, size_t i, const std::vector<float>& series) {
  const size_t d = s.d_input, half = s.length / 2;
  float* in = s.inputs.data() + i * s.length * d;
  float* tg = s.targets.data() + i * s.target_length * d;
  for (size_t t = 0; t < half * d; ++t) in[t] = series[t];
  for (size_t t = 0; t < s.target_length * d; ++t)
    tg[t] = series[(s.length - s.target_length) * d + t];
}

void shape_forecast(SequenceSet& s, size_t n, size_t length, size_t d) {
  if (length < 2) throw InputError("forecasting: length must be at least 2");
  s.n = n;
  s.length = length;
  s.d_input = d;
  s.d_output = d;
  s.target_length = length / 2;
  s.inputs.assign(n * length * d, 0.0f);
  s.targets.assign(n * s.target_length * d, 0.0f);
}

}  // namespace

Vec3 lorenz_derivative(const Vec3& s, const LorenzParams& p) {
  return {p.sigma * (s[1] - s[0]), s[0] * (p.rho - s[2]) - s[1], s[0] * s[1] - p.beta * s[2]};
}

Vec3 lorenz_rk4_step(const Vec3& s, double h, const LorenzParams& p) {
  auto axpy = [](const Vec3& x, double a, const Vec3& k) {
    return Vec3{x[0] + a * k[0], x[1] + a * k[1], x[2] + a * k[2]};
  };
  const Vec3 k1 = lorenz_derivative(s, p);
  const Vec3 k2 = lorenz_derivative(axpy(s, 0.5 * h, k1), p);
  const Vec3 k3 = lorenz_derivative(axpy(s, 0.5 * h, k2), p);
  const Vec3 k4 = lorenz_derivative(axpy(s, h, k3), p);
  Vec3 out{};
  for (size_t j = 0; j < 3; ++j)
    out[j] = s[j] + h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
  return out;
}

SequenceSet make_lorenz(size_t n, uint64_t seed, const LorenzParams& p) {
  if (p.substeps == 0 || !(p.h > 0)) throw InputError("lorenz: h and substeps must be positive");
  SequenceSet s;
  shape_forecast(s, n, p.length, 3);
  Rng rng(seed);
  std::vector<float> series(p.length * 3);
  for (size_t i = 0; i < n; ++i) {
    Vec3 v = {rng.uniform(-20.0, 20.0), rng.uniform(-20.0, 20.0), rng.uniform(0.0, 50.0)};
    for (size_t k = 0; k < p.burn_in_steps; ++k) v = lorenz_rk4_step(v, p.h, p);
    for (size_t t = 0; t < p.length; ++t) {
      for (size_t j = 0; j < 3; ++j)
        series[t * 3 + j] = static_cast<float>((v[j] - kLorenzMean[j]) / kLorenzScale[j]);
      for (size_t k = 0; k < p.substeps; ++k) v = lorenz_rk4_step(v, p.h, p);
    }
    store_forecast(s, i, series);
  }
  return s;
}

namespace {

size_t delay_steps(const MackeyGlassParams& p) {
  if (!(p.h > 0) || !(p.tau > 0)) throw InputError("mackey_glass: h and tau must be positive");
  const double ratio = p.tau / p.h;
  const double whole = std::round(ratio);
  if (whole < 1 || std::fabs(ratio - whole) > 1e-9 * ratio)
    throw InputError("mackey_glass: tau / h = " + std::to_string(ratio) +
                     " must be a whole number (the delayed value is read from the grid)");
  return static_cast<size_t>(whole);
}

}  // namespace

std::vector<double> integrate_mackey_glass(const std::vector<double>& history, size_t steps,
                                           const MackeyGlassParams& p) {
  const size_t D = delay_steps(p);
  if (history.size() != D + 1)
    throw InputError("mackey_glass: the history must hold tau/h + 1 = " + std::to_string(D + 1) +
                     " values, got " + std::to_string(history.size()));
  // x holds the whole grid from t = -tau: x[D] is t = 0; step i goes from x[D + i] to x[D + i + 1]
  // and reads the delayed values x[i] (t - tau) and x[i + 1] (t - tau + h). The delayed
  // feedback g(xd) = beta xd / (1 + xd^n) is evaluated once per grid point and once per half step.
  std::vector<double> x(history);
  x.reserve(D + 1 + steps);
  const auto whole_n = static_cast<unsigned>(p.n);
  const bool integer_n = p.n >= 1 && p.n <= 64 && static_cast<double>(whole_n) == p.n;
  auto g = [&p, whole_n, integer_n](double xd) {
    double xn = 1.0;
    if (integer_n) {
      // Exponentiation by squaring: faster than std::pow and, unlike it, the same bits with
      // every maths library (IEEE multiplication is exactly rounded).
      double base = xd;
      for (unsigned e = whole_n; e != 0; e >>= 1, base *= base)
        if (e & 1u) xn *= base;
    } else {
      xn = std::pow(xd, p.n);
    }
    return p.beta * xd / (1.0 + xn);
  };
  double g1 = g(x[0]);
  for (size_t i = 0; i < steps; ++i) {
    const double xt = x[D + i];
    const double g0 = g1;
    g1 = g(x[i + 1]);
    const double gm = g(0.5 * (x[i] + x[i + 1]));
    const double k1 = g0 - p.gamma * xt;
    const double k2 = gm - p.gamma * (xt + 0.5 * p.h * k1);
    const double k3 = gm - p.gamma * (xt + 0.5 * p.h * k2);
    const double k4 = g1 - p.gamma * (xt + p.h * k3);
    x.push_back(xt + p.h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4));
  }
  return std::vector<double>(x.begin() + static_cast<std::ptrdiff_t>(D + 1), x.end());
}

SequenceSet make_mackey_glass(size_t n, uint64_t seed, const MackeyGlassParams& p) {
  const size_t D = delay_steps(p);
  if (p.substeps == 0) throw InputError("mackey_glass: substeps must be positive");
  SequenceSet s;
  shape_forecast(s, n, p.length, 1);
  Rng rng(seed);
  std::vector<double> history(D + 1);
  std::vector<float> series(p.length);
  const size_t steps = p.burn_in_steps + (p.length - 1) * p.substeps;
  for (size_t i = 0; i < n; ++i) {
    const double c = rng.uniform(p.history_lo, p.history_hi);
    for (double& v : history) v = c + rng.uniform(-p.history_jitter, p.history_jitter);
    const std::vector<double> x = integrate_mackey_glass(history, steps, p);
    // x[k] is the value after k + 1 steps; sample t is after burn_in_steps + t * substeps steps.
    for (size_t t = 0; t < p.length; ++t) {
      const size_t k = p.burn_in_steps + t * p.substeps;
      series[t] = static_cast<float>(k == 0 ? history.back() : x[k - 1]);
    }
    store_forecast(s, i, series);
  }
  return s;
}

Workload lorenz_workload(const WorkloadOptions& options) {
  Workload w;
  w.name = "lorenz";
  w.kind = TaskKind::Regression;
  const LorenzParams p;
  fill_splits(w, options, [&](size_t n, uint64_t seed) { return make_lorenz(n, seed, p); });
  w.description =
      "Lorenz forecasting (sigma 10, rho 28, beta 8/3; RK4 h 0.01, sample every 0.02, burn-in 10): "
      "200 steps x 3 (normalised), input the first 100 then zeros, forecast the last 100; " +
      split_sizes_text(w) + "; seed " + std::to_string(options.seed);
  return w;
}

Workload mackey_glass_workload(const WorkloadOptions& options) {
  Workload w;
  w.name = "mackey_glass";
  w.kind = TaskKind::Regression;
  const MackeyGlassParams p;
  fill_splits(w, options, [&](size_t n, uint64_t seed) { return make_mackey_glass(n, seed, p); });
  w.description =
      "Mackey-Glass forecasting (tau 17, beta 0.2, gamma 0.1, n 10; RK4 h 0.1, sample every 1.0, "
      "burn-in 500): 200 steps x 1, input the first 100 then zeros, forecast the last 100; " +
      split_sizes_text(w) + "; seed " + std::to_string(options.seed);
  return w;
}

}  // namespace ssmsim::workloads
