// Forecasting tasks on chaotic dynamical systems, as in Q-S5: the Lorenz system and the
// Mackey-Glass delay equation (docs/workloads.md). Each sequence of `length` samples is split in
// half: the input is the first half followed by zeros, the target is the second half
// (Regression, target_length = length/2, aligned to the last length/2 steps).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "workloads/dataset.hpp"

namespace ssmsim::workloads {

// ---------------------------------------------------------------------------------------------
// Lorenz: dx/dt = sigma (y - x), dy/dt = x (rho - z) - y, dz/dt = x y - beta z.

using Vec3 = std::array<double, 3>;

struct LorenzParams {
  double sigma = 10.0;
  double rho = 28.0;
  double beta = 8.0 / 3.0;
  double h = 0.01;              // RK4 step (time units)
  size_t substeps = 2;          // RK4 steps per sample: sample interval 0.02
  size_t burn_in_steps = 1000;  // RK4 steps from the random start before sampling (10 time units)
  size_t length = 200;          // samples per sequence (input 100 + forecast 100)
};

// Per-coordinate normalisation, (v - mean) / scale: the mean and standard deviation of x, y, z
// on the attractor (one trajectory of 10^6 RK4 steps of 0.01 after a burn-in, rounded).
inline constexpr Vec3 kLorenzMean = {0.0, 0.0, 23.5};
inline constexpr Vec3 kLorenzScale = {7.9, 9.0, 8.6};

Vec3 lorenz_derivative(const Vec3& s, const LorenzParams& p = {});
// One classical fourth-order Runge-Kutta step of size h.
Vec3 lorenz_rk4_step(const Vec3& s, double h, const LorenzParams& p = {});

// n sequences [n, length, 3] (normalised): random start x, y uniform in [-20, 20), z uniform in
// [0, 50), burn_in_steps RK4 steps, then `length` samples every `substeps` RK4 steps.
SequenceSet make_lorenz(size_t n, uint64_t seed, const LorenzParams& params = {});

// ---------------------------------------------------------------------------------------------
// Mackey-Glass: dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t).

struct MackeyGlassParams {
  double tau = 17.0;
  double beta = 0.2;
  double gamma = 0.1;
  double n = 10.0;
  double h = 0.1;               // RK4 step; tau / h must be a whole number
  size_t substeps = 10;         // RK4 steps per sample: sample interval 1.0
  size_t burn_in_steps = 5000;  // RK4 steps after the history before sampling (500 time units)
  size_t length = 200;          // samples per sequence (input 100 + forecast 100)
  double history_lo = 0.5;      // history: a constant c uniform in [history_lo, history_hi) ...
  double history_hi = 1.5;
  double history_jitter = 0.02;  // ... plus, per grid point, a value uniform in [-jitter, jitter)
};

// Integrates from `history` = x at t = -tau, -tau + h, ..., 0 (tau/h + 1 grid values) for
// `steps` RK4 steps and returns x at h, 2h, ..., steps*h. The delayed term is exact on the grid
// at the start and end of a step and linearly interpolated at the half step, which makes the
// scheme second order overall (at h = 0.1 it is within about 4e-6 of the h -> 0 limit over
// 50 time units; tests/unit/test_dynamical_workloads.cpp).
std::vector<double> integrate_mackey_glass(const std::vector<double>& history, size_t steps,
                                           const MackeyGlassParams& p = {});

// n sequences [n, length, 1] of raw x (no normalisation: on the attractor x stays in about
// [0.4, 1.35]).
SequenceSet make_mackey_glass(size_t n, uint64_t seed, const MackeyGlassParams& params = {});

// The registered workloads (split sizes and seeds as for the synthetic tasks).
Workload lorenz_workload(const WorkloadOptions& options);
Workload mackey_glass_workload(const WorkloadOptions& options);

}  // namespace ssmsim::workloads
